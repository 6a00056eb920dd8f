// SPDX-License-Identifier: Apache-2.0
/*
 * Endpoint plumbing: namespaces (created like `ip netns add`, or adopted),
 * veth pairs, addresses, routes and the gateway neighbour, sysctls on both
 * sides, and the endpoint's map entries and program attachment. Every step
 * of dp_endpoint_add() is undone in reverse on failure.
 */
#include "datapath/dp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "datapath/dp_internal.h"
#include "datapath/nl.h"
#include "velum/ipcache.h"

#define NETNS_RUN_DIR "/run/netns"

/*
 * Writes value to a /proc/sys file as seen from namespace netns_fd (-1:
 * ours); with old (size olen) non-NULL, first reads the value it replaces
 * into old (one line, newline dropped).
 */
static int sysctl_swap(int netns_fd, const char *path, const char *value, char *old, size_t olen)
{
	int self = -1, fd, err = 0;
	ssize_t n;

	if (netns_fd >= 0) {
		/* /proc/sys/net shows the namespace of whoever opens it */
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self == -1)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) == -1) {
			err = -errno;
			close(self);
			return err;
		}
	}
	fd = open(path, (old ? O_RDWR : O_WRONLY) | O_CLOEXEC);
	if (fd == -1)
		err = -errno;
	if (self >= 0) {
		if (setns(self, CLONE_NEWNET) == -1 && !err)
			err = -errno;
		close(self);
	}
	if (err)
		return err;
	if (old) {
		n = read(fd, old, olen - 1);
		if (n <= 0) {
			err = n == -1 ? -errno : -EIO;
			goto out;
		}
		old[n] = '\0';
		old[strcspn(old, "\n")] = '\0';
		if (lseek(fd, 0, SEEK_SET) == -1) {
			err = -errno;
			goto out;
		}
	}
	n = write(fd, value, strlen(value));
	if (n == -1)
		err = -errno;
out:
	close(fd);
	return err;
}

/* The cookie of namespace netns_fd (SO_NETNS_COOKIE, kernel 5.14+), or 0. */
static __u64 netns_cookie_of(int netns_fd)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd;
	socklen_t len = sizeof(__u64);
	__u64 cookie = 0;

	if (self == -1)
		return 0;
	if (setns(netns_fd, CLONE_NEWNET) == 0) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
				cookie = 0;
			close(fd);
		}
		if (setns(self, CLONE_NEWNET) == -1)
			cookie = 0; /* as sysctl_swap(): the way back never fails in practice */
	}
	close(self);
	return cookie;
}

static int sysctl_write(int netns_fd, const char *path, const char *value)
{
	return sysctl_swap(netns_fd, path, value, NULL, 0);
}

/* Is fd a network namespace (an nsfs file of type CLONE_NEWNET)? */
static bool fd_is_netns(int fd)
{
	return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

/*
 * Opens a namespace to adopt without blocking (a FIFO or device never
 * stalls the caller) and refuses what is not a network namespace, and
 * velumd's own: configuring it would rewire the host. Returns the fd, or a
 * negative errno with eb set.
 */
static int netns_open_adopted(const char *path, struct errbuf *eb)
{
	struct stat st, self;
	int fd, err;

	if (stat(path, &st) == -1) {
		err = -errno;
		return errbuf_set(eb, err, "namespace %s: %s", path, strerror(-err));
	}
	/* an nsfs inode (a /proc/PID/ns/net link or its bind mount) is a regular file */
	if (!S_ISREG(st.st_mode))
		return errbuf_set(eb, -EINVAL, "namespace %s: not a network namespace", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1) {
		err = -errno;
		return errbuf_set(eb, err, "open namespace %s: %s", path, strerror(-err));
	}
	if (!fd_is_netns(fd)) {
		err = errbuf_set(eb, -EINVAL, "namespace %s: not a network namespace", path);
		goto err_close;
	}
	if (fstat(fd, &st) == -1 || stat("/proc/self/ns/net", &self) == -1) {
		err = -errno;
		errbuf_set(eb, err, "namespace %s: %s", path, strerror(-err));
		goto err_close;
	}
	if (st.st_dev == self.st_dev && st.st_ino == self.st_ino) {
		err = errbuf_set(eb, -EINVAL,
				 "namespace %s: velumd's own network namespace (the host's)", path);
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return err;
}

/*
 * Makes NETNS_RUN_DIR a shared mount point, as `ip netns add` does. Both
 * must agree: if iproute2 later turns the folder into a (recursive) bind
 * mount of itself, namespace mounts made before would exist twice and
 * unmounting one copy would leave the other pinning the file.
 */
static int netns_run_dir_shared(void)
{
	bool made = false;

	if (mkdir(NETNS_RUN_DIR, 0755) == -1 && errno != EEXIST)
		return -errno;
	while (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == -1) {
		if (errno != EINVAL || made)
			return -errno;
		/* not a mount point yet */
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) == -1)
			return -errno;
		made = true;
	}
	return 0;
}

