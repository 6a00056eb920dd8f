/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's state and change pipeline (directory-private to src/agent).
 *
 * One struct agent owns the model (src/model), the datapath handle, the
 * SQLite store and the per-endpoint extras the model does not know
 * (namespace path, host interface, state). It keeps two copies of the
 * model (left-right): `m`, the committed one every reader sees, and `wm`,
 * the writer's, on which a change computes its result. Two locks:
 *   wlock  one change at a time (the writer): held for a whole change; it
 *          guards `wm`, the store's write connection `st`, and lets its
 *          holder read `m` without `lock`;
 *   lock   the readers' (API reads, flows, metrics): a change takes it only
 *          to commit (swap `wm` and `m`, publish the maps, commit the
 *          store), so a read waits for a commit, never for a computation.
 * Lock order: wlock, then lock. The extras and the datapath handle are used
 * under `lock` (the writer syncs the kernel's ipcache before it, through
 * the handle's map descriptors only). The flow thread reads the datapath's event ring through a
 * second datapath handle and keeps flows under `flow_lock`.
 *
 * Every change follows one pipeline (agent.c), with wlock held:
 *   validate and parse everything (nothing touched yet)
 *   -> update the writer's model -> regenerate (only affected endpoints)
 *   -> check every capacity (policy-map entries, ipcache, identities)
 *   -> store: write the rows inside one transaction (not yet committed;
 *      readers read through their own connection, `st_read`)
 *   -> the kernel's ipcache (new CIDR identities before the maps name them)
 *   -> with lock: L7 snapshot, kernel (endpoints, the changed endpoints'
 *      policy maps), store commit, swap wm and m, revision -> answer
 *   -> the same model changes again on the other copy (now `wm`), so that
 *      both are equal for the next change.
 * A failure before the commit step rolls the transaction back and drops
 * the writer's copy (nothing else was touched; the next change rebuilds it
 * from the store). A failure once the kernel was touched rebuilds
 * everything from the store and re-applies it to the kernel (agent_restore):
 * from the user's point of view nothing changed. A crash at any point leaves
 * the store at the old or the new state; start-up re-applies the store to
 * the kernel, so either way the kernel ends up equal to the store.
 */
#ifndef VELUM_AGENT_AGENT_H
#define VELUM_AGENT_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/store.h"
#include "datapath/dp.h"
#include "lib/errbuf.h"
#include "lib/hmap.h"
#include "lib/vec.h"
#include "lib/version.h"
#include "model/model.h"
#include "monitor/flow.h"
#include "monitor/hubble_metrics.h"
#include "monitor/metrics.h"

#define AGENT_VERSION	    VELUM_VERSION
#define AGENT_STATE_DIR	    "/var/lib/velum"
#define AGENT_SOCKET	    "/run/velum/velum.sock"
#define AGENT_METRICS	    "127.0.0.1:9962"
#define AGENT_FLOWS_DEFAULT 65536
#define AGENT_MAX_BODY	    (32u << 20)

struct agent_opts {
	const char *state_dir;
	const char *socket_path;
	const char *pin_dir; /* NULL: the datapath's default */
	const char *pool;    /* NULL: the datapath's default (or the node's) */
	const char *ifname_prefix;
	const char *netns_prefix;
	const char *metrics; /* "ADDR:PORT" or "off" */
	size_t flow_cap;
	/* --allow-localhost always: the host reaches every local endpoint (else: policy) */
	bool allow_localhost;
	/* --trace-events off: the datapath reports no trace events (else medium) */
	bool no_trace;
};

/* What the agent knows of an endpoint beyond the model. */
struct agent_epx {
	uint32_t id;
	char *netns;	    /* the namespace path */
	bool adopted;	    /* netns was given by the caller (kept on delete) */
	char *ifname;	    /* interface inside when not "eth0", else NULL */
	char *container_id; /* the runtime's container (CNI ADD), else NULL */
	char host_ifname[16];
	char created[40]; /* RFC 3339 */
	char *error;	  /* non-NULL: state "error" with this message */
};

/* One endpoint's new policy map for the applier (arrays borrowed). */
struct agent_apply_item {
	uint32_t ep_id;
	const struct velum_policy_key *keys;
	const struct velum_policy_value *vals;
	size_t n;
};

struct agent_applier;
struct agent_podman;
struct agent_proxy;

/*
 * Starts nthreads workers, each with its own datapath handle opened with
 * dpo, for agent_applier_run(). Returns NULL with eb set on failure.
 */
