// SPDX-License-Identifier: Apache-2.0
/*
 * Loading and pinning the shared programs and maps, the node config, the
 * atomic per-endpoint policy swap, the ipcache, events, counters and
 * conntrack garbage collection. Endpoint plumbing is in endpoint.c.
 */
#include "datapath/dp.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/dp_internal.h"
#include "datapath/nl.h"
#include "endpoint.skel.h"
#include "velum/conntrack.h"
#include "velum/drop.h"
#include "velum/ipcache.h"
#include "velum/maps.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static const char *const map_names[DP_MAP_N] = {
	[DP_MAP_ENDPOINTS] = VELUM_MAP_ENDPOINTS,
	[DP_MAP_IPCACHE] = VELUM_MAP_IPCACHE,
	[DP_MAP_POLICY] = VELUM_MAP_POLICY,
	[DP_MAP_CT] = VELUM_MAP_CT,
	[DP_MAP_FRAG] = VELUM_MAP_FRAG,
	[DP_MAP_METRICS] = VELUM_MAP_METRICS,
	[DP_MAP_EVENTS] = VELUM_MAP_EVENTS,
	[DP_MAP_RATELIM] = VELUM_MAP_RATELIM,
	[DP_MAP_CONFIG] = VELUM_MAP_CONFIG,
	[DP_MAP_LXC] = VELUM_MAP_LXC,
	[DP_MAP_SOCK] = VELUM_MAP_SOCK,
	[DP_MAP_SOCK_REF] = VELUM_MAP_SOCK_REF,
	[DP_MAP_SOCK_STATS] = VELUM_MAP_SOCK_STATS,
	[DP_MAP_EP_NETNS] = VELUM_MAP_EP_NETNS,
};

static int pin_path(const struct dp *dp, char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dp->pin_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dp_lock(struct dp *dp)
{
	while (flock(dp->dir_fd, LOCK_EX) == -1) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

void dp_unlock(struct dp *dp)
{
	flock(dp->dir_fd, LOCK_UN);
}

/* Mounts bpffs at VELUM_BPFFS unless something bpffs is there. */
static int bpffs_ensure(struct errbuf *eb)
{
	struct statfs st;

	if (statfs(VELUM_BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", VELUM_BPFFS, "bpf", 0, "mode=0700") == -1) {
		int err = -errno;

		errbuf_set(eb, err, "mount bpffs at %s: %s", VELUM_BPFFS, strerror(-err));
		return err;
	}
	return 0;
}

static int parse_pool(struct dp *dp, const char *pool, struct errbuf *eb)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	long plen;

	if (strlen(pool) >= sizeof(buf))
		return errbuf_set(eb, -EINVAL, "pool %s: not a.b.c.d/len", pool);
	strcpy(buf, pool);
	slash = strchr(buf, '/');
	if (!slash)
		return errbuf_set(eb, -EINVAL, "pool %s: not a.b.c.d/len", pool);
	*slash = '\0';
	plen = strtol(slash + 1, &end, 10);
	if (*end || plen < 8 || plen > 30 || inet_pton(AF_INET, buf, &a) != 1)
		return errbuf_set(eb, -EINVAL, "pool %s: not a.b.c.d/len with len 8..30", pool);
	dp->pool_plen = plen;
	dp->pool_mask = htonl(~0u << (32 - plen));
	dp->pool_addr = a.s_addr & dp->pool_mask;
	if (dp->pool_addr != a.s_addr)
		return errbuf_set(eb, -EINVAL, "pool %s: host bits set", pool);
	return 0;
}

static bool pins_exist(const struct dp *dp)
{
	char path[PATH_MAX];

	if (pin_path(dp, path, sizeof(path), VELUM_PROG_FROM) || access(path, F_OK))
		return false;
	if (pin_path(dp, path, sizeof(path), VELUM_PROG_TO) || access(path, F_OK))
		return false;
	return true;
}

static int read_config(struct dp *dp);

/* Takes every pinned object; first the config, whose ABI must be ours. */
static int reuse_pins(struct dp *dp, struct errbuf *eb)
{
	char path[PATH_MAX];
	int i, err;

	err = pin_path(dp, path, sizeof(path), map_names[DP_MAP_CONFIG]);
	if (err)
		return err;
	dp->map_fd[DP_MAP_CONFIG] = bpf_obj_get(path);
	if (dp->map_fd[DP_MAP_CONFIG] >= 0 && read_config(dp) == -EPROTO) {
		return errbuf_set(eb, -EPROTO,
				  "%s: pinned datapath of another ABI version (this is %d): "
				  "reload it (velum-dp --reload) or remove it (velum-dp destroy)",
				  dp->pin_dir, VELUM_ABI_VERSION);
	}
	for (i = 0; i < DP_MAP_N; i++) {
		if (i == DP_MAP_CONFIG && dp->map_fd[i] >= 0)
			continue;
		err = pin_path(dp, path, sizeof(path), map_names[i]);
		if (err)
			return err;
		dp->map_fd[i] = bpf_obj_get(path);
		if (dp->map_fd[i] < 0) {
			err = -errno;
			return errbuf_set(
				eb, err,
				"%s: %s (the pinned datapath is incomplete: velum-dp --reload loads it again)",
				path, strerror(-err));
		}
	}
	pin_path(dp, path, sizeof(path), VELUM_PROG_FROM);
	dp->prog_from = bpf_obj_get(path);
	pin_path(dp, path, sizeof(path), VELUM_PROG_TO);
	dp->prog_to = bpf_obj_get(path);
	if (dp->prog_from < 0 || dp->prog_to < 0) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", path, strerror(-err));
		return err;
	}
	pin_path(dp, path, sizeof(path), VELUM_PROG_PROXY_LO);
	dp->prog_proxy_lo = bpf_obj_get(path);
	if (dp->prog_proxy_lo >= 0) {
		pin_path(dp, path, sizeof(path), VELUM_PROG_SOCKOPS);
		dp->prog_sockops = bpf_obj_get(path);
	}
	if (dp->prog_sockops >= 0) {
		pin_path(dp, path, sizeof(path), VELUM_PROG_SK_MSG);
		dp->prog_sk_msg = bpf_obj_get(path);
	}
	if (dp->prog_proxy_lo < 0 || dp->prog_sockops < 0 || dp->prog_sk_msg < 0) {
		err = -errno;
		errbuf_set(
			eb, err,
			"%s: %s (the pinned datapath is incomplete: velum-dp --reload loads it again)",
			path, strerror(-err));
		return err;
	}
	return 0;
}

/* This network namespace's cookie (kernel 5.14+), or 0: then no socket is the proxy's. */
static __u64 netns_cookie(void)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}

