// SPDX-License-Identifier: Apache-2.0
/*
 * rtnetlink requests built by hand: a fixed buffer per request, attributes
 * appended in order, nested attributes closed by patching their length.
 * Each request asks for an ACK and reads until it, so the caller learns the
 * kernel's errno for its own request.
 */
#include "datapath/nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_BUF 4096

struct nl_req {
	union {
		struct nlmsghdr h;
		char buf[NL_BUF];
	};
};

static void *nl_tail(struct nl_req *r)
{
	return r->buf + NLMSG_ALIGN(r->h.nlmsg_len);
}

static struct rtattr *nl_put(struct nl_req *r, int type, const void *data, size_t len)
{
	struct rtattr *a = nl_tail(r);

	/* requests are small and fixed; overflowing NL_BUF is a bug */
	if (NLMSG_ALIGN(r->h.nlmsg_len) + RTA_SPACE(len) > sizeof(r->buf))
		return NULL;
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_SPACE(len);
	return a;
}

static struct rtattr *nl_nest(struct nl_req *r, int type)
{
	return nl_put(r, type, NULL, 0);
}

static void nl_nest_end(struct nl_req *r, struct rtattr *a)
{
	a->rta_len = (char *)nl_tail(r) - (char *)a;
}

static void nl_init(struct nl_req *r, int type, int flags, const void *hdr, size_t hlen)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(hlen);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	memcpy(NLMSG_DATA(&r->h), hdr, hlen);
}

/*
 * Sends r and waits for its ACK. If reply is given, the first non-error
 * message is copied there (for GET requests).
 */
static int nl_talk(struct dp_nl *nl, struct nl_req *r, struct nl_req *reply)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[16384];
	bool got = false;
	ssize_t n;

	r->h.nlmsg_seq = ++nl->seq;
	if (sendto(nl->fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -errno;
	for (;;) {
		struct nlmsghdr *h;

		n = recv(nl->fd, buf, sizeof(buf), 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != nl->seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				/* error 0 is the ACK */
				return e->error;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return got ? 0 : -ENOENT;
			if (reply && !got && h->nlmsg_len <= sizeof(reply->buf)) {
				memcpy(reply->buf, h, h->nlmsg_len);
				got = true;
			}
		}
	}
}

int dp_nl__open(struct dp_nl *nl, int netns_fd)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int self = -1, err = 0;

	nl->fd = -1;
	nl->seq = 0;
	if (netns_fd >= 0) {
		/* a socket lives in the namespace it was created in */
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self == -1)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) == -1) {
			err = -errno;
			goto out;
		}
	}
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd == -1)
		err = -errno;
	if (self >= 0 && setns(self, CLONE_NEWNET) == -1 && !err)
		err = -errno;
	if (!err && bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		err = -errno;
out:
	if (self >= 0)
		close(self);
	if (err && nl->fd >= 0) {
		close(nl->fd);
		nl->fd = -1;
	}
	return err;
}

void dp_nl__close(struct dp_nl *nl)
{
	if (nl && nl->fd > 0) {
		close(nl->fd);
		nl->fd = -1;
	}
}

int dp_nl_veth_add(struct dp_nl *nl, const char *host_name, const char *peer_name,
		   int peer_netns_fd)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *linkinfo, *data, *peer;
	struct nl_req r;
	__u32 nsfd = peer_netns_fd;

	nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	nl_put(&r, IFLA_IFNAME, host_name, strlen(host_name) + 1);
	linkinfo = nl_nest(&r, IFLA_LINKINFO);
	nl_put(&r, IFLA_INFO_KIND, "veth", 5);
	data = nl_nest(&r, IFLA_INFO_DATA);
	peer = nl_nest(&r, VETH_INFO_PEER);
	/* the peer's payload starts with its own ifinfomsg */
	r.h.nlmsg_len += sizeof(struct ifinfomsg);
	memset((char *)peer + RTA_LENGTH(0), 0, sizeof(struct ifinfomsg));
	nl_put(&r, IFLA_IFNAME, peer_name, strlen(peer_name) + 1);
	if (peer_netns_fd >= 0)
		nl_put(&r, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
	nl_nest_end(&r, peer);
	nl_nest_end(&r, data);
	nl_nest_end(&r, linkinfo);
	return nl_talk(nl, &r, NULL);
}