struct agent_applier *agent_applier__new(const struct dp_opts *dpo, size_t nthreads,
					 struct errbuf *eb);
void agent_applier__free(struct agent_applier *p);
/*
 * Swaps the n policy maps (apply.c): builds each aside on own (an error
 * there changes nothing), has a worker publish them in one batch, and
 * returns once every new map is live, without waiting for the batch's RCU
 * grace period. Returns 0 or the error (eb set); after a publish error
 * some maps may be swapped (the caller rebuilds).
 */
int agent_applier_run(struct agent_applier *p, struct dp *own, const struct agent_apply_item *items,
		      size_t n, struct errbuf *eb);

#define AGENT_APPLY_THREADS 16

/*
 * What `velum status` shows of the state, published at every commit and
 * restore (agent_summary_publish()) under its own small lock, so a status
 * never waits for a change holding `lock` (an import of 60,000 prefixes):
 * it shows the last committed state.
 */
struct agent_summary {
	size_t endpoints, endpoints_failed, identities, policies, redirects;
	uint64_t revision;
};

struct agent {
	struct agent_opts o;
	pthread_mutex_t wlock; /* the writer's (see above) */
	pthread_mutex_t lock;  /* the readers' */
	struct model *m;       /* committed: read under lock, or under wlock */
	struct model *wm;      /* the writer's copy (wlock); NULL: built at the next change */
	bool m_fresh;	       /* m is as agent_restore() built it from the store */
	bool touched;	       /* the running change touched the kernel (wlock) */
	struct dp *dp;
	struct agent_applier *applier; /* NULL: swaps run one by one */
	struct agent_podman *podman;   /* learns podman containers' labels */
	struct agent_store *st;	       /* the writer's connection (wlock) */
	struct agent_store *st_read;   /* the readers' (read_lock): committed rows only */
	pthread_mutex_t read_lock;     /* st_read's; taken before lock */
	uint64_t revision;
	char last_import[40]; /* RFC 3339 time of the last policy import */
	int64_t started_ns;
	/* the L7 proxy (proxy.h); NULL: --proxy off, HTTP rules are refused */
	struct agent_proxy *proxy;
	uint16_t proxy_port_in, proxy_port_eg; /* given to every model's engine */
	char pin_dir[256];
	VEC(struct agent_epx) epx;	  /* sorted by id */
	VEC(struct ipcache_entry) pushed; /* CIDR entries the kernel holds, sorted */
	size_t ipcache_host;		  /* host addresses in the kernel's ipcache */
	VEC(uint32_t) stored_ids;	  /* identities in the store, sorted */

	/* flow enrichment caches (under lock), valid for cache_rev */
	struct hmap ident_cache, rule_cache;
	uint64_t cache_rev;

	/* metrics (under lock) */
	struct mon_hist regen_hist, import_hist;
	uint64_t regen_total, regen_failed;
	uint64_t policy_changes[2]; /* imports and deletes: succeeded, failed */

	/* flows (under flow_lock) */
	pthread_mutex_t flow_lock;
	pthread_cond_t flow_cond;
	struct mon_ring ring;
	uint64_t verdicts[5][7][2];	  /* [VELUM_FLOW_*][enum velum_match][dir] */
	struct mon_hubble_metrics hubble; /* Hubble's flow metrics and rule hits */
	uint64_t events_total;
	struct dp *dp_ev;
	pthread_t flow_thr;
	bool flow_running;
	atomic_bool stopping;

	/*
	 * The L7 proxy's access events (flows.c): velumd binds the events
	 * socket before the proxy starts; a thread reads it into the ring.
	 */
	int l7_fd; /* -1: --proxy off */
	pthread_t l7_thr;
	bool l7_running;
	uint64_t l7_events, l7_malformed; /* under flow_lock */

	pthread_mutex_t sum_lock; /* held only to copy sum */
	struct agent_summary sum;
};

/* Publishes a->sum from the model (a->lock held). Linear in endpoints and their entries. */
void agent_summary_publish(struct agent *a);
/* A copy of the last published summary; never waits for a->lock. */
struct agent_summary agent_summary(struct agent *a);

/*
 * Appends the metrics beyond the datapath counters (metrics.c): Hubble's
 * flow metrics, per-rule hits, endpoints by state, BPF map pressure,
 * warnings by subsystem, policy import outcomes, process_*. Takes a->lock
 * and flow_lock (not held by the caller).
 */
void agent_metrics_more(struct agent *a, struct strbuf *sb);