static int pin_prog(struct dp *dp, struct bpf_program *prog, const char *name, struct errbuf *eb)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int err;

	err = pin_path(dp, path, sizeof(path), name);
	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%.4000s_new" /* bpffs refuses dots */, path);
	unlink(tmp);
	err = bpf_obj_pin(bpf_program__fd(prog), tmp);
	if (!err && rename(tmp, path) == -1)
		err = -errno;
	if (err) {
		unlink(tmp);
		errbuf_set(eb, err, "pin %s: %s", path, strerror(-err));
	}
	return err;
}

/* Loads the skeleton, reusing or creating the pinned maps, and pins the programs. */
static int load(struct dp *dp, struct errbuf *eb)
{
	struct velum_endpoint *skel;
	char path[PATH_MAX];
	int i, err, old_lo = -1, old_sockops = -1;

	skel = velum_endpoint__open();
	if (!skel) {
		err = -errno;
		errbuf_set(eb, err, "open BPF skeleton: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < DP_MAP_N; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, map_names[i]);

		err = m ? pin_path(dp, path, sizeof(path), map_names[i]) : -ENOENT;
		if (!err)
			err = bpf_map__set_pin_path(m, path);
		if (err) {
			errbuf_set(eb, err, "map %s: %s", map_names[i], strerror(-err));
			goto out;
		}
	}
	/* the proxy's sockets are those of this namespace (lib/sockmap.h) */
	skel->rodata->host_netns_cookie = netns_cookie();
	err = velum_endpoint__load(skel);
	if (err) {
		errbuf_set(eb, err, "load BPF programs: %s", strerror(-err));
		goto out;
	}
	/* a reload replaces the proxy_lo on lo too (dp_proxy_setup() attached the old one) */
	pin_path(dp, path, sizeof(path), VELUM_PROG_PROXY_LO);
	old_lo = bpf_obj_get(path);
	pin_path(dp, path, sizeof(path), VELUM_PROG_SOCKOPS);
	old_sockops = bpf_obj_get(path);
	err = pin_prog(dp, skel->progs.from_container, VELUM_PROG_FROM, eb);
	if (!err)
		err = pin_prog(dp, skel->progs.to_container, VELUM_PROG_TO, eb);
	if (!err)
		err = pin_prog(dp, skel->progs.proxy_lo, VELUM_PROG_PROXY_LO, eb);
	if (!err)
		err = pin_prog(dp, skel->progs.sock_ops_prog, VELUM_PROG_SOCKOPS, eb);
	if (!err)
		err = pin_prog(dp, skel->progs.sk_msg_verdict, VELUM_PROG_SK_MSG, eb);
	if (!err && old_lo >= 0)
		err = dp_proxy_lo_replace(bpf_program__fd(skel->progs.proxy_lo), old_lo, eb);
	if (err)
		goto out;
	/* the handle keeps its own references; the skeleton goes */
	for (i = 0; i < DP_MAP_N; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(skel->obj, map_names[i]);

		dp->map_fd[i] = fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 3);
		if (dp->map_fd[i] < 0) {
			err = -errno;
			goto out;
		}
	}
	dp->prog_from = fcntl(bpf_program__fd(skel->progs.from_container), F_DUPFD_CLOEXEC, 3);
	dp->prog_to = fcntl(bpf_program__fd(skel->progs.to_container), F_DUPFD_CLOEXEC, 3);
	dp->prog_proxy_lo = fcntl(bpf_program__fd(skel->progs.proxy_lo), F_DUPFD_CLOEXEC, 3);
	dp->prog_sockops = fcntl(bpf_program__fd(skel->progs.sock_ops_prog), F_DUPFD_CLOEXEC, 3);
	dp->prog_sk_msg = fcntl(bpf_program__fd(skel->progs.sk_msg_verdict), F_DUPFD_CLOEXEC, 3);
	if (dp->prog_from < 0 || dp->prog_to < 0 || dp->prog_proxy_lo < 0 || dp->prog_sockops < 0 ||
	    dp->prog_sk_msg < 0) {
		err = -errno;
		goto out;
	}
	err = dp_proxy_sockmap_replace(dp, dp->prog_sockops, dp->prog_sk_msg, old_sockops, eb);
out:
	if (old_lo >= 0)
		close(old_lo);
	if (old_sockops >= 0)
		close(old_sockops);
	velum_endpoint__destroy(skel);
	return err;
}

