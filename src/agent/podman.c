/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints a container runtime asked for through the CNI plugin: the checks
 * of their request fields (interface name, address, container id) and the
 * labels of podman containers.
 *
 * A runtime passes no labels through CNI, so such an endpoint starts with
 * the reserved:init identity. podman holds the container's lock while the
 * plugin runs, so asking podman during ADD would deadlock; instead the ADD
 * request may name the runtime ({"name": "podman", "env": [...]}) and this
 * file's worker thread asks podman for the container's labels after the
 * answer went out (`podman container inspect`, retried while podman is
 * still busy), then moves the endpoint to the identity of those labels
 * (source `container:`), unless the endpoint changed meanwhile (deleted,
 * another container, or relabelled by a user).
 */
#include "agent/podman.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/strbuf.h"

#define PODMAN_TRIES	  8	/* inspect attempts per container */
#define PODMAN_TIMEOUT_MS 20000 /* one inspect, then it is killed */
#define PODMAN_OUT_MAX	  (1 << 20)
#define PODMAN_ENV_MAX	  16

struct agent_podman_job {
	struct agent_podman_job *next;
	char *endpoint; /* ns/name */
	char *container_id;
	char *env[PODMAN_ENV_MAX + 2]; /* the request's, PATH, NULL */
	int tries;
	int64_t not_before_ms;
};

struct agent_podman {
	struct agent *a;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct agent_podman_job *head;
	pid_t child; /* running inspect, killed on stop */
	bool stop;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_cni_req_check(struct agent_ep_req *r, const char *ipv4, struct errbuf *eb)
{
	struct in_addr a;
	size_t i, n;

	if (r->ifname) {
		n = strlen(r->ifname);
		if (n == 0 || n > 15 || !strcmp(r->ifname, ".") || !strcmp(r->ifname, ".."))
			return errbuf_set(eb, -EINVAL,
					  "ifname '%s': not an interface name (1-15 characters)",
					  r->ifname);
		for (i = 0; i < n; i++)
			if (r->ifname[i] == '/' || r->ifname[i] == ':' ||
			    isspace((unsigned char)r->ifname[i]))
				return errbuf_set(eb, -EINVAL, "ifname '%s': '%c' is not allowed",
						  r->ifname, r->ifname[i]);
	}
	if (ipv4) {
		if (inet_pton(AF_INET, ipv4, &a) != 1 || !a.s_addr)
			return errbuf_set(eb, -EINVAL, "ipv4 '%s': not an IPv4 address", ipv4);
		r->ipv4 = a.s_addr;
	}
	if (r->container_id) {
		/* the CNI spec's rule for CNI_CONTAINERID */
		n = strlen(r->container_id);
		if (n == 0 || n > 256 || !isalnum((unsigned char)r->container_id[0]))
			return errbuf_set(
				eb, -EINVAL,
				"container_id '%.64s': must start with a letter or digit (at most 256 characters)",
				r->container_id);
		for (i = 0; i < n; i++) {
			char c = r->container_id[i];

			if (!isalnum((unsigned char)c) && c != '_' && c != '.' && c != '-')
				return errbuf_set(eb, -EINVAL,
						  "container_id '%.64s': '%c' is not allowed",
						  r->container_id, c);
		}
	}
	return 0;
}

void agent_podman_job__free(struct agent_podman_job *j)
{
	size_t i;

	if (!j)
		return;
	for (i = 0; j->env[i]; i++)
		free(j->env[i]);
	free(j->endpoint);
	free(j->container_id);
	free(j);
}

/* Variables podman reads its configuration from; nothing else is passed on. */
static bool env_allowed(const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t i, n;

	if (!eq)
		return false;
	n = (size_t)(eq - kv);
	if (n == strlen("XDG_RUNTIME_DIR") && !strncmp(kv, "XDG_RUNTIME_DIR", n))
		return true;
	if (n <= strlen("CONTAINERS_") || strncmp(kv, "CONTAINERS_", strlen("CONTAINERS_")))
		return false;
	for (i = 0; i < n; i++)
		if (!isupper((unsigned char)kv[i]) && kv[i] != '_')
			return false;
	return true;
}

int agent_podman_job_parse(json_t *runtime, const char *container_id, struct agent_podman_job **out,
			   struct errbuf *eb)
{
	struct agent_podman_job *j;
	const char *name = NULL, *path;
	json_t *env = NULL, *v;
	size_t i, n = 0;