/*
 * Per-rule hits across restarts (metrics.c): _load() adds the counts the
 * state directory's rule-hits file keeps to the rules loaded again (once,
 * after the restore; takes a->lock, then flow_lock); _save() writes the
 * current ones if they changed (only after a load). 0 or -errno.
 */
int agent_rule_hits_load(struct agent *a);
void agent_rule_hits_save(struct agent *a);

/* HTTP-ish outcome of a failed call: maps a negative errno. */
int agent_err_status(int err);

/* Sets up a (locked-free) agent: opens nothing. */
void agent_init(struct agent *a, const struct agent_opts *o);
/* Frees model, caches, extras; closes dp and store. */
void agent_fini(struct agent *a);

/*
 * Builds the model from the store and makes the kernel equal to it:
 * re-creates endpoints the kernel lost, removes ones the store does not
 * know, swaps every endpoint's policy map, syncs the ipcache. Used at start
 * and after a failed change. Returns 0 or a negative errno with eb set
 * (the store cannot be restored; the kernel is then untouched).
 */
int agent_restore(struct agent *a, struct errbuf *eb);

/*
 * Hands the proxy (if any) the L7 snapshot of every endpoint as of
 * revision (src/agent/l7sync.c) and waits until it is published there.
 * Called under the lock after regeneration, before the policy maps change,
 * so that no flow is redirected by rules the proxy does not yet know.
 * Returns 0 (also when no proxy is connected: it gets the snapshot when it
 * connects) or a negative errno with eb set when the proxy refused it.
 */
int agent_l7_publish(struct agent *a, uint64_t revision, struct errbuf *eb);

/* The endpoint extras of id, or NULL. */
struct agent_epx *agent_epx(struct agent *a, uint32_t id);

struct agent_ep_req {
	const char *name; /* "ns/name" or "name" */
	const char *ns;	  /* NULL: from name, else "default" */
	const char *const *labels;
	size_t nlabels;
	const struct pol_named_port *ports;
	size_t nports;
	bool audit;
	const char *netns;	  /* adopt this namespace; NULL: create one */
	const char *ifname;	  /* interface inside; NULL: "eth0" */
	uint32_t ipv4;		  /* requested address (network order); 0: from the pool */
	const char *container_id; /* the runtime's container id (CNI), or NULL */
};

/* Creates an endpoint; *out (borrowed) on success. Negative errno with eb. */
int agent_endpoint_create(struct agent *a, const struct agent_ep_req *r,
			  const struct model_ep **out, struct errbuf *eb);
int agent_endpoint_delete(struct agent *a, const char *name, struct errbuf *eb);
/* labels NULL: keep; audit < 0: keep. */
int agent_endpoint_update(struct agent *a, const char *name, const char *const *labels,
			  size_t nlabels, int audit, struct errbuf *eb);
/*
 * `velum endpoint label` (k=v, k-) on endpoint name, as one change: the
 * user labels it has (as its JSON "labels" lists them, reserved:init of a
 * CNI endpoint included) without those whose source and key (no source:
 * k8s) a string of set ("[source:]key[=value]") or remove ("[source:]key";
 * absent ones are no error) names, then set added; then as
 * agent_endpoint_update() (audit < 0: keep), so concurrent merges of
 * different keys all land. A key named twice among set and remove
 * (whatever the sources) is -EINVAL. Borrows everything; bad input changes
 * nothing.
 */
int agent_endpoint_merge(struct agent *a, const char *name, const char *const *set, size_t nset,
			 const char *const *remove, size_t nremove, int audit, struct errbuf *eb);

/*
 * Replaces namespace ns's labels ("key=value" strings; see
 * model_namespace_relabel()), making it known if it was not: its endpoints
 * are re-identified and the endpoints whose policy changes regenerated, in
 * one change. Negative errno with eb; bad input changes nothing.
 */
int agent_namespace_label(struct agent *a, const char *ns, const char *const *labels,
			  size_t nlabels, struct errbuf *eb);
/*
 * kubectl label on namespace ns, as one change: its current labels with the
 * keys of remove (absent ones are no error) and of set ("key=value") taken
 * out, then set added; then as agent_namespace_label(). Without overwrite,
 * a set key the namespace has with another value is -EINVAL ("'k' already
 * has a value (v), and --overwrite is false"). Borrows everything; bad
 * input changes nothing.
 */
int agent_namespace_merge(struct agent *a, const char *ns, const char *const *set, size_t nset,
			  const char *const *remove, size_t nremove, bool overwrite,
			  struct errbuf *eb);