/* Re-attaches the (new) programs to every endpoint's veth and rewrites its velum_lxc entry. */
static int reattach_all(struct dp *dp, struct errbuf *eb)
{
	struct dp_nl host = { .fd = -1 };
	__u32 key, *prev = NULL;
	int err = dp_nl__open(&host, -1);

	if (err)
		return errbuf_set(eb, err, "netlink: %s", strerror(-err));
	while (bpf_map_get_next_key(dp->map_fd[DP_MAP_ENDPOINTS], prev, &key) == 0) {
		struct velum_endpoint_info info;

		err = dp_attach(dp, key);
		if (err && err != -ENODEV) {
			errbuf_set(eb, err, "re-attach ifindex %u: %s", key, strerror(-err));
			break;
		}
		/* BPF host routing's entry, e.g. after an upgrade from a datapath without it */
		if (!err && bpf_map_lookup_elem(dp->map_fd[DP_MAP_ENDPOINTS], &key, &info) == 0) {
			err = dp_lxc_sync(dp, &host, &info);
			if (err) {
				errbuf_set(eb, err, "host routing entry of ifindex %u: %s", key,
					   strerror(-err));
				break;
			}
		}
		err = 0;
		prev = &key;
	}
	dp_nl__close(&host);
	return err;
}

static int write_config(struct dp *dp)
{
	struct velum_config cfg = { .pool_addr = dp->pool_addr,
				    .pool_mask = dp->pool_mask,
				    .flags = dp->cfg_flags,
				    .abi = VELUM_ABI_VERSION };
	__u32 zero = 0;

	if (bpf_map_update_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

static int read_config(struct dp *dp)
{
	struct velum_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg))
		return -errno;
	if (!cfg.pool_mask)
		return -ENOENT;
	if (cfg.abi != VELUM_ABI_VERSION)
		return -EPROTO;
	dp->pool_addr = cfg.pool_addr;
	dp->pool_mask = cfg.pool_mask;
	dp->pool_plen = __builtin_popcount(cfg.pool_mask);
	dp->cfg_flags = cfg.flags;
	return 0;
}

/* The host's own IPv4 addresses are identity host. */
static int host_ipcache(struct dp *dp)
{
	struct ifaddrs *ifa, *i;
	int err = 0;

	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		__be32 a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		if ((a & dp->pool_mask) == dp->pool_addr)
			continue;
		err = dp_ipcache_update(dp, a, 32, VELUM_ID_HOST);
		if (err)
			break;
	}
	freeifaddrs(ifa);
	return err;
}

/*
 * The owner lock: bpffs holds no regular files, so the lock is a flock on
 * a subfolder, held until the handle is closed (or its process dies).
 */
static int take_ownership(struct dp *dp, struct errbuf *eb)
{
	if (mkdirat(dp->dir_fd, DP_OWNER_DIR, 0700) == -1 && errno != EEXIST)
		return errbuf_set(eb, -errno, "%s/%s: %s", dp->pin_dir, DP_OWNER_DIR,
				  strerror(errno));
	dp->owner_fd = openat(dp->dir_fd, DP_OWNER_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->owner_fd == -1)
		return errbuf_set(eb, -errno, "%s/%s: %s", dp->pin_dir, DP_OWNER_DIR,
				  strerror(errno));
	if (flock(dp->owner_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		return errbuf_set(eb, -EBUSY,
				  "the pin folder %s is owned by a running agent (velumd): one "
				  "datapath has one owner; stop that one, or use another --pin-dir",
				  dp->pin_dir);
	}
	return errbuf_set(eb, -errno, "lock %s/%s: %s", dp->pin_dir, DP_OWNER_DIR, strerror(errno));
}

struct dp *dp__open(const struct dp_opts *opts, struct errbuf *eb)
{
	static const struct dp_opts defaults;
	struct dp *dp;
	bool fresh;
	int err, i;

	if (!opts)
		opts = &defaults;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return NULL;
	dp->dir_fd = dp->owner_fd = dp->prog_from = dp->prog_to = dp->prog_proxy_lo = -1;
	dp->prog_sockops = dp->prog_sk_msg = -1;
	for (i = 0; i < DP_MAP_N; i++)
		dp->map_fd[i] = -1;
	if (opts->pin_dir && strlen(opts->pin_dir) >= sizeof(dp->pin_dir)) {
		err = errbuf_set(eb, -EINVAL, "pin folder %s: too long", opts->pin_dir);
		goto err_close;
	}
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s",
		 opts->pin_dir ? opts->pin_dir : VELUM_PIN_DIR);
	if (opts->ifname_prefix && strlen(opts->ifname_prefix) > 9) {
		err = errbuf_set(eb, -EINVAL, "interface prefix %s: longer than 9",
				 opts->ifname_prefix);
		goto err_close;
	}
	snprintf(dp->ifname_prefix, sizeof(dp->ifname_prefix), "%s",
		 opts->ifname_prefix ? opts->ifname_prefix : "vlm");
	snprintf(dp->netns_prefix, sizeof(dp->netns_prefix), "%s",
		 opts->netns_prefix ? opts->netns_prefix : "velum-ep");
	err = parse_pool(dp, opts->pool ? opts->pool : DP_POOL_DEFAULT, eb);
	if (err)
		goto err_close;

	if (!strncmp(dp->pin_dir, VELUM_BPFFS "/", strlen(VELUM_BPFFS) + 1)) {
		err = bpffs_ensure(eb);
		if (err)
			goto err_close;
	}
	if (mkdir(dp->pin_dir, 0700) == -1 && errno != EEXIST) {
		err = -errno;
		errbuf_set(eb, err, "mkdir %s: %s", dp->pin_dir, strerror(-err));
		goto err_close;
	}
	dp->dir_fd = open(dp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->dir_fd == -1) {
		err = -errno;
		errbuf_set(eb, err, "open %s: %s", dp->pin_dir, strerror(-err));
		goto err_close;
	}
	if (opts->own) {
		err = take_ownership(dp, eb);
		if (err)
			goto err_close;
	}
	err = dp_lock(dp);
	if (err)
		goto err_close;

	fresh = opts->reload || !pins_exist(dp);
	err = fresh ? load(dp, eb) : reuse_pins(dp, eb);
	if (err)
		goto err_unlock;
	if (opts->reload) {
		err = reattach_all(dp, eb);
		if (err)
			goto err_unlock;
	}
	/* the pinned state must speak this ABI (a reload rewrites the config) */
	err = read_config(dp);
	if (err == -EPROTO && !fresh) {
		errbuf_set(eb, -EINVAL,
			   "%s: pinned datapath of another ABI version (this is %d): "
			   "reload it (velum-dp --reload) or remove it (velum-dp destroy)",
			   dp->pin_dir, VELUM_ABI_VERSION);
		goto err_unlock;
	}
	/*
	 * An explicit pool or routing wins (read_config() loaded the node's
	 * settings over the defaults); a reopen otherwise keeps the node's.
	 */
	if (opts->pool || opts->routing || err < 0) {
		if (opts->pool)
			parse_pool(dp, opts->pool, NULL); /* parsed above: cannot fail */
		if (opts->routing == DP_ROUTING_LEGACY)
			dp->cfg_flags |= VELUM_CONFIG_F_LEGACY_ROUTING;
		else if (opts->routing == DP_ROUTING_BPF)
			dp->cfg_flags &= ~VELUM_CONFIG_F_LEGACY_ROUTING;
		err = write_config(dp);
		if (err) {
			errbuf_set(eb, err, "write config: %s", strerror(-err));
			goto err_unlock;
		}
	}
	if (!opts->no_host_ipcache) {
		err = host_ipcache(dp);
		if (err) {
			errbuf_set(eb, err, "host addresses into the ipcache: %s", strerror(-err));
			goto err_unlock;
		}
	}
	dp_unlock(dp);
	return dp;

err_unlock:
	dp_unlock(dp);
err_close:
	dp__close(dp); /* every descriptor not yet opened is -1 */
	errno = -err;
	return NULL;
}