	*out = NULL;
	if (!runtime)
		return 0;
	if (json_unpack_ex(runtime, NULL, JSON_STRICT, "{s:s, s?:o}", "name", &name, "env", &env))
		return errbuf_set(
			eb, -EINVAL,
			"runtime: expected {\"name\": \"podman\", \"env\"?: [\"NAME=value\"]}");
	if (strcmp(name, "podman"))
		return errbuf_set(eb, -EINVAL,
				  "runtime.name '%s': velum learns labels from podman only", name);
	if (!container_id)
		return errbuf_set(eb, -EINVAL,
				  "runtime: needs the container_id to ask podman about");
	if (env && (!json_is_array(env) || json_array_size(env) > PODMAN_ENV_MAX))
		return errbuf_set(eb, -EINVAL, "runtime.env: expected a list of at most %d strings",
				  PODMAN_ENV_MAX);
	json_array_foreach(env, i, v)
	{
		const char *kv = json_string_value(v);

		if (!kv || !env_allowed(kv))
			return errbuf_set(eb, -EINVAL,
					  "runtime.env[%zu]: only CONTAINERS_*=... and "
					  "XDG_RUNTIME_DIR=... are passed to podman",
					  i);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->container_id = strdup(container_id);
	if (!j->container_id)
		goto err_nomem;
	json_array_foreach(env, i, v)
	{
		j->env[n] = strdup(json_string_value(v));
		if (!j->env[n++])
			goto err_nomem;
	}
	path = getenv("PATH");
	if (asprintf(&j->env[n], "PATH=%s",
		     path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") <
	    0) {
		j->env[n] = NULL;
		goto err_nomem;
	}
	*out = j;
	return 0;

err_nomem:
	agent_podman_job__free(j);
	return -ENOMEM;
}

/*
 * Runs podman container inspect for j and reads its output into out. Returns
 * 0, or a negative errno with eb saying what podman said.
 */
static int inspect(struct agent_podman *p, const struct agent_podman_job *j, struct strbuf *out,
		   struct errbuf *eb)
{
	char *argv[] = {
		"podman",	 "container", "inspect", "--format", "{{json .Config.Labels}}",
		j->container_id, NULL
	};
	posix_spawn_file_actions_t fa;
	int fds[2], devnull, status, err = 0;
	int64_t deadline = mono_ms() + PODMAN_TIMEOUT_MS;
	char buf[4096];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -errno;
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	err = -posix_spawnp(&pid, "podman", &fa, NULL, argv, (char *const *)j->env);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (devnull >= 0)
		close(devnull);
	if (err) {
		close(fds[0]);
		return errbuf_set(eb, err, "run podman: %s", strerror(-err));
	}
	pthread_mutex_lock(&p->mu);
	p->child = pid;
	pthread_mutex_unlock(&p->mu);
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t got;

		if (left <= 0) {
			err = errbuf_set(eb, -EINVAL, "podman container inspect: no answer in %d s",
					 PODMAN_TIMEOUT_MS / 1000);
			err = -ETIMEDOUT;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			err = -errno;
			kill(pid, SIGKILL);
			break;
		}
		got = read(fds[0], buf, sizeof(buf));
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			err = -errno;
			kill(pid, SIGKILL);
			break;
		}
		if (out->len + (size_t)got > PODMAN_OUT_MAX) {
			err = errbuf_set(eb, -EINVAL,
					 "podman container inspect: answer over %d bytes",
					 PODMAN_OUT_MAX);
			kill(pid, SIGKILL);
			break;
		}
		strbuf_append(out, buf, (size_t)got);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&p->mu);
	p->child = 0;
	pthread_mutex_unlock(&p->mu);
	if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		size_t n = out->len;

		while (n && isspace((unsigned char)strbuf_str(out)[n - 1]))
			n--;
		err = errbuf_set(eb, -EINVAL, "podman container inspect %s: %.*s", j->container_id,
				 (int)n, strbuf_str(out));
	}
	return err;
}

/* True if ep's user labels are exactly { MODEL_LABEL_INIT }. */
static bool labels_unknown(const struct model_ep *ep)
{
	json_t *l = agent_user_labels_json(ep);
	const char *s = json_string_value(json_array_get(l, 0));
	bool init = json_array_size(l) == 1 && s && !strcmp(s, MODEL_LABEL_INIT);

	json_decref(l);
	return init;
}