int dp_nl_link_index(struct dp_nl *nl, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_req r, reply;
	int err;

	nl_init(&r, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	nl_put(&r, IFLA_IFNAME, name, strlen(name) + 1);
	err = nl_talk(nl, &r, &reply);
	if (err == -ENOENT || err == -ENODEV)
		return -ENODEV;
	if (err < 0)
		return err;
	return ((struct ifinfomsg *)NLMSG_DATA(&reply.h))->ifi_index;
}

/* RTM_GETLINK of ifindex in the namespace with id nsid (< 0: the socket's own). */
static int link_get(struct dp_nl *nl, int ifindex, int nsid, struct nl_req *reply)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nl_req r;
	__s32 id = nsid;

	nl_init(&r, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	if (nsid >= 0)
		nl_put(&r, IFLA_TARGET_NETNSID, &id, sizeof(id));
	return nl_talk(nl, &r, reply);
}

/* The attribute of a link reply, or NULL. */
static const struct rtattr *link_attr(const struct nl_req *reply, int type, size_t size)
{
	const struct rtattr *a;
	int len = reply->h.nlmsg_len - NLMSG_LENGTH(sizeof(struct ifinfomsg));

	for (a = IFLA_RTA(NLMSG_DATA(&reply->h)); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == type && RTA_PAYLOAD(a) == size)
			return a;
	return NULL;
}

/* The hardware address of ifindex in namespace nsid (< 0: the socket's own). */
static int link_mac_in(struct dp_nl *nl, int ifindex, int nsid, __u8 mac[6])
{
	struct nl_req reply;
	const struct rtattr *a;
	int err = link_get(nl, ifindex, nsid, &reply);

	if (err < 0)
		return err;
	a = link_attr(&reply, IFLA_ADDRESS, 6);
	if (!a)
		return -ENOENT;
	memcpy(mac, RTA_DATA(a), 6);
	return 0;
}

int dp_nl_link_mac(struct dp_nl *nl, int ifindex, __u8 mac[6])
{
	return link_mac_in(nl, ifindex, -1, mac);
}

int dp_nl_peer_mac(struct dp_nl *nl, int ifindex, __u8 mac[6])
{
	struct nl_req reply;
	const struct rtattr *link, *nsid;
	__u32 peer;
	__s32 id = -1;
	int err = link_get(nl, ifindex, -1, &reply);

	if (err < 0)
		return err;
	link = link_attr(&reply, IFLA_LINK, sizeof(__u32));
	if (!link)
		return -ENOENT;
	memcpy(&peer, RTA_DATA(link), sizeof(peer));
	nsid = link_attr(&reply, IFLA_LINK_NETNSID, sizeof(__s32));
	if (nsid)
		memcpy(&id, RTA_DATA(nsid), sizeof(id));
	return link_mac_in(nl, (int)peer, id, mac);
}

int dp_nl_link_up(struct dp_nl *nl, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
				 .ifi_index = ifindex,
				 .ifi_flags = IFF_UP,
				 .ifi_change = IFF_UP };
	struct nl_req r;

	nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return nl_talk(nl, &r, NULL);
}

int dp_nl_link_del(struct dp_nl *nl, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	struct nl_req r;

	nl_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	return nl_talk(nl, &r, NULL);
}

int dp_nl_addr_add(struct dp_nl *nl, int ifindex, __be32 addr, int plen)
{
	struct ifaddrmsg ifa = { .ifa_family = AF_INET,
				 .ifa_prefixlen = plen,
				 .ifa_index = ifindex,
				 .ifa_scope = RT_SCOPE_UNIVERSE };
	struct nl_req r;

	nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof(ifa));
	nl_put(&r, IFA_LOCAL, &addr, 4);
	nl_put(&r, IFA_ADDRESS, &addr, 4);
	return nl_talk(nl, &r, NULL);
}