void dp__close(struct dp *dp)
{
	int i;

	if (!dp)
		return;
	ring_buffer__free(dp->rb);
	for (i = 0; i < DP_MAP_N; i++)
		if (dp->map_fd[i] >= 0)
			close(dp->map_fd[i]);
	if (dp->prog_from >= 0)
		close(dp->prog_from);
	if (dp->prog_to >= 0)
		close(dp->prog_to);
	if (dp->prog_proxy_lo >= 0)
		close(dp->prog_proxy_lo);
	if (dp->prog_sockops >= 0)
		close(dp->prog_sockops);
	if (dp->prog_sk_msg >= 0)
		close(dp->prog_sk_msg);
	if (dp->owner_fd >= 0)
		close(dp->owner_fd);
	if (dp->dir_fd >= 0)
		close(dp->dir_fd);
	free(dp);
}

int dp_destroy_all(struct dp *dp, struct errbuf *eb)
{
	struct dp_endpoint eps[64];
	char path[PATH_MAX];
	int n, i, err;

	/* endpoints first: they hold links, namespaces and policy pins */
	do {
		n = dp_endpoint_list(dp, eps, 64);
		if (n < 0)
			return n;
		for (i = 0; i < n && i < 64; i++) {
			err = dp_endpoint_remove(dp, eps[i].ep_id, eb);
			if (err && err != -ENOENT)
				return err;
		}
	} while (n > 64);
	for (i = 0; i < DP_MAP_N; i++) {
		pin_path(dp, path, sizeof(path), map_names[i]);
		unlink(path);
	}
	/* policy pins of endpoints that vanished, and half-done renames */
	{
		DIR *d = opendir(dp->pin_dir);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (strncmp(de->d_name, "velum_pol_", 10) && !strstr(de->d_name, "_new"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, de->d_name);
			unlink(path);
		}
		if (d)
			closedir(d);
	}
	pin_path(dp, path, sizeof(path), VELUM_PROG_FROM);
	unlink(path);
	pin_path(dp, path, sizeof(path), VELUM_PROG_TO);
	unlink(path);
	pin_path(dp, path, sizeof(path), VELUM_PROG_PROXY_LO);
	unlink(path);
	err = dp_proxy_teardown(dp, eb);
	pin_path(dp, path, sizeof(path), VELUM_PROG_SOCKOPS);
	unlink(path);
	pin_path(dp, path, sizeof(path), VELUM_PROG_SK_MSG);
	unlink(path);
	if (err)
		return err;
	pin_path(dp, path, sizeof(path), DP_OWNER_DIR);
	rmdir(path); /* an owner's flock goes with the folder's last reference */
	if (rmdir(dp->pin_dir) == -1 && errno != ENOENT) {
		err = -errno;
		errbuf_set(eb, err, "rmdir %s: %s", dp->pin_dir, strerror(-err));
		return err;
	}
	return 0;
}

/*
 * tcx (kernel 6.6+): programs attached to the device itself, no qdisc and no
 * classifier in between; attached with BPF_PROG_ATTACH they stay until
 * detached or the device goes. The UAPI headers of the build machine may
 * predate them.
 */

/* Detaches every program named like ours on the hook except keep_id. */
static void tcx_detach_others(int ifindex, int type, __u32 keep_id, const char *name)
{
	__u32 ids[64], cnt = 64, flags = 0, i;

	if (bpf_prog_query(ifindex, type, 0, &flags, ids, &cnt))
		return;
	for (i = 0; i < cnt && i < 64; i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd;

		if (ids[i] == keep_id)
			continue;
		fd = bpf_prog_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name))
			bpf_prog_detach2(fd, ifindex, type);
		close(fd);
	}
}

/*
 * Attaches prog_fd on the hook, then detaches older versions of it: after
 * a reload the new program is appended behind the old one (which still
 * decides), then the old one goes, so no packet passes unpoliced.
 */