static void netns_delete(const char *path)
{
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* Creates a named namespace at path (like `ip netns add`). */
static int netns_create(const char *path)
{
	int self, fd, err;

	err = netns_run_dir_shared();
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd == -1 && errno == EEXIST) {
		/*
		 * Our name for an endpoint the datapath does not know (the caller
		 * checked, under the lock): what a crash left between making the
		 * file and mounting on it (or unmounting and unlinking), or a
		 * namespace whose endpoint is gone. Remove it, then make it anew.
		 */
		netns_delete(path);
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	}
	if (fd == -1)
		return -errno;
	close(fd);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self == -1) {
		err = -errno;
		goto err_unlink;
	}
	/* a fresh namespace for this thread, kept alive by a bind mount */
	if (unshare(CLONE_NEWNET) == -1) {
		err = -errno;
		goto err_close;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) == -1)
		err = -errno;
	if (setns(self, CLONE_NEWNET) == -1 && !err)
		err = -errno;
	close(self);
	if (err)
		goto err_umount;
	return 0;

err_close:
	close(self);
	goto err_unlink;
err_umount:
	umount2(path, MNT_DETACH);
err_unlink:
	unlink(path);
	return err;
}

static void netns_path(const struct dp *dp, __u32 ep_id, char *buf, size_t len)
{
	snprintf(buf, len, NETNS_RUN_DIR "/%s%u", dp->netns_prefix, ep_id);
}

static void fill_out(const struct dp *dp, const struct velum_endpoint_info *info,
		     struct dp_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	out->ep_id = info->ep_id;
	out->identity = info->identity;
	out->ipv4 = info->ipv4;
	out->host_ifindex = info->ifindex;
	snprintf(out->host_ifname, sizeof(out->host_ifname), "%s%u", dp->ifname_prefix,
		 info->ep_id);
	if (info->flags & VELUM_EP_F_OWN_NETNS)
		netns_path(dp, info->ep_id, out->netns, sizeof(out->netns));
}

int dp_endpoint_get(struct dp *dp, __u32 ep_id, struct dp_endpoint *out)
{
	struct velum_endpoint_info info;
	int err = dp_endpoint_find(dp, ep_id, &info);

	if (!err && out)
		fill_out(dp, &info, out);
	return err;
}

int dp_endpoint_list(struct dp *dp, struct dp_endpoint *out, size_t max)
{
	struct velum_endpoint_info info;
	__u32 key, *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(dp->map_fd[DP_MAP_ENDPOINTS], prev, &key) == 0) {
		if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_ENDPOINTS], &key, &info) == 0) {
			if (n < max)
				fill_out(dp, &info, &out[n]);
			n++;
		}
		prev = &key;
	}
	return n;
}

/* The lowest free pool address (network and broadcast excluded), or -ENOSPC. */
static int pool_alloc(struct dp *dp, __be32 *out)
{
	__u32 size = 1u << (32 - dp->pool_plen), base = ntohl(dp->pool_addr), i;
	struct velum_endpoint_info info;
	__u32 key, *prev = NULL;
	unsigned char *used = calloc((size + 7) / 8, 1);

	if (!used)
		return -ENOMEM;
	while (bpf_map_get_next_key(dp->map_fd[DP_MAP_ENDPOINTS], prev, &key) == 0) {
		if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_ENDPOINTS], &key, &info) == 0) {
			__u32 off = ntohl(info.ipv4) - base;

			if (off < size)
				used[off / 8] |= 1u << (off % 8);
		}
		prev = &key;
	}
	for (i = 1; i + 1 < size; i++) {
		if (!(used[i / 8] & (1u << (i % 8)))) {
			*out = htonl(base + i);
			free(used);
			return 0;
		}
	}
	free(used);
	return -ENOSPC;
}