/* Forgets namespace ns: -ENOENT, -EBUSY while endpoints live in it (eb says so). */
int agent_namespace_delete(struct agent *a, const char *ns, struct errbuf *eb);

struct agent_file {
	const char *name;
	const char *content;
	size_t len;
};

/*
 * Imports the policies of every file, all or nothing, in two steps so that
 * parsing (the largest part of a big import) holds no lock:
 * agent_policy_parse() parses and checks every file (a->lock not needed;
 * any error changes nothing), then agent_policy_import_parsed(), with
 * a->lock held, loads what it made and takes it over (freed whatever
 * happens). On success *loaded (new array, free()) lists (kind, ns, name)
 * keys as "Kind\tns\tname" strings of the imported policies (in the order
 * of the files), then "Namespace\t\tname" for each Namespace object (applied
 * before the policies, in the same change), *warnings (new string or NULL) the parser's notes, and
 * a->last_import its time.
 */
struct agent_parsed;
int agent_policy_parse(struct agent *a, const struct agent_file *files, size_t nfiles, bool audit,
		       struct agent_parsed **parsed, struct errbuf *eb);
/*
 * With dry_run, agent_policy_import_parsed() goes as far as an import goes
 * before it writes anything (the writer's copy loaded and resolved, every
 * capacity checked: ipcache prefixes, identities, each endpoint's policy
 * map) and then drops the writer's copy: nothing changes, and an import
 * the kernel could not hold fails as the import would.
 */
int agent_policy_import_parsed(struct agent *a, const struct agent_file *files, size_t nfiles,
			       bool audit, bool dry_run, struct agent_parsed *parsed,
			       char ***loaded, size_t *nloaded, char **warnings, struct errbuf *eb);
/*
 * Deletes the policies matching kind (NULL: any), ns (NULL: any) and name
 * (NULL with all: every policy). *deleted gets the count; -ENOENT if none.
 */
int agent_policy_delete(struct agent *a, const char *kind, const char *ns, const char *name,
			bool all, size_t *deleted, struct errbuf *eb);

/* Normalises an endpoint reference ("name", "ns/name", or name + ns) into buf. */
int agent_ep_fullname(const char *name, const char *ns, char *buf, size_t len, struct errbuf *eb);

/* JSON helpers shared with the API: the user's labels and named ports of ep (new arrays). */
json_t *agent_user_labels_json(const struct model_ep *ep);
json_t *agent_ports_json(const struct model_ep *ep);
/*
 * Reads a JSON array of label strings / of named ports ({name, port,
 * protocol}) into a new array (free()) whose strings are borrowed from j.
 */
int agent_labels_from_json(json_t *j, const char ***out, size_t *n, struct errbuf *eb);
int agent_ports_from_json(json_t *j, struct pol_named_port **out, size_t *n, struct errbuf *eb);

/* ---- flows (flows.c) ---- */

/* Opens the event handle and starts the flow thread. */
int agent_flows_start(struct agent *a, const struct dp_opts *dpo, struct errbuf *eb);
void agent_flows_stop(struct agent *a);

/*
 * Binds the unix datagram socket the proxy sends its access events to
 * (path; 0600; a stale file is replaced) into a->l7_fd, before the proxy
 * starts or is adopted, so that none is lost once velumd runs; the flow
 * thread's companion started by agent_flows_start() reads it. Returns 0 or
 * negative errno with eb set.
 */
int agent_l7_events_open(struct agent *a, const char *path, struct errbuf *eb);

/*
 * Checks one datagram of the events socket (n bytes; struct
 * px_access_event of src/proxy/access.h): size, version, type, verdict,
 * direction, NUL-terminated strings, IPv4 addresses. Returns 0 or -EINVAL
 * with the reason in why (static text).
 */
struct px_access_event;
int agent_l7_event_check(const struct px_access_event *ev, size_t n, const char **why);
/* Drops the enrichment caches (their references); with a->lock held. */
void agent_flow_caches_clear(struct agent *a);

/* ---- HTTP (api.c) ---- */

struct agent_http;
/* Starts the API on the listening unix socket fd and the metrics server. */
struct agent_http *agent_http_start(struct agent *a, int api_fd, struct errbuf *eb);
void agent_http_stop(struct agent_http *h);
/* The metrics address actually bound ("127.0.0.1:9962"), or "off". */
const char *agent_http_metrics_addr(const struct agent_http *h);

#endif