static int tcx_attach(int prog_fd, int ifindex, int type, const char *name)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int err;

	err = bpf_prog_attach(prog_fd, ifindex, type, 0);
	if (err && err != -EEXIST)
		return err;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0)
		tcx_detach_others(ifindex, type, info.id, name);
	return 0;
}

/* The classic way, for kernels without tcx: clsact qdisc and cls_bpf filters. */
static int clsact_attach(struct dp *dp, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = 1, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	hook.attach_point = BPF_TC_INGRESS;
	o.prog_fd = dp->prog_from;
	err = bpf_tc_attach(&hook, &o);
	if (err)
		return err;
	hook.attach_point = BPF_TC_EGRESS;
	o.prog_fd = dp->prog_to;
	o.prog_id = 0;
	return bpf_tc_attach(&hook, &o);
}

int dp_attach(struct dp *dp, int ifindex)
{
	int err;

	err = tcx_attach(dp->prog_from, ifindex, DP_TCX_INGRESS, VELUM_PROG_FROM);
	if (!err)
		err = tcx_attach(dp->prog_to, ifindex, DP_TCX_EGRESS, VELUM_PROG_TO);
	if (err == -EINVAL || err == -EOPNOTSUPP)
		return clsact_attach(dp, ifindex);
	return err;
}

int dp_detach(struct dp *dp, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = 1);
	int err, err2;

	err = bpf_prog_detach2(dp->prog_from, ifindex, DP_TCX_INGRESS);
	err2 = bpf_prog_detach2(dp->prog_to, ifindex, DP_TCX_EGRESS);
	if (!err && !err2)
		return 0;
	/* not (or not only) on tcx: the clsact filters */
	err = bpf_tc_detach(&hook, &o);
	hook.attach_point = BPF_TC_EGRESS;
	err2 = bpf_tc_detach(&hook, &o);
	return err ? err : err2;
}

int dp_routing_set(struct dp *dp, bool legacy)
{
	return dp_config_flag(dp, VELUM_CONFIG_F_LEGACY_ROUTING, legacy);
}

int dp_config_flag(struct dp *dp, __u32 flag, bool on)
{
	struct velum_config cfg;
	__u32 zero = 0;

	/* the node's config as it is now (another process may have changed it) */
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg))
		return -errno;
	if (on)
		cfg.flags |= flag;
	else
		cfg.flags &= ~flag;
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg, BPF_EXIST))
		return -errno;
	dp->cfg_flags = cfg.flags;
	return 0;
}

int dp_allow_localhost_set(struct dp *dp, bool always)
{
	return dp_config_flag(dp, VELUM_CONFIG_F_ALLOW_LOCALHOST, always);
}

int dp_trace_events_set(struct dp *dp, bool on)
{
	return dp_config_flag(dp, VELUM_CONFIG_F_NO_TRACE, !on);
}

bool dp_routing_legacy(struct dp *dp)
{
	struct velum_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_CONFIG], &zero, &cfg) == 0)
		dp->cfg_flags = cfg.flags;
	return dp->cfg_flags & VELUM_CONFIG_F_LEGACY_ROUTING;
}

int dp_endpoint_bypass(struct dp *dp, __u32 ep_id, bool bypass)
{
	struct velum_endpoint_info info;
	int err = dp_endpoint_find(dp, ep_id, &info);

	if (err)
		return err;
	return bypass ? dp_detach(dp, info.ifindex) : dp_attach(dp, info.ifindex);
}

int dp_endpoint_find(struct dp *dp, __u32 ep_id, struct velum_endpoint_info *info)
{
	__u32 key, *prev = NULL;

	while (bpf_map_get_next_key(dp->map_fd[DP_MAP_ENDPOINTS], prev, &key) == 0) {
		if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_ENDPOINTS], &key, info) == 0 &&
		    info->ep_id == ep_id)
			return 0;
		prev = &key;
	}
	return -ENOENT;
}

int dp_policy_default_allow(struct velum_policy_key keys[2], struct velum_policy_value vals[2])
{
	for (int d = 0; d < 2; d++) {
		memset(&keys[d], 0, sizeof(keys[d]));
		memset(&vals[d], 0, sizeof(vals[d]));
		keys[d].prefixlen = VELUM_POLICY_PREFIX_FIXED;
		keys[d].egress = d;
		vals[d].verdict = VELUM_VERDICT_ALLOW;
		vals[d].rule_id = VELUM_RULE_DEFAULT_ALLOW;
	}
	return 2;
}

static int policy_validate(const struct velum_policy_key *k, const struct velum_policy_value *v,
			   size_t i, struct errbuf *eb)
{
	if (k->prefixlen < VELUM_POLICY_PREFIX_FIXED || k->prefixlen > VELUM_POLICY_PREFIX_FULL)
		return errbuf_set(eb, -EINVAL, "entry %zu: prefixlen %u not in %d..%d", i,
				  k->prefixlen, VELUM_POLICY_PREFIX_FIXED,
				  VELUM_POLICY_PREFIX_FULL);
	if (k->egress > VELUM_DIR_EGRESS)
		return errbuf_set(eb, -EINVAL, "entry %zu: direction %u", i, k->egress);
	if (v->verdict < VELUM_VERDICT_ALLOW || v->verdict > VELUM_VERDICT_DENY)
		return errbuf_set(eb, -EINVAL, "entry %zu: verdict %u", i, v->verdict);
	if (v->port_prefix != k->prefixlen - VELUM_POLICY_PREFIX_FIXED)
		return errbuf_set(eb, -EINVAL, "entry %zu: port_prefix %u for prefixlen %u", i,
				  v->port_prefix, k->prefixlen);
	if (v->verdict == VELUM_VERDICT_REDIRECT && !v->proxy_port)
		return errbuf_set(eb, -EINVAL, "entry %zu: redirect without a proxy port", i);
	return 0;
}

