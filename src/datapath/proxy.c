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
 *
 * Flows from sources that are not endpoints reach the proxy through lo
 * (to_container sends them back into the host, proxy_lo assigns them):
 * each registered datapath attaches its proxy_lo to lo's tcx ingress
 * (programs of several datapaths coexist; each passes what is not
 * marked for the proxy), and lo accepts packets with a local source
 * (accept_local: the host's own connections come back in through it),
 * restored when the last holder leaves.
 *
 * Kernel-carried bytes (bpf/lib/sockmap.h): dp_proxy_sockmap() attaches
 * sock_ops to the root of the cgroup v2 hierarchy (every socket on the
 * host passes it; it keeps only the proxy's connections) and sk_msg to
 * velum_sock. Attachments outlive the process like lo's program.
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
#include <sys/mount.h>
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

/* lo's accept_local, and where its value before the first holder is kept */
#define DP_LO_ACCEPT_LOCAL "/proc/sys/net/ipv4/conf/lo/accept_local"
#define DP_LO_SAVED	   DP_PROXY_HOLDERS "/.lo_accept_local"
#define LOOPBACK_IFINDEX   1

static int file_read_char(const char *path, char *c)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd == -1)
		return -errno;
	if (read(fd, c, 1) != 1)
		err = -EIO;
	close(fd);
	return err;
}

static int file_write_char(const char *path, char c, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644), err = 0;

	if (fd == -1)
		return -errno;
	if (write(fd, &c, 1) != 1)
		err = -EIO;
	close(fd);
	return err;
}

/* accept_local on lo; the first time, the old value is saved for the last holder. */
static int lo_accept_local(bool on)
{
	char old = '0';
	int err;

	if (on) {
		if (file_read_char(DP_LO_ACCEPT_LOCAL, &old) == 0)
			file_write_char(DP_LO_SAVED, old, O_CREAT | O_EXCL);
		return file_write_char(DP_LO_ACCEPT_LOCAL, '1', 0);
	}
	if (file_read_char(DP_LO_SAVED, &old))
		return 0; /* never set by us */
	err = file_write_char(DP_LO_ACCEPT_LOCAL, old, 0);
	unlink(DP_LO_SAVED);
	return err;
}

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

/* The pinned program name of dp (the newest, if another handle reloaded), else own_fd's dup. */
static int pinned_prog(const struct dp *dp, const char *name, int own_fd)
{
	char pin[PATH_MAX];
	int fd;

	snprintf(pin, sizeof(pin), "%s/%s", dp->pin_dir, name);
	fd = bpf_obj_get(pin);
	return fd >= 0 ? fd : fcntl(own_fd, F_DUPFD_CLOEXEC, 3);
}

/* The program's kernel id, or 0. */
static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

int dp_proxy_lo_replace(int new_fd, int old_fd, struct errbuf *eb)
{
	__u32 ids[64], cnt = 64, flags = 0, old_id = prog_id(old_fd), i;
	bool attached = false;
	int err;

	if (!old_id || bpf_prog_query(LOOPBACK_IFINDEX, DP_TCX_INGRESS, 0, &flags, ids, &cnt))
		return 0; /* nothing on lo (or no tcx): nothing to replace */
	for (i = 0; i < cnt && i < 64; i++)
		attached |= ids[i] == old_id;
	if (!attached || old_id == prog_id(new_fd))
		return 0;
	err = bpf_prog_attach(new_fd, LOOPBACK_IFINDEX, DP_TCX_INGRESS, 0);
	if (err && err != -EEXIST)
		return errbuf_set(eb, err, "attach %s to lo: %s", VELUM_PROG_PROXY_LO,
				  strerror(-err));
	bpf_prog_detach2(old_fd, LOOPBACK_IFINDEX, DP_TCX_INGRESS);
	return 0;
}