static bool addr_in_use(struct dp *dp, __be32 addr)
{
	struct velum_endpoint_info info;
	__u32 key, *prev = NULL;

	while (bpf_map_get_next_key(dp->map_fd[DP_MAP_ENDPOINTS], prev, &key) == 0) {
		if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_ENDPOINTS], &key, &info) == 0 &&
		    info.ipv4 == addr)
			return true;
		prev = &key;
	}
	return false;
}

static int set_ipcache_local(struct dp *dp, __be32 addr, __u32 identity, __u32 ep_id)
{
	struct velum_ipcache_key k = { .prefixlen = 32, .addr = addr };
	struct velum_ipcache_value v = { .identity = identity,
					 .ep_id = ep_id,
					 .flags = VELUM_IPCACHE_F_LOCAL_EP };

	if (bpf_map_update_elem(dp->map_fd[DP_MAP_IPCACHE], &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * BPF host routing's entry for the endpoint (velum/endpoint.h), from its
 * veth pair as the kernel reports it: written once its links are
 * configured, so the programs never redirect into a half-made endpoint;
 * rewritten for every endpoint by a reload (an upgrade from a datapath
 * without velum_lxc, or MACs changed meanwhile).
 */
int dp_lxc_sync(struct dp *dp, struct dp_nl *host, const struct velum_endpoint_info *info)
{
	struct velum_lxc_value v = { .ep_id = info->ep_id,
				     .identity = info->identity,
				     .ifindex = info->ifindex };
	__be32 addr = info->ipv4;
	int err = dp_nl_peer_mac(host, info->ifindex, v.eth);

	if (!err)
		err = dp_nl_link_mac(host, info->ifindex, v.eth + 6);
	if (!err && bpf_map_update_elem(dp->map_fd[DP_MAP_LXC], &addr, &v, BPF_ANY))
		err = -errno;
	return err;
}

static void del_lxc(struct dp *dp, __be32 addr)
{
	bpf_map_delete_elem(dp->map_fd[DP_MAP_LXC], &addr);
}

static void del_ipcache(struct dp *dp, __be32 addr)
{
	struct velum_ipcache_key k = { .prefixlen = 32, .addr = addr };

	bpf_map_delete_elem(dp->map_fd[DP_MAP_IPCACHE], &k);
}

/* Inside the namespace: links up, address, routes via the gateway, its neighbour entry. */
static int configure_inside(struct dp_nl *nl, const char *ifname, __be32 addr, const __u8 mac[6],
			    struct errbuf *eb)
{
	__be32 gw;
	int idx, lo, err;

	inet_pton(AF_INET, DP_GATEWAY, &gw);
	idx = dp_nl_link_index(nl, ifname);
	if (idx < 0)
		return errbuf_set(eb, idx, "%s inside: %s", ifname, strerror(-idx));
	lo = dp_nl_link_index(nl, "lo");
	err = lo < 0 ? lo : dp_nl_link_up(nl, lo);
	if (!err)
		err = dp_nl_addr_add(nl, idx, addr, 32);
	if (!err)
		err = dp_nl_link_up(nl, idx);
	if (!err)
		err = dp_nl_neigh_add(nl, idx, gw, mac);
	if (!err)
		err = dp_nl_route_add(nl, idx, gw, 32, 0, RT_SCOPE_LINK);
	if (!err)
		err = dp_nl_route_add(nl, idx, 0, 0, gw, RT_SCOPE_UNIVERSE);
	if (err)
		errbuf_set(eb, err, "configure %s inside: %s", ifname, strerror(-err));
	return err;
}

/*
 * The new endpoint's policy map published into the outer map: the kernel
 * waits for an RCU grace period (about 9 ms here) before the update
 * returns, although no program can be using an old map of a new endpoint.
 * A thread sits it out while the caller attaches the programs (two more
 * grace periods, under rtnl); joined before any link is up.
 */
struct publish_job {
	struct dp *dp;
	struct dp_policy_built b;
	struct errbuf eb;
	pthread_t thr;
	bool started;
	int err;
};

static void *publish_thread(void *arg)
{
	struct publish_job *j = arg;

	j->err = dp_policy_publish(j->dp, &j->b, &j->eb);
	return NULL;
}

/* Starts j's publish (inline if no thread can be made). */
static void publish_start(struct publish_job *j)
{
	errbuf_clear(&j->eb);
	j->started = !pthread_create(&j->thr, NULL, publish_thread, j);
	if (!j->started)
		publish_thread(j);
}

/* Waits for j's publish; its error, with eb set from j's. */
static int publish_join(struct publish_job *j, struct errbuf *eb)
{
	if (j->started)
		pthread_join(j->thr, NULL);
	j->started = false;
	if (j->err)
		errbuf_set(eb, j->err, "%s", j->eb.msg);
	return j->err;
}

int dp_endpoint_add(struct dp *dp, const struct dp_endpoint_opts *o, struct dp_endpoint *out,
		    struct errbuf *eb)
{
	struct publish_job pub = { .dp = dp, .b = { .fd = -1 } };
	struct velum_policy_key keys[2];
	struct velum_policy_value vals[2];
	struct velum_endpoint_info info = { 0 };
	struct dp_nl host = { .fd = -1 }, inside = { .fd = -1 };
	char host_if[16], nspath[PATH_MAX], sysctl[128], v6_all[8] = "", v6_def[8] = "";
	const char *ifname = o->ifname ? o->ifname : "eth0";
	bool own_ns = !o->netns_path;
	__u8 mac[6];
	__be32 addr = o->ipv4;
	int nsfd = -1, ifindex = -1, err;
	__u64 cookie;
	__u32 ifkey;

	if (o->ep_id == 0 || o->ep_id > VELUM_EP_ID_MAX)
		return errbuf_set(eb, -EINVAL, "endpoint id %u: not in 1..%u", o->ep_id,
				  VELUM_EP_ID_MAX);
	if (strlen(ifname) >= 16)
		return errbuf_set(eb, -EINVAL, "interface name %s: too long", ifname);
	snprintf(host_if, sizeof(host_if), "%s%u", dp->ifname_prefix, o->ep_id);
	err = dp_lock(dp);
	if (err)
		return err;
	if (dp_endpoint_find(dp, o->ep_id, &info) == 0) {
		err = -EEXIST;
		errbuf_set(eb, err, "endpoint %u: exists", o->ep_id);
		goto err_unlock;
	}
	if (addr) {
		if ((addr & dp->pool_mask) != dp->pool_addr || addr_in_use(dp, addr)) {
			err = addr_in_use(dp, addr) ? -EEXIST : -EINVAL;
			errbuf_set(eb, -EINVAL, "address: %s",
				   err == -EEXIST ? "in use" : "outside the pool");
			goto err_unlock;
		}
	} else {
		err = pool_alloc(dp, &addr);
		if (err) {
			errbuf_set(eb, -EINVAL, "address pool exhausted");
			goto err_unlock;
		}
	}

	/* the namespace: nothing in an adopted one changes before the veth is made */
	if (own_ns) {
		netns_path(dp, o->ep_id, nspath, sizeof(nspath));
		err = netns_create(nspath);
		if (err) {
			errbuf_set(eb, err, "create namespace %s: %s", nspath, strerror(-err));
			goto err_unlock;
		}
		nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
		if (nsfd == -1) {
			err = -errno;
			errbuf_set(eb, err, "open namespace %s: %s", nspath, strerror(-err));
			goto err_netns;
		}
	} else {
		snprintf(nspath, sizeof(nspath), "%s", o->netns_path);
		nsfd = netns_open_adopted(nspath, eb);
		if (nsfd < 0) {
			err = nsfd;
			goto err_unlock;
		}
	}

	/* the veth pair, host side here, peer inside */
	err = dp_nl__open(&host, -1);
	if (!err)
		err = dp_nl__open(&inside, nsfd);
	if (err) {
		errbuf_set(eb, err, "netlink: %s", strerror(-err));
		goto err_nl;
	}
	/* our name for an endpoint the datapath does not know: a crash's leftover */
	ifindex = dp_nl_link_index(&host, host_if);
	if (ifindex > 0)
		dp_nl_link_del(&host, ifindex);
	ifindex = -1;
	if (dp_nl_link_index(&inside, ifname) >= 0) {
		err = -EEXIST;
		errbuf_set(eb, err, "namespace %s: has an interface %s already", nspath, ifname);
		goto err_nl;
	}
	err = dp_nl_veth_add(&host, host_if, ifname, nsfd);
	if (err) {
		errbuf_set(eb, err, "create veth %s: %s", host_if, strerror(-err));
		goto err_nl;
	}
	ifindex = dp_nl_link_index(&host, host_if);
	err = ifindex < 0 ? ifindex : dp_nl_link_mac(&host, ifindex, mac);
	if (err) {
		errbuf_set(eb, err, "veth %s: %s", host_if, strerror(-err));
		goto err_link;
	}
	/*
	 * IPv6 off inside before the peer goes up (it has no address while
	 * down); the adopted namespace's settings come back on failure.
	 */
	err = sysctl_swap(nsfd, "/proc/sys/net/ipv6/conf/all/disable_ipv6", "1", v6_all,
			  sizeof(v6_all));
	if (!err)
		err = sysctl_swap(nsfd, "/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", v6_def,
				  sizeof(v6_def));
	if (err && err != -ENOENT) {
		errbuf_set(eb, err, "namespace %s: disable IPv6: %s", nspath, strerror(-err));
		goto err_link;
	}
	err = 0;

	/* maps and programs before any link is up: the first packet is policed */
	info.ep_id = o->ep_id;
	info.identity = o->identity;
	info.ipv4 = addr;
	info.ifindex = ifindex;
	info.flags = own_ns ? VELUM_EP_F_OWN_NETNS : 0;
	if (o->keys) {
		err = dp_policy_build(dp, o->ep_id, o->keys, o->vals, o->npolicy, &pub.b, eb);
	} else {
		dp_policy_default_allow(keys, vals);
		err = dp_policy_build(dp, o->ep_id, keys, vals, 2, &pub.b, eb);
	}
	if (err)
		goto err_link;
	publish_start(&pub);
	ifkey = ifindex;
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_ENDPOINTS], &ifkey, &info, BPF_NOEXIST)) {
		err = -errno;
		errbuf_set(eb, err, "endpoint map: %s", strerror(-err));
		goto err_policy;
	}
	err = set_ipcache_local(dp, addr, o->identity, o->ep_id);
	if (err) {
		errbuf_set(eb, err, "ipcache: %s", strerror(-err));
		goto err_epmap;
	}
	err = dp_attach(dp, ifindex);
	if (err) {
		errbuf_set(eb, err, "attach programs to %s: %s", host_if, strerror(-err));
		goto err_ipcache;
	}
	/* the policy is in place before any link is up */
	err = publish_join(&pub, eb);
	if (err)
		goto err_ipcache;

	/* host side: forwarding, the link, the route to the endpoint */
	err = sysctl_write(-1, "/proc/sys/net/ipv4/ip_forward", "1");
	snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv4/conf/%s/proxy_arp", host_if);
	if (!err)
		err = sysctl_write(-1, sysctl, "1");
	/*
	 * No IPv6 on the host side either (best effort: the host may have none):
	 * its link-local chatter would otherwise be counted and reported as
	 * "Unsupported L3 protocol" drops.
	 */
	snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", host_if);
	if (!err)
		sysctl_write(-1, sysctl, "1");
	if (!err)
		err = dp_nl_link_up(&host, ifindex);
	if (!err)
		err = dp_nl_route_add(&host, ifindex, addr, 32, 0, RT_SCOPE_LINK);
	if (err) {
		errbuf_set(eb, err, "configure %s: %s", host_if, strerror(-err));
		goto err_ipcache;
	}
	err = configure_inside(&inside, ifname, addr, mac, eb);
	if (err)
		goto err_ipcache;
	err = dp_lxc_sync(dp, &host, &info);
	if (err) {
		errbuf_set(eb, err, "host routing entry for %s: %s", host_if, strerror(-err));
		goto err_ipcache;
	}
	/* the proxy's kernel-carried bytes know the endpoint's sockets by it; none: TCP */
	cookie = netns_cookie_of(nsfd);
	if (cookie)
		bpf_map_update_elem(dp->map_fd[DP_MAP_EP_NETNS], &addr, &cookie, BPF_ANY);

	dp_nl__close(&inside);
	dp_nl__close(&host);
	close(nsfd);
	dp_unlock(dp);
	if (out)
		fill_out(dp, &info, out);
	return 0;

err_ipcache:
	del_ipcache(dp, addr);
err_epmap:
	bpf_map_delete_elem(dp->map_fd[DP_MAP_ENDPOINTS], &ifkey);
err_policy:
	if (pub.started) {
		struct errbuf ignored;

		publish_join(&pub, &ignored);
	}
	dp_policy_drop(dp, o->ep_id);
err_link:
	if (ifindex <= 0)
		ifindex = dp_nl_link_index(&host, host_if);
	if (ifindex > 0)
		dp_nl_link_del(&host, ifindex);
	if (v6_def[0])
		sysctl_write(nsfd, "/proc/sys/net/ipv6/conf/default/disable_ipv6", v6_def);
	if (v6_all[0])
		sysctl_write(nsfd, "/proc/sys/net/ipv6/conf/all/disable_ipv6", v6_all);
err_nl:
	dp_nl__close(&inside);
	dp_nl__close(&host);
	close(nsfd);
err_netns:
	if (own_ns)
		netns_delete(nspath);
err_unlock:
	dp_unlock(dp);
	return err;
}