int dp_policy_build(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		    const struct velum_policy_value *vals, size_t n, struct dp_policy_built *out,
		    struct errbuf *eb)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_NO_PREALLOC);
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);
	char name[16], path[PATH_MAX], tmp[PATH_MAX];
	size_t i;
	int fd, err;

	out->fd = -1;
	if (n > VELUM_POLICY_MAP_MAX) {
		return errbuf_set(eb, -E2BIG, "%zu entries: more than %d", n, VELUM_POLICY_MAP_MAX);
	}
	for (i = 0; i < n; i++) {
		err = policy_validate(&keys[i], &vals[i], i, eb);
		if (err)
			return err;
	}
	snprintf(name, sizeof(name), VELUM_POLICY_INNER_FMT, ep_id);
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, name, sizeof(struct velum_policy_key),
			    sizeof(struct velum_policy_value), VELUM_POLICY_MAP_MAX, &mo);
	if (fd < 0) {
		err = -errno;
		errbuf_set(eb, err, "create policy map: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_NOEXIST)) {
			err = -errno;
			if (err == -EEXIST)
				err = errbuf_set(eb, -EINVAL, "entry %zu: duplicate key", i);
			else
				errbuf_set(eb, err, "entry %zu: %s", i, strerror(-err));
			goto err_close;
		}
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen)) {
		err = -errno;
		errbuf_set(eb, err, "policy map info: %s", strerror(-err));
		goto err_close;
	}
	/* the pin (for bpftool) names the newest map; it is not what the programs read */
	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, name);
	snprintf(tmp, sizeof(tmp), "%.4000s_new" /* bpffs refuses dots */, path);
	unlink(tmp);
	err = bpf_obj_pin(fd, tmp);
	if (!err && rename(tmp, path) == -1)
		err = -errno;
	if (err) {
		unlink(tmp);
		errbuf_set(eb, err, "pin %s: %s", path, strerror(-err));
		goto err_close;
	}
	out->ep_id = ep_id;
	out->map_id = info.id;
	out->fd = fd;
	return 0;

err_close:
	close(fd);
	return err;
}

int dp_policy_publish(struct dp *dp, struct dp_policy_built *b, struct errbuf *eb)
{
	int err = 0;

	if (bpf_map_update_elem(dp->map_fd[DP_MAP_POLICY], &b->ep_id, &b->fd, BPF_ANY)) {
		err = -errno;
		errbuf_set(eb, err, "swap policy map: %s", strerror(-err));
	}
	dp_policy_built_discard(b);
	return err;
}

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's, not in the UAPI headers */
#endif

int dp_policy_publish_many(struct dp *dp, struct dp_policy_built *b, size_t n, struct errbuf *eb)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	__u32 *keys = calloc(n ? n : 1, sizeof(*keys)), count = (__u32)n;
	int *fds = calloc(n ? n : 1, sizeof(*fds));
	size_t i, done = 0;
	int err = 0;

	if (!keys || !fds) {
		err = errbuf_set(eb, -ENOMEM, "swap policy maps: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		keys[i] = b[i].ep_id;
		fds[i] = b[i].fd;
	}
	/* one syscall, one grace period at its end for all of them */
	if (n > 1 && !bpf_map_update_batch(dp->map_fd[DP_MAP_POLICY], keys, fds, &count, &bo))
		goto out;
	if (n > 1 && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUPP) {
		err = -errno;
		errbuf_set(eb, err, "swap policy maps (%u of %zu done): %s", count, n,
			   strerror(-err));
		goto out;
	}
	/* a kernel without batch updates of this map type: one by one */
	for (done = n > 1 ? count : 0; done < n; done++) {
		if (bpf_map_update_elem(dp->map_fd[DP_MAP_POLICY], &keys[done], &fds[done],
					BPF_ANY)) {
			err = -errno;
			errbuf_set(eb, err, "swap policy map of endpoint %u: %s", keys[done],
				   strerror(-err));
			break;
		}
	}
out:
	for (i = 0; i < n; i++)
		dp_policy_built_discard(&b[i]);
	free(keys);
	free(fds);
	return err;
}

void dp_policy_built_discard(struct dp_policy_built *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

int dp_policy_live(struct dp *dp, __u32 ep_id, __u32 map_id)
{
	__u32 id;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_POLICY], &ep_id, &id))
		return -errno;
	return id == map_id;
}

int dp_policy_install(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		      const struct velum_policy_value *vals, size_t n, struct errbuf *eb)
{
	struct dp_policy_built b;
	int err = dp_policy_build(dp, ep_id, keys, vals, n, &b, eb);

	return err ? err : dp_policy_publish(dp, &b, eb);
}

int dp_policy_apply(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		    const struct velum_policy_value *vals, size_t n, struct errbuf *eb)
{
	__u32 inner_id;

	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_POLICY], &ep_id, &inner_id)) {
		return errbuf_set(eb, -ENOENT, "endpoint %u: unknown", ep_id);
	}
	return dp_policy_install(dp, ep_id, keys, vals, n, eb);
}

void dp_policy_drop(struct dp *dp, __u32 ep_id)
{
	char path[PATH_MAX], name[16];

	bpf_map_delete_elem(dp->map_fd[DP_MAP_POLICY], &ep_id);
	snprintf(name, sizeof(name), VELUM_POLICY_INNER_FMT, ep_id);
	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, name);
	unlink(path);
}

