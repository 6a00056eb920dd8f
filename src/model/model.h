/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's model of the world, without kernel or I/O: endpoints (name,
 * namespace, labels, addresses, named ports), their identities, the ipcache,
 * CIDR identities for the prefixes policies use, and the policy engine.
 * The agent drives it and mirrors its output into the datapath; the offline
 * `velum policy trace` builds one from files. Both then trace through
 * pol_trace_run() on model_engine(), so live and offline traces cannot disagree.
 *
 * Endpoint labels: a label without a source is "k8s:"; velum adds the
 * trusted labels k8s:io.kubernetes.pod.namespace=<ns>,
 * k8s:io.cilium.k8s.policy.cluster=default and
 * k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=<ns>, and
 * refuses user labels with those keys (a workload must not choose its
 * namespace).
 *
 * Namespaces: each has labels (Kubernetes' namespace labels, key=value), and
 * every endpoint in it carries each as
 * k8s:io.cilium.k8s.namespace.labels.<key>=<value>, Cilium's form, so
 * namespaceSelector and namespace-label selectors see them. A namespace is
 * known once an endpoint or model_namespace_relabel() names it.
 */
#ifndef VELUM_MODEL_MODEL_H
#define VELUM_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/identity.h"
#include "identity/ipcache.h"
#include "lib/errbuf.h"
#include "policy/parse.h"
#include "policy/resolve.h"
#include "policy/trace.h"

struct model_ep {
	uint32_t id; /* endpoint id, 1.. */
	char *name;  /* unique, e.g. "default/deathstar" */
	char *ns;
	struct pol_labels labels; /* all labels, derived ones included */
	uint32_t identity;
	uint32_t *ips; /* IPv4, network byte order */
	size_t nips;
	struct pol_named_port *ports; /* names owned */
	size_t nports;
	bool audit;
};

struct model_ns {
	char *name;
	struct pol_labels labels; /* k8s:key=value, without kubernetes.io/metadata.name */
};

struct model;

struct model *model__new(void);
void model__free(struct model *m);

/*
 * The one user label of an endpoint whose labels are not known yet: it gets
 * the reserved init identity (and no namespace labels) until relabelled.
 * Among other labels it is dropped (the labels are known then).
 */
#define MODEL_LABEL_INIT "reserved:init"

/*
 * Adds an endpoint. labels: "source:key=value" strings (source optional),
 * or exactly { MODEL_LABEL_INIT };
 * ips: IPv4 in network byte order; ports: copied. id 0 picks the lowest free
 * endpoint id; a non-zero id is used as is (restore). Returns 0 and the new
 * endpoint in *out (borrowed), or -EEXIST (name, id or address taken),
 * -EINVAL (bad label; eb says which), -ENOSPC, -ENOMEM.
 */
int model_endpoint_add(struct model *m, uint32_t id, const char *name, const char *ns,
		       const char *const *labels, size_t nlabels, const uint32_t *ips, size_t nips,
		       const struct pol_named_port *ports, size_t nports, bool audit,
		       const struct model_ep **out, struct errbuf *eb);
/* Replaces an endpoint's user labels (new identity if needed). -ENOENT, -EINVAL (eb). */
int model_endpoint_relabel(struct model *m, const char *name, const char *const *labels,
			   size_t nlabels, struct errbuf *eb);
int model_endpoint_set_audit(struct model *m, const char *name, bool audit);
int model_endpoint_remove(struct model *m, const char *name);
const struct model_ep *model_endpoint(const struct model *m, const char *name);
const struct model_ep *model_endpoint_by_id(const struct model *m, uint32_t id);
/* Endpoints in id order (borrowed until the next change). Returns the count. */
size_t model_endpoints(const struct model *m, const struct model_ep *const **out);

/* The label key every namespace has, its name as value; not settable. */
#define MODEL_NS_NAME_LABEL "kubernetes.io/metadata.name"

/* Namespace ns (borrowed until the next change), or NULL if nothing named it. */
const struct model_ns *model_namespace(const struct model *m, const char *ns);
/* Namespaces in name order (borrowed until the next change). Returns the count. */
size_t model_namespaces(const struct model *m, const struct model_ns *const **out);
/* The number of endpoints in namespace ns. */
size_t model_namespace_endpoints(const struct model *m, const char *ns);

/*
 * Replaces namespace ns's labels with labels ("key=value" or "key" strings,
 * Kubernetes label syntax, no source; MODEL_NS_NAME_LABEL only with ns as
 * value, and then ignored), making ns known if it was not (a DNS label name:
 * 1-63 lower-case letters, digits and '-'). Every endpoint of ns gets its
 * new namespace labels and so maybe a new identity, all or none: returns 0,
 * or -EINVAL (eb says which label or the name), -ENOMEM, -ENOSPC
 * (identities) with nothing changed. model_regenerate() then reports the
 * endpoints whose policy changed.
 */
int model_namespace_relabel(struct model *m, const char *ns, const char *const *labels,
			    size_t nlabels, struct errbuf *eb);
/*
 * model_namespace_relabel() with labels already parsed (k8s:key=value as
 * pol_dec_namespace() gives them; copied).
 */
int model_namespace_set(struct model *m, const char *ns, const struct pol_labels *labels,
			struct errbuf *eb);
/* Forgets namespace ns: 0, -ENOENT, or -EBUSY while endpoints live in it (eb says how many). */
int model_namespace_remove(struct model *m, const char *ns, struct errbuf *eb);

/*
 * Replaces an endpoint's addresses (ips: IPv4, network byte order; copied)
 * and their ipcache entries; used when the datapath assigns the address
 * after the endpoint was added without one. Returns 0, -ENOENT, -EEXIST
 * (an address belongs to another endpoint; eb says which) or -ENOMEM;
 * on error nothing changed.
 */
int model_endpoint_set_ips(struct model *m, const char *name, const uint32_t *ips, size_t nips,
			   struct errbuf *eb);
/* The endpoint owning IPv4 address ip (network byte order), or NULL. */
const struct model_ep *model_endpoint_by_ip(const struct model *m, uint32_t ip);

/*
 * State restore: re-creates identity id with labels (the identity's own
 * label set, as id_alloc_get() reports it; copied) holding one reference,
 * and makes the engine know it, so that endpoints and CIDR prefixes added
 * afterwards get their old numbers. Drop that reference with
 * model_identity_release() once everything is loaded. Returns 0 or
 * the error of id_alloc_restore() / -ENOMEM; on error nothing changed.
 */
int model_identity_restore(struct model *m, uint32_t id, const struct pol_labels *labels);
/* Drops one reference on identity id; the engine forgets it when it is freed. -ENOENT. */
int model_identity_release(struct model *m, uint32_t id);

/*
 * Loads every policy of set (takes them all; set is left empty), replacing
 * loaded policies of the same kind, namespace and name. Allocates identities
 * for the CIDR prefixes now in use and releases unused ones (prefixes are
 * reference-counted: the cost is the policies' own prefixes, not all).
 */
int model_policies_load(struct model *m, struct pol_set *set);
/* Deletes a loaded policy, releasing its CIDR prefixes. 0 or -ENOENT. O(its size). */
int model_policy_delete(struct model *m, enum pol_kind kind, const char *ns, const char *name);
/*
 * Capacity planning, changing nothing: the distinct CIDR prefixes (*n4
 * IPv4, *n6 IPv6) the policies would use if add were loaded (replacing
 * loaded policies of the same keys; add borrowed) and the loaded policies
 * for which gone(ctx, p) says true (gone optional) were deleted. Each is one
 * CIDR identity, each IPv4 one an ipcache entry. Linear in all prefixes.
 * Returns 0 or -ENOMEM.
 */
int model_cidr_plan(struct model *m, const struct pol_set *add,
		    bool (*gone)(void *ctx, const struct pol_policy *p), void *ctx, size_t *n4,
		    size_t *n6);

/* pol_engine_regenerate() on the model's engine. */
int model_regenerate(struct model *m, uint32_t **changed, size_t *nchanged);

struct pol_engine *model_engine(const struct model *m);
struct id_alloc *model_ids(const struct model *m);
struct ipcache *model_ipcache(const struct model *m);

/*
 * Resolves a trace peer given in the forms of id_peer_parse()
 * (identity/peer.h, which `velum observe` shares): an endpoint name (or
 * "ns/name", or a bare name in "default"), an endpoint id (decimal digits;
 * -ENOENT "no endpoint with id N" if none), a reserved identity ("host",
 * "world"; a same-named endpoint in "default" first), an identity "ID:N"
 * (its first endpoint, else the identity alone; -ENOENT if not allocated),
 * or an IPv4 address (an endpoint's, else the ipcache's answer: a CIDR
 * identity or world). A prefix or a label is -EINVAL (a trace needs one
 * peer). Strings in *out point into the model or into addrbuf (at least
 * 16 bytes). -ENOENT or -EINVAL with eb set.
 */
int model_peer(const struct model *m, const char *spec, struct pol_trace_peer *out, char *addrbuf,
	       struct errbuf *eb);

#endif
