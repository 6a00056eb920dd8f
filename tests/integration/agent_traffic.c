// SPDX-License-Identifier: Apache-2.0
/*
 * agent_traffic: the traffic the agent tests send between endpoints (run
 * inside an endpoint with `velum endpoint exec`). Only addresses given on
 * the command line are contacted; the tests only give endpoint addresses.
 *
 *   serve PORT...                       TCP and UDP echo on each port; on
 *                                       SIGTERM prints what arrived, per
 *                                       source: "udp|tcp SRC PORT COUNT"
 *   probe tcp|udp ADDR PORT TIMEOUT_MS  one round trip; exit 0 if echoed
 *   flood tcp|udp ADDR PORT RATE SECS   RATE new flows a second (every UDP
 *                                       datagram and TCP connection from a
 *                                       new source port, so each one is a new
 *                                       flow the policy decides); prints
 *                                       "sent N ok M fail K" (UDP: ok = sent)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define MAX_SRC	  64
#define MAX_PEND  4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct count {
	char proto[4];
	in_addr_t src;
	unsigned short port;
	long n;
};

static struct count counts[MAX_SRC * MAX_PORTS * 2];
static int ncounts;

static void bump(const char *proto, in_addr_t src, unsigned short port)
{
	int i;

	for (i = 0; i < ncounts; i++)
		if (counts[i].src == src && counts[i].port == port &&
		    !strcmp(counts[i].proto, proto)) {
			counts[i].n++;
			return;
		}
	if (ncounts < (int)(sizeof(counts) / sizeof(counts[0]))) {
		snprintf(counts[ncounts].proto, sizeof(counts[0].proto), "%s", proto);
		counts[ncounts].src = src;
		counts[ncounts].port = port;
		counts[ncounts++].n = 1;
	}
}

static int serve(int argc, char **argv)
{
	struct pollfd pfd[2 * MAX_PORTS + MAX_PEND];
	unsigned short ports[2 * MAX_PORTS + MAX_PEND];
	int nfd = 0, one = 1, i;
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (i = 0; i < argc && i < MAX_PORTS; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((unsigned short)atoi(argv[i])) };
		int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int rcv = 4 << 20;

		setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		if (t < 0 || u < 0 || bind(t, (void *)&a, sizeof(a)) || listen(t, 1024) ||
		    bind(u, (void *)&a, sizeof(a))) {
			perror("agent_traffic serve");
			return 1;
		}
		ports[nfd] = ntohs(a.sin_port);
		pfd[nfd++] = (struct pollfd){ .fd = t, .events = POLLIN };
		ports[nfd] = ntohs(a.sin_port);
		pfd[nfd++] = (struct pollfd){ .fd = u, .events = POLLIN };
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		int nlisten = 2 * (argc < MAX_PORTS ? argc : MAX_PORTS);

		if (poll(pfd, (nfds_t)nfd, 200) <= 0)
			continue;
		for (i = 0; i < nfd; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			char buf[2048];
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (i < nlisten && i % 2 == 0) {
				int c;

				while ((c = accept4(pfd[i].fd, (void *)&from, &fl,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					bump("tcp", from.sin_addr.s_addr, ports[i]);
					if (nfd < (int)(sizeof(pfd) / sizeof(pfd[0]))) {
						ports[nfd] = ports[i];
						pfd[nfd++] = (struct pollfd){ .fd = c,
									      .events = POLLIN };
					} else {
						close(c);
					}
					fl = sizeof(from);
				}
			} else if (i < nlisten) {
				while ((r = recvfrom(pfd[i].fd, buf, sizeof(buf), 0, (void *)&from,
						     &fl)) >= 0) {
					bump("udp", from.sin_addr.s_addr, ports[i]);
					sendto(pfd[i].fd, buf, (size_t)r, MSG_DONTWAIT,
					       (void *)&from, fl);
					fl = sizeof(from);
				}
			} else {
				r = recv(pfd[i].fd, buf, sizeof(buf), 0);
				if (r > 0) {
					if (send(pfd[i].fd, buf, (size_t)r, MSG_NOSIGNAL) < 0)
						r = 0;
				}
				if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
					close(pfd[i].fd);
					pfd[i] = pfd[nfd - 1];
					ports[i] = ports[nfd - 1];
					nfd--;
					i--;
				}
			}
		}
	}
	for (i = 0; i < ncounts; i++) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &counts[i].src, a, sizeof(a));
		printf("%s %s %u %ld\n", counts[i].proto, a, counts[i].port, counts[i].n);
	}
	return 0;
}

static int parse_dst(const char *addr, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)atoi(port));
	return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

static int probe(const char *proto, struct sockaddr_in *dst, int timeout_ms)
{
	bool tcp = !strcmp(proto, "tcp");
	int fd =
		socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p = { .fd = fd };
	char buf[16];
	int err = 0;
	socklen_t el = sizeof(err);

	if (fd < 0)
		return 1;
	if (connect(fd, (void *)dst, sizeof(*dst)) && errno != EINPROGRESS)
		return 1;
	if (tcp) {
		p.events = POLLOUT;
		if (poll(&p, 1, timeout_ms) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err)
			return 1;
	}
	if (send(fd, "ping", 4, MSG_NOSIGNAL) != 4)
		return 1;
	p.events = POLLIN;
	if (poll(&p, 1, timeout_ms) != 1 || recv(fd, buf, sizeof(buf), 0) != 4)
		return 1;
	close(fd);
	return 0;
}

struct pend {
	int fd;
	long long deadline;
};

static int flood(const char *proto, struct sockaddr_in *dst, int rate, int secs)
{
	bool tcp = !strcmp(proto, "tcp");
	static struct pend pend[MAX_PEND];
	static struct pollfd pfd[MAX_PEND];
	long long start = now_ms(), end = start + secs * 1000LL, next = start;
	long sent = 0, ok = 0, failed = 0;
	int npend = 0, i;
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop && (now_ms() < end || npend)) {
		long long t = now_ms();
		int wait;

		while (t < end && t >= next && npend < MAX_PEND) {
			int fd = socket(
				AF_INET,
				(tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			next += 1000 / rate ? 1000 / rate : 1;
			if (fd < 0)
				continue;
			sent++;
			if (!tcp) {
				char msg[32];
				int len = snprintf(msg, sizeof(msg), "%ld", sent);

				if (sendto(fd, msg, (size_t)len, 0, (void *)dst, sizeof(*dst)) ==
				    len)
					ok++;
				else
					failed++;
				close(fd);
				continue;
			}
			if (connect(fd, (void *)dst, sizeof(*dst)) && errno != EINPROGRESS) {
				failed++;
				close(fd);
				continue;
			}
			pend[npend] = (struct pend){ fd, t + 1500 };
			pfd[npend++] = (struct pollfd){ .fd = fd, .events = POLLOUT };
		}
		wait = (int)(next - now_ms());
		if (wait < 0)
			wait = 0;
		if (wait > 50)
			wait = 50;
		if (npend)
			poll(pfd, (nfds_t)npend, wait);
		else if (wait)
			usleep((useconds_t)wait * 1000);
		t = now_ms();
		for (i = 0; i < npend; i++) {
			int err = 0;
			socklen_t el = sizeof(err);
			bool done = false;

			if (pfd[i].revents) {
				getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err)
					failed++;
				else
					ok++;
				done = true;
			} else if (t > pend[i].deadline) {
				failed++;
				done = true;
			}
			if (done) {
				close(pfd[i].fd);
				pend[i] = pend[npend - 1];
				pfd[i] = pfd[npend - 1];
				pfd[i].revents = 0;
				npend--;
				i--;
			}
		}
	}
	printf("sent %ld ok %ld fail %ld\n", sent, ok, failed);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve(argc - 2, argv + 2);
	if (argc == 6 && !strcmp(argv[1], "probe") && !parse_dst(argv[3], argv[4], &dst))
		return probe(argv[2], &dst, atoi(argv[5]));
	if (argc == 7 && !strcmp(argv[1], "flood") && !parse_dst(argv[3], argv[4], &dst) &&
	    atoi(argv[5]) > 0)
		return flood(argv[2], &dst, atoi(argv[5]), atoi(argv[6]));
	fprintf(stderr,
		"usage: agent_traffic serve PORT... | probe tcp|udp ADDR PORT TIMEOUT_MS |\n"
		"       flood tcp|udp ADDR PORT RATE SECONDS\n");
	return 2;
}