int dp_policy_read(struct dp *dp, __u32 ep_id, struct velum_policy_key **keys,
		   struct velum_policy_value **vals, size_t *n)
{
	struct velum_policy_key k, prevk, *prev = NULL, *nk;
	struct velum_policy_value *nv;
	size_t cap = 0;
	__u32 inner_id;
	int fd, err = 0;

	*keys = NULL;
	*vals = NULL;
	*n = 0;
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_POLICY], &ep_id, &inner_id))
		return errno == ENOENT ? -ENOENT : -errno;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -errno;
	while (bpf_map_get_next_key(fd, prev, &k) == 0) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			nk = realloc(*keys, cap * sizeof(*nk));
			if (nk)
				*keys = nk;
			nv = realloc(*vals, cap * sizeof(*nv));
			if (nv)
				*vals = nv;
			if (!nk || !nv) {
				err = -ENOMEM;
				break;
			}
		}
		if (bpf_map_lookup_elem(fd, &k, &(*vals)[*n]) == 0)
			(*keys)[(*n)++] = k;
		prevk = k;
		prev = &prevk;
	}
	close(fd);
	if (err) {
		free(*keys);
		free(*vals);
		*keys = NULL;
		*vals = NULL;
		*n = 0;
	}
	return err;
}

/*
 * Reads every entry of map fd into a new array (*out, free()) of *n
 * records of rsize bytes: the key (ksize bytes) at offset 0, the value at
 * voff. Entries deleted while iterating are skipped. 0 or -ENOMEM.
 */
static int map_read_all(int fd, size_t ksize, size_t voff, size_t rsize, void **out, size_t *n)
{
	unsigned char k[16], prevk[16], *v = NULL, *nv;
	void *prev = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (ksize > sizeof(k))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, prev, k) == 0) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * rsize);
			if (!nv) {
				free(v);
				*n = 0;
				return -ENOMEM;
			}
			v = nv;
		}
		if (bpf_map_lookup_elem(fd, k, v + *n * rsize + voff) == 0)
			memcpy(v + (*n)++ * rsize, k, ksize);
		memcpy(prevk, k, ksize);
		prev = prevk;
	}
	*out = v;
	return 0;
}

int dp_ipcache_list(struct dp *dp, struct dp_ipcache_entry **out, size_t *n)
{
	return map_read_all(dp->map_fd[DP_MAP_IPCACHE], sizeof((*out)->key),
			    offsetof(struct dp_ipcache_entry, val), sizeof(**out), (void **)out, n);
}

int dp_lxc_list(struct dp *dp, struct dp_lxc_entry **out, size_t *n)
{
	return map_read_all(dp->map_fd[DP_MAP_LXC], sizeof((*out)->addr),
			    offsetof(struct dp_lxc_entry, val), sizeof(**out), (void **)out, n);
}

int dp_ipcache_update(struct dp *dp, __be32 addr, int plen, __u32 identity)
{
	struct velum_ipcache_key k = { .prefixlen = plen, .addr = addr };
	struct velum_ipcache_value v = { 0 };
	int fd = dp->map_fd[DP_MAP_IPCACHE];

	if (plen < 0 || plen > 32 || (plen < 32 && (ntohl(addr) & (0xffffffffu >> plen))))
		return -EINVAL;
	/* keep the local endpoint link of an endpoint's own address */
	if (bpf_map_lookup_elem(fd, &k, &v))
		memset(&v, 0, sizeof(v));
	v.identity = identity;
	if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

int dp_ipcache_delete(struct dp *dp, __be32 addr, int plen)
{
	struct velum_ipcache_key k = { .prefixlen = plen, .addr = addr };
	struct velum_ipcache_value v;
	int fd = dp->map_fd[DP_MAP_IPCACHE];

	if (bpf_map_lookup_elem(fd, &k, &v))
		return -ENOENT;
	if (v.flags & VELUM_IPCACHE_F_LOCAL_EP)
		return -EBUSY;
	if (bpf_map_delete_elem(fd, &k))
		return -errno;
	return 0;
}

static int on_ring(void *ctx, void *data, size_t len)
{
	struct dp *dp = ctx;

	if (len < sizeof(struct velum_event) || !dp->ev_fn)
		return 0;
	dp->ev_count++;
	dp->ev_stop = dp->ev_fn(dp->ev_ctx, data);
	return dp->ev_stop;
}

int dp_events_poll(struct dp *dp, int timeout_ms, dp_event_fn fn, void *ctx)
{
	int err;

	if (!dp->rb) {
		dp->rb = ring_buffer__new(dp->map_fd[DP_MAP_EVENTS], on_ring, dp, NULL);
		if (!dp->rb)
			return -errno;
	}
	dp->ev_fn = fn;
	dp->ev_ctx = ctx;
	dp->ev_count = 0;
	dp->ev_stop = 0;
	err = timeout_ms ? ring_buffer__poll(dp->rb, timeout_ms) : ring_buffer__consume(dp->rb);
	if (dp->ev_stop)
		return dp->ev_stop;
	if (err < 0 && err != -EINTR)
		return err;
	return dp->ev_count;
}

/* Sums entry idx of a per-CPU array of struct velum_metrics_value. */
static int percpu_sum(int fd, __u32 idx, __u64 *packets, __u64 *bytes)
{
	int ncpu = libbpf_num_possible_cpus();
	struct velum_metrics_value *v;
	int i;

	if (ncpu < 0)
		return ncpu;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &idx, v)) {
		free(v);
		return -errno;
	}
	*packets = *bytes = 0;
	for (i = 0; i < ncpu; i++) {
		*packets += v[i].packets;
		*bytes += v[i].bytes;
	}
	free(v);
	return 0;
}

int dp_metrics_read(struct dp *dp, int dir, unsigned int code, __u64 *packets, __u64 *bytes)
{
	if (code >= VELUM_METRICS_PER_DIR)
		return -EINVAL;
	return percpu_sum(dp->map_fd[DP_MAP_METRICS], (dir ? VELUM_METRICS_PER_DIR : 0) + code,
			  packets, bytes);
}