/* Moves j's endpoint to the identity of the labels podman answered (text). */
static void apply_labels(struct agent *a, const struct agent_podman_job *j, const char *text)
{
	json_t *obj = json_loads(text, JSON_DECODE_ANY, NULL), *v;
	const struct model_ep *ep;
	const struct agent_epx *x;
	const char *key;
	char **labels = NULL;
	size_t n = 0, i;
	struct errbuf eb;
	int err = 0;

	errbuf_clear(&eb);
	if (!obj || !(json_is_object(obj) || json_is_null(obj))) {
		pr_warn("velumd: endpoint %s: podman's labels of %s are not a JSON object: %.200s\n",
			j->endpoint, j->container_id, text);
		json_decref(obj);
		return;
	}
	labels = calloc(json_object_size(obj) + 1, sizeof(*labels));
	if (!labels)
		goto out;
	json_object_foreach(obj, key, v)
	{
		const char *val = json_string_value(v);

		if (!val || asprintf(&labels[n], "container:%s=%s", key, val) < 0) {
			labels[n] = NULL;
			pr_warn("velumd: endpoint %s: podman label '%s' is not a string\n",
				j->endpoint, key);
			goto out;
		}
		n++;
	}
	pthread_mutex_lock(&a->wlock);
	ep = model_endpoint(a->m, j->endpoint);
	x = ep ? agent_epx(a, ep->id) : NULL;
	if (!ep || !x || !x->container_id || strcmp(x->container_id, j->container_id)) {
		pr_info("velumd: endpoint %s: no longer container %.12s's; labels not applied\n",
			j->endpoint, j->container_id);
	} else if (!labels_unknown(ep)) {
		pr_info("velumd: endpoint %s: relabelled meanwhile; podman's labels not applied\n",
			j->endpoint);
	} else {
		err = agent_endpoint_update(a, j->endpoint, (const char *const *)labels, n, -1,
					    &eb);
		if (err)
			pr_warn("velumd: endpoint %s: podman's labels refused, identity stays "
				"reserved:init: %s\n",
				j->endpoint, eb.msg);
		else
			pr_info("velumd: endpoint %s: %zu label(s) from podman\n", j->endpoint, n);
	}
	pthread_mutex_unlock(&a->wlock);
out:
	for (i = 0; labels && i < n; i++)
		free(labels[i]);
	free(labels);
	json_decref(obj);
}

static void *worker(void *arg)
{
	struct agent_podman *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct agent_podman_job **pp, *j = NULL;
		int64_t now = mono_ms(), wake = -1;
		struct strbuf out = STRBUF_INIT;
		struct errbuf eb;
		int err;

		for (pp = &p->head; *pp; pp = &(*pp)->next) {
			if ((*pp)->not_before_ms <= now) {
				j = *pp;
				*pp = j->next;
				break;
			}
			if (wake < 0 || (*pp)->not_before_ms < wake)
				wake = (*pp)->not_before_ms;
		}
		if (!j) {
			if (wake < 0) {
				pthread_cond_wait(&p->cv, &p->mu);
			} else {
				struct timespec ts;

				clock_gettime(CLOCK_MONOTONIC, &ts);
				ts.tv_sec += (wake - now) / 1000;
				ts.tv_nsec += ((wake - now) % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			}
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		errbuf_clear(&eb);
		err = inspect(p, j, &out, &eb);
		if (!err)
			apply_labels(p->a, j, strbuf_str(&out));
		strbuf_free(&out);
		pthread_mutex_lock(&p->mu);
		if (err && !p->stop && ++j->tries < PODMAN_TRIES) {
			/* podman may still hold the container: try again later */
			pr_debug("velumd: endpoint %s: %s; trying again\n", j->endpoint, eb.msg);
			j->not_before_ms = mono_ms() + 250 * (1 << j->tries);
			j->next = p->head;
			p->head = j;
			continue;
		}
		if (err)
			pr_warn("velumd: endpoint %s: no labels from podman, identity stays "
				"reserved:init (velum endpoint label sets them): %s\n",
				j->endpoint, eb.msg);
		agent_podman_job__free(j);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct agent_podman *agent_podman__start(struct agent *a, struct errbuf *eb)
{
	struct agent_podman *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int err;

	if (!p) {
		errbuf_set(eb, -ENOMEM, "out of memory");
		return NULL;
	}
	p->a = a;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&p->thr, NULL, worker, p);
	if (err) {
		errbuf_set(eb, -err, "podman label thread: %s", strerror(err));
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		errno = err;
		return NULL;
	}
	return p;
}

void agent_podman__stop(struct agent_podman *p)
{
	struct agent_podman_job *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	if (p->child > 0)
		kill(p->child, SIGKILL);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thr, NULL);
	while ((j = p->head)) {
		p->head = j->next;
		agent_podman_job__free(j);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int agent_podman_submit(struct agent_podman *p, struct agent_podman_job *j, const char *endpoint)
{
	if (!p || !j) {
		agent_podman_job__free(j);
		return 0;
	}
	j->endpoint = strdup(endpoint);
	if (!j->endpoint) {
		agent_podman_job__free(j);
		return -ENOMEM;
	}
	j->not_before_ms = mono_ms();
	pthread_mutex_lock(&p->mu);
	j->next = p->head;
	p->head = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}