int dp_proxy_setup(struct dp *dp, struct errbuf *eb)
{
	char path[PATH_MAX];
	int lock, fd, err;

	lock = holders_lock();
	if (lock < 0)
		return errbuf_set(eb, lock, "%s: %s", DP_PROXY_HOLDERS, strerror(-lock));
	err = routing_change(true);
	if (err) {
		errbuf_set(eb, err, "proxy policy routing (table %d): %s", VELUM_PROXY_RT_TABLE,
			   strerror(-err));
		goto out;
	}
	err = lo_accept_local(true);
	if (err) {
		errbuf_set(eb, err, "%s: %s", DP_LO_ACCEPT_LOCAL, strerror(-err));
		goto out;
	}
	/* the pinned program: another handle may have reloaded since this one opened */
	fd = pinned_prog(dp, VELUM_PROG_PROXY_LO, dp->prog_proxy_lo);
	err = fd < 0 ? -errno : bpf_prog_attach(fd, LOOPBACK_IFINDEX, DP_TCX_INGRESS, 0);
	if (fd >= 0)
		close(fd);
	if (err && err != -EEXIST) {
		errbuf_set(eb, err, "attach %s to lo (tcx, kernel 6.6+): %s", VELUM_PROG_PROXY_LO,
			   strerror(-err));
		goto out;
	}
	err = dp_config_flag(dp, VELUM_CONFIG_F_PROXY_LO, true);
	if (err) {
		errbuf_set(eb, err, "config: %s", strerror(-err));
		goto out;
	}
	holder_path(dp, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", path, strerror(-err));
		goto out;
	}
	close(fd);
out:
	close(lock); /* releases the flock */
	return err;
}

/* Unregisters holder path; the last holder removes the routing and lo's setting. */
static int proxy_release(const char *path, struct errbuf *eb)
{
	struct dirent *de;
	bool others = false;
	DIR *d;
	int lock, err = 0;

	lock = holders_lock();
	if (lock < 0)
		return errbuf_set(eb, lock, "%s: %s", DP_PROXY_HOLDERS, strerror(-lock));
	if (unlink(path) == -1) {
		/* not registered: nothing of ours to remove */
		if (errno != ENOENT) {
			err = -errno;
			errbuf_set(eb, err, "%s: %s", path, strerror(-err));
		}
		goto out;
	}
	d = fdopendir(dup(lock));
	if (!d) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", DP_PROXY_HOLDERS, strerror(-err));
		goto out;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			others = true;
	closedir(d);
	if (!others) {
		err = routing_change(false);
		if (err)
			errbuf_set(eb, err, "remove proxy policy routing (table %d): %s",
				   VELUM_PROXY_RT_TABLE, strerror(-err));
		if (!err)
			err = lo_accept_local(false);
		if (err && errbuf_empty(eb))
			errbuf_set(eb, err, "%s: %s", DP_LO_ACCEPT_LOCAL, strerror(-err));
	}
out:
	close(lock);
	return err;
}

int dp_proxy_teardown(struct dp *dp, struct errbuf *eb)
{
	char path[PATH_MAX];
	int err, fd;

	holder_path(dp, path, sizeof(path));
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0; /* not registered: nothing of ours, and no folder to make */
	err = dp_proxy_sockmap(dp, false, eb);
	if (err)
		return err;
	/* first: to_container stops sending flows to lo */
	err = dp_config_flag(dp, VELUM_CONFIG_F_PROXY_LO, false);
	if (err)
		return errbuf_set(eb, err, "config: %s", strerror(-err));
	err = bpf_prog_detach2(dp->prog_proxy_lo, LOOPBACK_IFINDEX, DP_TCX_INGRESS);
	if (err && err != -ENOENT)
		return errbuf_set(eb, err, "detach %s from lo: %s", VELUM_PROG_PROXY_LO,
				  strerror(-err));
	/* and the pinned one, if another handle reloaded the datapath since */
	fd = pinned_prog(dp, VELUM_PROG_PROXY_LO, dp->prog_proxy_lo);
	if (fd >= 0) {
		bpf_prog_detach2(fd, LOOPBACK_IFINDEX, DP_TCX_INGRESS);
		close(fd);
	}
	return proxy_release(path, eb);
}

/* Where a cgroup v2 hierarchy is mounted; mounts one in DP_PROXY_RUN if none is. */
#define DP_CGROUP2 DP_PROXY_RUN "/cgroupv2"

static int cgroup2_root(char *buf, size_t len)
{
	char line[1024], root[PATH_MAX], mnt[PATH_MAX], *sep;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		/* id parent dev root mountpoint options [tags] - fstype source opts */
		sep = strstr(line, " - cgroup2 ");
		if (sep && sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) == 2 &&
		    !strcmp(root, "/"))
			found = snprintf(buf, len, "%s", mnt) < (int)len;
	}
	if (f)
		fclose(f);
	if (found)
		return 0;
	if (mkdir(DP_PROXY_RUN, 0755) == -1 && errno != EEXIST)
		return -errno;
	if (mkdir(DP_CGROUP2, 0755) == -1 && errno != EEXIST)
		return -errno;
	if (mount("none", DP_CGROUP2, "cgroup2", 0, NULL) == -1 && errno != EBUSY)
		return -errno;
	snprintf(buf, len, "%s", DP_CGROUP2);
	return 0;
}

