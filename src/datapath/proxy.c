// SPDX-License-Identifier: Apache-2.0
/*
 * The datapath's side of L7 redirection that lives in user space
 * (docs/proxy-redirect.md): the host's policy routing that delivers
 * socket-assigned packets locally, shared by every datapath on the host,
 * and the read-only ipcache handle the proxy resolves peers with.
 *
 * The rule and route are global to the host namespace while datapaths are
 * per pin folder, so each datapath that needs them registers a holder file
 * (named after its pin folder) in DP_PROXY_HOLDERS under a flock; the last
 * holder to leave removes them. A holder left by a crashed process keeps
 * them installed, which is harmless: only the programs set the mark.
 */
#include "datapath/dp.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "datapath/dp_internal.h"
#include "datapath/nl.h"
#include "velum/maps.h"
#include "velum/proxy.h"

/* Where datapaths register that they need the proxy routing. */
#define DP_PROXY_RUN	 "/run/velum"
#define DP_PROXY_HOLDERS DP_PROXY_RUN "/proxy-routing"

/* The holder file of dp: its pin folder with '/' spelled '_'. */
static void holder_path(const struct dp *dp, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/", DP_PROXY_HOLDERS);
	char *p;

	snprintf(buf + n, len - n, "%s", dp->pin_dir);
	for (p = buf + n; *p; p++)
		if (*p == '/')
			*p = '_';
}

/* Opens and flocks the holders folder (made if missing); returns its fd or -errno. */
static int holders_lock(void)
{
	int fd;

	if (mkdir(DP_PROXY_RUN, 0755) == -1 && errno != EEXIST)
		return -errno;
	if (mkdir(DP_PROXY_HOLDERS, 0755) == -1 && errno != EEXIST)
		return -errno;
	fd = open(DP_PROXY_HOLDERS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (flock(fd, LOCK_EX) == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int routing_change(bool add)
{
	struct dp_nl nl;
	int lo, err, err2;

	err = dp_nl__open(&nl, -1);
	if (err)
		return err;
	lo = dp_nl_link_index(&nl, "lo");
	if (lo < 0) {
		err = lo;
		goto out;
	}
	if (add) {
		/* the route first: the rule must never point at an empty table */
		err = dp_nl_local_default_add(&nl, lo, VELUM_PROXY_RT_TABLE);
		if (!err)
			err = dp_nl_fwmark_rule_add(&nl, VELUM_MARK_MAGIC_TO_PROXY,
						    VELUM_MARK_MAGIC_MASK, VELUM_PROXY_RT_TABLE,
						    VELUM_PROXY_RULE_PREF);
	} else {
		err = dp_nl_fwmark_rule_del(&nl, VELUM_MARK_MAGIC_TO_PROXY, VELUM_MARK_MAGIC_MASK,
					    VELUM_PROXY_RT_TABLE, VELUM_PROXY_RULE_PREF);
		err2 = dp_nl_local_default_del(&nl, lo, VELUM_PROXY_RT_TABLE);
		if (err == -ENOENT)
			err = 0;
		if (!err && err2 != -ESRCH)
			err = err2;
	}
out:
	dp_nl__close(&nl);
	return err;
}

int dp_proxy_setup(struct dp *dp, struct errbuf *eb)
{
	char path[PATH_MAX];
	int lock, fd, err;

	lock = holders_lock();
	if (lock < 0)
		return errbuf_set(eb, "%s: %s", DP_PROXY_HOLDERS, strerror(-lock)), lock;
	err = routing_change(true);
	if (err) {
		errbuf_set(eb, "proxy policy routing (table %d): %s", VELUM_PROXY_RT_TABLE,
			   strerror(-err));
		goto out;
	}
	holder_path(dp, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		err = -errno;
		errbuf_set(eb, "%s: %s", path, strerror(-err));
		goto out;
	}
	close(fd);
out:
	close(lock); /* releases the flock */
	return err;
}

/* Unregisters holder path; the last holder removes the routing. */
static int proxy_release(const char *path, struct errbuf *eb)
{
	struct dirent *de;
	bool others = false;
	DIR *d;
	int lock, err = 0;

	lock = holders_lock();
	if (lock < 0)
		return errbuf_set(eb, "%s: %s", DP_PROXY_HOLDERS, strerror(-lock)), lock;
	if (unlink(path) == -1) {
		/* not registered: nothing of ours to remove */
		if (errno != ENOENT) {
			err = -errno;
			errbuf_set(eb, "%s: %s", path, strerror(-err));
		}
		goto out;
	}
	d = fdopendir(dup(lock));
	if (!d) {
		err = -errno;
		errbuf_set(eb, "%s: %s", DP_PROXY_HOLDERS, strerror(-err));
		goto out;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			others = true;
	closedir(d);
	if (!others) {
		err = routing_change(false);
		if (err)
			errbuf_set(eb, "remove proxy policy routing (table %d): %s",
				   VELUM_PROXY_RT_TABLE, strerror(-err));
	}
out:
	close(lock);
	return err;
}

int dp_proxy_teardown(struct dp *dp, struct errbuf *eb)
{
	char path[PATH_MAX];

	holder_path(dp, path, sizeof(path));
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0; /* not registered: nothing of ours, and no folder to make */
	return proxy_release(path, eb);
}

struct dp_ipcache_reader {
	int fd;
};

struct dp_ipcache_reader *dp_ipcache_reader__open(const char *pin_dir, struct errbuf *eb)
{
	LIBBPF_OPTS(bpf_obj_get_opts, o, .file_flags = BPF_F_RDONLY);
	struct dp_ipcache_reader *r;
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/%s", pin_dir ? pin_dir : VELUM_PIN_DIR,
		 VELUM_MAP_IPCACHE);
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = bpf_obj_get_opts(path, &o);
	if (r->fd < 0) {
		err = -errno;
		errbuf_set(eb, "%s: %s", path, strerror(-err));
		free(r);
		errno = -err;
		return NULL;
	}
	return r;
}

void dp_ipcache_reader__close(struct dp_ipcache_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r);
}

int dp_ipcache_lookup(struct dp_ipcache_reader *r, __be32 addr, struct velum_ipcache_value *out)
{
	struct velum_ipcache_key k = { .prefixlen = 32, .addr = addr };

	if (!bpf_map_lookup_elem(r->fd, &k, out))
		return 0;
	if (errno != ENOENT)
		return -errno;
	memset(out, 0, sizeof(*out));
	out->identity = VELUM_ID_WORLD;
	return -ENOENT;
}