int dp_sock_stats_read(struct dp *dp, unsigned int stat, __u64 *sends, __u64 *bytes)
{
	if (stat >= VELUM_SOCK_STAT_N)
		return -EINVAL;
	return percpu_sum(dp->map_fd[DP_MAP_SOCK_STATS], stat, sends, bytes);
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Deletes CT entries that are expired (if expired) or involve addr (if
 * non-zero). Two passes: deleting while iterating a hash map restarts the
 * iteration, so the victims are collected first.
 */
static int ct_sweep(struct dp *dp, bool expired, __be32 addr)
{
	int fd = dp->map_fd[DP_MAP_CT];
	struct velum_ct_key key, *prev = NULL, *victims = NULL, *nv;
	size_t nvict = 0, cap = 0, i;
	struct velum_ct_entry e;
	__u64 now = mono_ns();
	int n = 0;

	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &e))
			continue;
		if (!(expired && e.expires_ns <= now) &&
		    !(addr && (key.saddr == addr || key.daddr == addr)))
			continue;
		if (nvict == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(victims, cap * sizeof(*victims));
			if (!nv) {
				free(victims);
				return -ENOMEM;
			}
			victims = nv;
		}
		victims[nvict++] = key;
	}
	for (i = 0; i < nvict; i++)
		if (bpf_map_delete_elem(fd, &victims[i]) == 0)
			n++;
	free(victims);
	return n;
}

int dp_ct_gc(struct dp *dp)
{
	return ct_sweep(dp, true, 0);
}

void dp_ct_purge_addr(struct dp *dp, __be32 addr)
{
	ct_sweep(dp, false, addr);
}

int dp_ct_count(struct dp *dp)
{
	int fd = dp->map_fd[DP_MAP_CT];
	struct velum_ct_key key, *prev = NULL;
	struct velum_ct_entry e;
	__u64 now = mono_ns();
	int n = 0;

	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		if (bpf_map_lookup_elem(fd, &key, &e) == 0 && e.expires_ns > now)
			n++;
		prev = &key;
	}
	return n;
}

/* Keys of the map fd, counted by walking them; -errno if the walk fails. */
static int map_count(int fd, uint32_t key_size)
{
	char key[64], next[64];
	int n = 0, err;

	if (key_size > sizeof(key))
		return -E2BIG;
	for (err = bpf_map_get_next_key(fd, NULL, next); !err;
	     err = bpf_map_get_next_key(fd, key, next)) {
		memcpy(key, next, key_size);
		n++;
	}
	return errno == ENOENT ? n : -errno;
}

int dp_maps_fill(struct dp *dp, void (*fn)(void *ctx, const char *name, __u32 n, __u32 max),
		 void *ctx)
{
	int i, n, first = 0;

	for (i = 0; i < DP_MAP_N; i++) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);

		if (dp->map_fd[i] < 0 || bpf_obj_get_info_by_fd(dp->map_fd[i], &info, &len)) {
			if (!first)
				first = dp->map_fd[i] < 0 ? -EBADF : -errno;
			continue;
		}
		switch (info.type) {
		case BPF_MAP_TYPE_HASH:
		case BPF_MAP_TYPE_LRU_HASH:
		case BPF_MAP_TYPE_LPM_TRIE:
		case BPF_MAP_TYPE_SOCKHASH:
		case BPF_MAP_TYPE_HASH_OF_MAPS:
			break;
		default:
			continue;
		}
		n = i == DP_MAP_CT ? dp_ct_count(dp) : map_count(dp->map_fd[i], info.key_size);
		if (n < 0) {
			if (!first)
				first = n;
			continue;
		}
		fn(ctx, map_names[i], (__u32)n, info.max_entries);
	}
	return first;
}

int dp_ct_list(struct dp *dp, struct dp_ct_record **out, size_t *n)
{
	__u64 now = mono_ns();
	size_t i, live = 0;
	int err = map_read_all(dp->map_fd[DP_MAP_CT], sizeof((*out)->key),
			       offsetof(struct dp_ct_record, val), sizeof(**out), (void **)out, n);

	if (err)
		return err;
	for (i = 0; i < *n; i++)
		if ((*out)[i].val.expires_ns > now)
			(*out)[live++] = (*out)[i];
	*n = live;
	return 0;
}

int dp_prog_fd(struct dp *dp, bool from_container)
{
	return from_container ? dp->prog_from : dp->prog_to;
}

const char *dp_pin_dir(struct dp *dp)
{
	return dp->pin_dir;
}

bool dp_pool_contains(const struct dp *dp, __be32 addr)
{
	return (addr & dp->pool_mask) == dp->pool_addr;
}

int dp_pins_check(struct dp *dp, struct errbuf *eb)
{
	const char *progs[] = { VELUM_PROG_FROM, VELUM_PROG_TO, VELUM_PROG_PROXY_LO,
				VELUM_PROG_SOCKOPS, VELUM_PROG_SK_MSG };
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < DP_MAP_N + sizeof(progs) / sizeof(progs[0]); i++) {
		err = pin_path(dp, path, sizeof(path),
			       i < DP_MAP_N ? map_names[i] : progs[i - DP_MAP_N]);
		if (err)
			return errbuf_set(eb, err, "pin path too long in %s", dp->pin_dir);
		if (access(path, F_OK) == -1) {
			err = -errno;
			return errbuf_set(eb, err,
					  "%s: %s (the pinned datapath was removed: restarting "
					  "velumd loads it anew and re-creates the endpoints)",
					  path, strerror(-err));
		}
	}
	return 0;
}