static int cgroup2_open(struct errbuf *eb)
{
	char path[PATH_MAX];
	int fd, err = cgroup2_root(path, sizeof(path));

	if (err)
		return errbuf_set(eb, err, "cgroup v2 hierarchy: %s", strerror(-err));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
	return fd;
}

/* Whether prog_fd is among the cgroup's sock_ops programs. */
static bool sockops_attached(int cg, int prog_fd)
{
	__u32 ids[64], cnt = 64, flags = 0, id = prog_id(prog_fd), i;

	if (!id || bpf_prog_query(cg, BPF_CGROUP_SOCK_OPS, 0, &flags, ids, &cnt))
		return false;
	for (i = 0; i < cnt && i < 64; i++)
		if (ids[i] == id)
			return true;
	return false;
}

int dp_proxy_sockmap(struct dp *dp, bool on, struct errbuf *eb)
{
	int cg, sockops, sk_msg, err;

	cg = cgroup2_open(eb);
	if (cg < 0)
		return cg;
	sockops = pinned_prog(dp, VELUM_PROG_SOCKOPS, dp->prog_sockops);
	sk_msg = pinned_prog(dp, VELUM_PROG_SK_MSG, dp->prog_sk_msg);
	if (on) {
		/* the verdict first: a socket sock_ops puts in the map gets it */
		err = bpf_prog_attach(sk_msg, dp->map_fd[DP_MAP_SOCK], BPF_SK_MSG_VERDICT, 0);
		if (err)
			errbuf_set(eb, err, "attach %s to %s: %s", VELUM_PROG_SK_MSG,
				   VELUM_MAP_SOCK, strerror(-err));
		if (!err && !sockops_attached(cg, sockops)) {
			err = bpf_prog_attach(sockops, cg, BPF_CGROUP_SOCK_OPS, BPF_F_ALLOW_MULTI);
			if (err)
				errbuf_set(eb, err, "attach %s to the cgroup v2 root: %s",
					   VELUM_PROG_SOCKOPS, strerror(-err));
		}
	} else {
		/* new connections stay TCP; carried ones keep their path until they close */
		err = bpf_prog_detach2(sockops, cg, BPF_CGROUP_SOCK_OPS);
		if (err == -ENOENT)
			err = 0;
		if (err)
			errbuf_set(eb, err, "detach %s: %s", VELUM_PROG_SOCKOPS, strerror(-err));
	}
	close(sockops);
	close(sk_msg);
	close(cg);
	return err;
}

bool dp_proxy_sockmap_on(struct dp *dp)
{
	struct errbuf eb;
	int cg = cgroup2_open(&eb), sockops;
	bool on;

	if (cg < 0)
		return false;
	sockops = pinned_prog(dp, VELUM_PROG_SOCKOPS, dp->prog_sockops);
	on = sockops >= 0 && sockops_attached(cg, sockops);
	if (sockops >= 0)
		close(sockops);
	close(cg);
	return on;
}

int dp_proxy_sockmap_replace(struct dp *dp, int new_sockops, int new_sk_msg, int old_sockops,
			     struct errbuf *eb)
{
	int cg, err = 0;

	if (old_sockops < 0 || prog_id(old_sockops) == prog_id(new_sockops))
		return 0;
	cg = cgroup2_open(eb);
	if (cg < 0)
		return cg;
	if (sockops_attached(cg, old_sockops)) {
		LIBBPF_OPTS(bpf_prog_attach_opts, o, .flags = BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
			    .replace_prog_fd = old_sockops);

		err = bpf_prog_attach(new_sk_msg, dp->map_fd[DP_MAP_SOCK], BPF_SK_MSG_VERDICT, 0);
		if (!err)
			err = bpf_prog_attach_opts(new_sockops, cg, BPF_CGROUP_SOCK_OPS, &o);
		if (err)
			errbuf_set(eb, err, "replace %s: %s", VELUM_PROG_SOCKOPS, strerror(-err));
	}
	close(cg);
	return err;
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

	snprintf(path, sizeof(path), "%s/%s", pin_dir ? pin_dir : VELUM_PIN_DIR, VELUM_MAP_IPCACHE);
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = bpf_obj_get_opts(path, &o);
	if (r->fd < 0) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", path, strerror(-err));
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