/*
 * What an endpoint the datapath does not know may have left under our
 * names (a crash mid-delete, a pin folder removed): its host veth and the
 * namespace velumd made for it.
 */
static void remove_leftovers(struct dp *dp, __u32 ep_id)
{
	struct dp_nl host = { .fd = -1 };
	char name[16], nspath[PATH_MAX];
	int idx;

	snprintf(name, sizeof(name), "%s%u", dp->ifname_prefix, ep_id);
	if (dp_nl__open(&host, -1) == 0) {
		idx = dp_nl_link_index(&host, name);
		if (idx > 0)
			dp_nl_link_del(&host, idx);
		dp_nl__close(&host);
	}
	netns_path(dp, ep_id, nspath, sizeof(nspath));
	if (access(nspath, F_OK) == 0)
		netns_delete(nspath);
}

int dp_endpoint_remove(struct dp *dp, __u32 ep_id, struct errbuf *eb)
{
	struct velum_endpoint_info info;
	struct dp_nl host = { .fd = -1 };
	char nspath[PATH_MAX];
	__u32 ifkey;
	int err;

	err = dp_lock(dp);
	if (err)
		return err;
	err = dp_endpoint_find(dp, ep_id, &info);
	if (err) {
		remove_leftovers(dp, ep_id);
		errbuf_set(eb, err, "endpoint %u: unknown", ep_id);
		goto out;
	}
	/* no more redirects into it, then the link: the tc programs go with it */
	del_lxc(dp, info.ipv4);
	bpf_map_delete_elem(dp->map_fd[DP_MAP_EP_NETNS], &info.ipv4);
	err = dp_nl__open(&host, -1);
	if (!err) {
		err = dp_nl_link_del(&host, info.ifindex);
		dp_nl__close(&host);
	}
	if (err && err != -ENODEV) {
		errbuf_set(eb, err, "delete link %u: %s", info.ifindex, strerror(-err));
		goto out;
	}
	err = 0;
	ifkey = info.ifindex;
	bpf_map_delete_elem(dp->map_fd[DP_MAP_ENDPOINTS], &ifkey);
	del_ipcache(dp, info.ipv4);
	dp_policy_drop(dp, ep_id);
	dp_ct_purge_addr(dp, info.ipv4);
	if (info.flags & VELUM_EP_F_OWN_NETNS) {
		netns_path(dp, ep_id, nspath, sizeof(nspath));
		netns_delete(nspath);
	}
out:
	dp_unlock(dp);
	return err;
}

int dp_endpoint_set_identity(struct dp *dp, __u32 ep_id, __u32 identity)
{
	struct velum_endpoint_info info;
	struct velum_lxc_value lxc;
	__u32 ifkey;
	__be32 addr;
	int err = dp_endpoint_find(dp, ep_id, &info);

	if (err)
		return err;
	info.identity = identity;
	ifkey = info.ifindex;
	if (bpf_map_update_elem(dp->map_fd[DP_MAP_ENDPOINTS], &ifkey, &info, BPF_EXIST))
		return -errno;
	addr = info.ipv4;
	if (bpf_map_lookup_elem(dp->map_fd[DP_MAP_LXC], &addr, &lxc) == 0) {
		lxc.identity = identity;
		if (bpf_map_update_elem(dp->map_fd[DP_MAP_LXC], &addr, &lxc, BPF_EXIST))
			return -errno;
	}
	return set_ipcache_local(dp, info.ipv4, identity, ep_id);
}
