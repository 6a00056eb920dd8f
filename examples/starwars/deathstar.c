/* SPDX-License-Identifier: Apache-2.0 */
/*
 * deathstar: the Star Wars demo's HTTP API, as in the paper's experiment.
 *
 *   GET  /v1                  the station's public data (JSON)
 *   POST /v1/request-landing  "Ship landed"
 *   PUT  /v1/exhaust-port     the design flaw: prints a panic and the process
 *                             exits ("Panic: deathstar exploded")
 *   anything else             404
 *
 * Every request is appended to an API log; with --ftp URL (repeatable) the
 * log is uploaded to each FTP server after every request and every
 * --upload-interval seconds (the demo's log servers; the egress policy
 * decides which of them the deathstar may reach). Uploads run in a child
 * process so a blocked upload never stalls the API.
 *
 * Usage: deathstar [--listen ADDR] [--port N] [--log FILE] [--ftp URL ...]
 *                  [--upload-interval S]
 *
 * A small single-threaded HTTP/1.1 server: one request per connection
 * read, keep-alive honoured, bodies of POST/PUT read and ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define MAX_FTP	    4
#define REQ_MAX	    8192
#define MAX_CLIENTS 64

static const char station[] =
	"{\"name\": \"Death Star\", \"model\": \"DS-1 Orbital Battle Station\", "
	"\"manufacturer\": \"Imperial Department of Military Research, Sienar Fleet Systems\", "
	"\"cost_in_credits\": \"1000000000000\", \"length\": \"120000\", \"crew\": \"342953\", "
	"\"passengers\": \"843342\", \"cargo_capacity\": \"1000000000000\", "
	"\"hyperdrive_rating\": \"4.0\", \"starship_class\": \"Deep Space Mobile Battlestation\", "
	"\"api\": [\"GET /v1\", \"POST /v1/request-landing\", \"PUT /v1/exhaust-port\"]}\n";

static const char panic_text[] = "Panic: deathstar exploded\n\n"
				 "goroutine 1 [running]:\n"
				 "main.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)\n"
				 "        /code/src/github.com/empire/deathstar/\n"
				 "        temp/main.go:9 +0x64\n"
				 "main.main()\n"
				 "        /code/src/github.com/empire/deathstar/\n"
				 "        temp/main.go:5 +0x85\n";

struct client {
	int fd;
	char buf[REQ_MAX];
	size_t len;
	struct sockaddr_in peer;
};

static const char *log_path = "/tmp/deathstar-api.log";
static const char *ftp_urls[MAX_FTP];
static int nftp;

static void api_log(const struct sockaddr_in *peer, const char *method, const char *path,
		    int status)
{
	char ts[32], addr[INET_ADDRSTRLEN];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f = fopen(log_path, "a");

	if (!f)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	inet_ntop(AF_INET, &peer->sin_addr, addr, sizeof(addr));
	fprintf(f, "%s %s %s %s %d\n", ts, addr, method, path, status);
	fclose(f);
}

/* Uploads the log to every FTP server, in a child, so the API never waits. */
static void upload_log(void)
{
	pid_t pid;
	int i;

	if (!nftp)
		return;
	pid = fork();
	if (pid != 0)
		return; /* parent (or fork failure: skip this round) */
	/* an upload blocked by policy must not outlive the deathstar */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	for (i = 0; i < nftp; i++) {
		CURL *c = curl_easy_init();
		FILE *f = fopen(log_path, "rb");
		CURLcode rc;

		if (!c || !f) {
			if (f)
				fclose(f);
			curl_easy_cleanup(c);
			continue;
		}
		curl_easy_setopt(c, CURLOPT_URL, ftp_urls[i]);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, f);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 3L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
		rc = curl_easy_perform(c);
		fprintf(stderr, "deathstar: log upload to %s: %s\n", ftp_urls[i],
			rc == CURLE_OK ? "ok" : curl_easy_strerror(rc));
		fclose(f);
		curl_easy_cleanup(c);
	}
	_exit(0);
}

static void respond(int fd, int status, const char *reason, const char *type, const char *body,
		    bool keep)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: %s\r\n\r\n",
			 status, reason, type, strlen(body), keep ? "keep-alive" : "close");
	ssize_t w = write(fd, head, (size_t)n);

	if (w == n)
		w = write(fd, body, strlen(body));
	(void)w;
}