int dp_nl_route_add(struct dp_nl *nl, int ifindex, __be32 dst, int plen, __be32 gw, int scope)
{
	struct rtmsg rtm = { .rtm_family = AF_INET,
			     .rtm_dst_len = plen,
			     .rtm_table = RT_TABLE_MAIN,
			     .rtm_protocol = RTPROT_STATIC,
			     .rtm_scope = scope,
			     .rtm_type = RTN_UNICAST };
	__u32 oif = ifindex;
	struct nl_req r;

	if (gw)
		rtm.rtm_flags |= RTNH_F_ONLINK;
	nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rtm, sizeof(rtm));
	if (plen)
		nl_put(&r, RTA_DST, &dst, 4);
	if (gw)
		nl_put(&r, RTA_GATEWAY, &gw, 4);
	nl_put(&r, RTA_OIF, &oif, 4);
	return nl_talk(nl, &r, NULL);
}

int dp_nl_neigh_add(struct dp_nl *nl, int ifindex, __be32 ip, const __u8 mac[6])
{
	struct ndmsg nd = { .ndm_family = AF_INET,
			    .ndm_ifindex = ifindex,
			    .ndm_state = NUD_PERMANENT };
	struct nl_req r;

	nl_init(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &nd, sizeof(nd));
	nl_put(&r, NDA_DST, &ip, 4);
	nl_put(&r, NDA_LLADDR, mac, 6);
	return nl_talk(nl, &r, NULL);
}

/* One fwmark rule: add (NLM_F_EXCL: an identical rule is -EEXIST) or delete. */
static int nl_fwmark_rule(struct dp_nl *nl, int type, __u32 mark, __u32 mask, __u32 table,
			  __u32 pref)
{
	struct fib_rule_hdr frh = { .family = AF_INET, .action = FR_ACT_TO_TBL };
	struct nl_req r;

	nl_init(&r, type, type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0, &frh, sizeof(frh));
	nl_put(&r, FRA_FWMARK, &mark, 4);
	nl_put(&r, FRA_FWMASK, &mask, 4);
	nl_put(&r, FRA_TABLE, &table, 4);
	nl_put(&r, FRA_PRIORITY, &pref, 4);
	return nl_talk(nl, &r, NULL);
}

int dp_nl_fwmark_rule_add(struct dp_nl *nl, __u32 mark, __u32 mask, __u32 table, __u32 pref)
{
	int err = nl_fwmark_rule(nl, RTM_NEWRULE, mark, mask, table, pref);

	return err == -EEXIST ? 0 : err;
}

int dp_nl_fwmark_rule_del(struct dp_nl *nl, __u32 mark, __u32 mask, __u32 table, __u32 pref)
{
	return nl_fwmark_rule(nl, RTM_DELRULE, mark, mask, table, pref);
}

/* The default local route of a table: add (or replace) or delete. */
static int nl_local_default(struct dp_nl *nl, int type, int ifindex, __u32 table)
{
	struct rtmsg rtm = { .rtm_family = AF_INET,
			     .rtm_table = RT_TABLE_UNSPEC,
			     .rtm_protocol = RTPROT_STATIC,
			     .rtm_scope = RT_SCOPE_HOST,
			     .rtm_type = RTN_LOCAL };
	__u32 oif = ifindex;
	struct nl_req r;

	nl_init(&r, type, type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0, &rtm,
		sizeof(rtm));
	nl_put(&r, RTA_TABLE, &table, 4);
	nl_put(&r, RTA_OIF, &oif, 4);
	return nl_talk(nl, &r, NULL);
}

int dp_nl_local_default_add(struct dp_nl *nl, int ifindex, __u32 table)
{
	return nl_local_default(nl, RTM_NEWROUTE, ifindex, table);
}

int dp_nl_local_default_del(struct dp_nl *nl, int ifindex, __u32 table)
{
	return nl_local_default(nl, RTM_DELROUTE, ifindex, table);
}