/*
 * Handles one complete request at the head of c->buf. Returns the number of
 * bytes it used, 0 if more are needed, -1 to close the connection.
 */
static ssize_t handle(struct client *c)
{
	char method[16], path[1024], version[16];
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
	size_t head_len, body_len = 0;
	bool keep;

	if (!end)
		return c->len >= sizeof(c->buf) ? -1 : 0;
	head_len = (size_t)(end - c->buf) + 4;
	*end = '\0';
	if (sscanf(c->buf, "%15s %1023s %15s", method, path, version) != 3)
		return -1;
	cl = strcasestr(c->buf, "\r\ncontent-length:");
	if (cl)
		body_len = strtoul(cl + 17, NULL, 10);
	if (body_len > sizeof(c->buf) - head_len)
		return -1;
	if (c->len < head_len + body_len) {
		*end = '\r';
		return 0;
	}
	keep = !strcasestr(c->buf, "\r\nconnection: close") && !strcmp(version, "HTTP/1.1");
	if (!strcmp(method, "GET") && !strcmp(path, "/v1")) {
		respond(c->fd, 200, "OK", "application/json", station, keep);
		api_log(&c->peer, method, path, 200);
	} else if (!strcmp(method, "POST") && !strcmp(path, "/v1/request-landing")) {
		respond(c->fd, 200, "OK", "text/plain", "Ship landed\n", keep);
		api_log(&c->peer, method, path, 200);
	} else if (!strcmp(method, "PUT") && !strcmp(path, "/v1/exhaust-port")) {
		api_log(&c->peer, method, path, 503);
		respond(c->fd, 503, "Service Unavailable", "text/plain", panic_text, false);
		fputs(panic_text, stderr);
		exit(2);
	} else {
		respond(c->fd, 404, "Not Found", "text/plain", "Not found\n", keep);
		api_log(&c->peer, method, path, 404);
	}
	upload_log();
	return keep ? (ssize_t)(head_len + body_len) : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'L' },
		{ "ftp", required_argument, NULL, 'f' },
		{ "upload-interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct client clients[MAX_CLIENTS];
	struct pollfd pfd[MAX_CLIENTS + 1];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	int lfd, opt, one = 1, interval = 10, i;
	time_t last_upload = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (inet_pton(AF_INET, optarg, &sa.sin_addr) != 1) {
				fprintf(stderr, "deathstar: bad --listen %s\n", optarg);
				return 2;
			}
			break;
		case 'p':
			sa.sin_port = htons((uint16_t)atoi(optarg));
			break;
		case 'L':
			log_path = optarg;
			break;
		case 'f':
			if (nftp == MAX_FTP) {
				fprintf(stderr, "deathstar: at most %d --ftp\n", MAX_FTP);
				return 2;
			}
			ftp_urls[nftp++] = optarg;
			break;
		case 'i':
			interval = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: deathstar [--listen ADDR] [--port N] [--log FILE] "
					"[--ftp URL ...] [--upload-interval S]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* upload children are reaped automatically */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd == -1 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(lfd, 128) == -1) {
		perror("deathstar: listen");
		return 1;
	}
	fprintf(stderr, "deathstar: listening on port %d\n", ntohs(sa.sin_port));
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	for (;;) {
		int n = 1, k;

		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (i = 0; i < MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, 1000) == -1 && errno != EINTR)
			return 1;
		if (nftp && interval > 0 && time(NULL) - last_upload >= interval) {
			last_upload = time(NULL);
			upload_log();
		}
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);

			for (k = 0; fd != -1 && k < MAX_CLIENTS && clients[k].fd != -1; k++)
				;
			if (fd != -1 && k == MAX_CLIENTS)
				close(fd);
			else if (fd != -1) {
				clients[k].fd = fd;
				clients[k].len = 0;
				clients[k].peer = peer;
			}
		}
		for (i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			ssize_t r, used;

			if (c->fd == -1 || !(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			while ((used = handle(c)) > 0) {
				memmove(c->buf, c->buf + used, c->len - (size_t)used);
				c->len -= (size_t)used;
			}
			if (used < 0) {
				close(c->fd);
				c->fd = -1;
			}
		}
	}
}
