/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's persistent state: one SQLite file (WAL journal, synchronous
 * FULL) under the state directory holding endpoints, allocated identities,
 * imported policy files and the policies taken from them, and the revision
 * counter. The store is the source of truth on restart: velumd rebuilds
 * its model from it and re-applies everything to the datapath.
 *
 * Safety: a new store is built under a temporary name and renamed into
 * place, so a crash never leaves a half-made file. An existing file is
 * opened without the create flag and checked (application_id, user_version,
 * PRAGMA quick_check, the tables) before anything writes to it; a corrupt
 * or foreign file is refused with a message and never modified.
 *
 * Writes happen inside agent_store_begin() / agent_store_commit() (or
 * _rollback()); each connection is used by one thread at a time.
 */
#ifndef VELUM_AGENT_STORE_H
#define VELUM_AGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/errbuf.h"

/* Schema version written to PRAGMA user_version. */
#define AGENT_STORE_SCHEMA 3
/* PRAGMA application_id of a velum store: "VLM1". */
#define AGENT_STORE_APP_ID 0x564c4d31

struct agent_store;

/*
 * Opens (or creates) the store at path. Returns a new handle (free with
 * agent_store__close()) or NULL with errno set and eb saying why, in
 * words a user can act on (corrupt, foreign, newer schema).
 */
struct agent_store *agent_store__open(const char *path, struct errbuf *eb);
void agent_store__close(struct agent_store *st);
/*
 * A second, read-only connection to w's file (w stays open; close both).
 * In WAL mode its reads see the last committed state, never the rows of a
 * transaction w has open: the API reads through it while a change writes.
 */
struct agent_store *agent_store__open_reader(const struct agent_store *w, struct errbuf *eb);

int agent_store_begin(struct agent_store *st, struct errbuf *eb);
int agent_store_commit(struct agent_store *st, struct errbuf *eb);
/*
 * A read transaction: every read until agent_store_read_end() sees the
 * state of the first one (WAL snapshot), whatever commits meanwhile.
 */
int agent_store_read_begin(struct agent_store *st, struct errbuf *eb);
void agent_store_read_end(struct agent_store *st);
/* Undoes the open transaction (no-op without one). */
void agent_store_rollback(struct agent_store *st);

/*
 * The persisted revision counter (0 for a new store). -EINVAL with the
 * value in eb when it is not a number.
 */
int agent_store_revision(struct agent_store *st, uint64_t *rev, struct errbuf *eb);
int agent_store_set_revision(struct agent_store *st, uint64_t rev, struct errbuf *eb);

/* One endpoint row. Strings are borrowed (on load: valid during the callback). */
struct agent_store_ep {
	uint32_t id;
	const char *name, *ns;
	const char *labels; /* JSON array of the user's labels ("k8s:app=web") */
	const char *ports;  /* JSON array of {"name", "port", "protocol"} */
	bool audit;
	const char *ipv4;	  /* dotted quad */
	const char *netns;	  /* adopted namespace path, or NULL (the datapath made one) */
	const char *created;	  /* RFC 3339 */
	const char *ifname;	  /* interface inside, or NULL ("eth0") */
	const char *container_id; /* the runtime's container (CNI), or NULL */
};

/* Inserts or replaces the endpoint with this id. */
int agent_store_ep_put(struct agent_store *st, const struct agent_store_ep *e, struct errbuf *eb);
int agent_store_ep_delete(struct agent_store *st, uint32_t id, struct errbuf *eb);
/* Calls fn for every endpoint in id order; stops at and returns fn's non-zero result. */
int agent_store_ep_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, const struct agent_store_ep *e), void *ctx,
			   struct errbuf *eb);

/* Identities: labels is a JSON array of [source, key, value] triples. */
int agent_store_id_put(struct agent_store *st, uint32_t id, const char *labels, struct errbuf *eb);
int agent_store_id_delete(struct agent_store *st, uint32_t id, struct errbuf *eb);
int agent_store_id_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, uint32_t id, const char *labels), void *ctx,
			   struct errbuf *eb);

/*
 * Namespaces: labels is a JSON object {"key": "value"} (the namespace's own
 * labels, without kubernetes.io/metadata.name). A namespace has a row once
 * labelled, imported or named by an endpoint.
 */
int agent_store_ns_put(struct agent_store *st, const char *name, const char *labels,
		       struct errbuf *eb);
int agent_store_ns_delete(struct agent_store *st, const char *name, struct errbuf *eb);
/* Calls fn for every namespace in name order; stops at and returns fn's non-zero result. */
int agent_store_ns_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, const char *name, const char *labels), void *ctx,
			   struct errbuf *eb);

/* Adds an imported file's text; *file_id receives its row id. */
int agent_store_file_add(struct agent_store *st, const char *name, const char *content, size_t len,
			 int64_t *file_id, struct errbuf *eb);
/* Deletes files no policy refers to any more. */
int agent_store_file_gc(struct agent_store *st, struct errbuf *eb);
/*
 * Calls fn for every stored file in id order, each read once: with its text
 * when content is true, else content NULL and len 0 (the text is not read).
 * Strings are valid during the callback; stops at and returns fn's non-zero result.
 */
int agent_store_file_foreach(struct agent_store *st, bool content,
			     int (*fn)(void *ctx, int64_t id, const char *name, const char *content,
				       size_t len),
			     void *ctx, struct errbuf *eb);
/*
 * File id's name and text into *name and *content (new, free() both; the
 * text NUL-terminated), its length in *len; -ENOENT if there is none.
 */
int agent_store_file_read(struct agent_store *st, int64_t id, char **name, char **content,
			  size_t *len, struct errbuf *eb);

struct agent_store_policy {
	int64_t seq;		      /* load order; assigned by agent_store_policy_put() */
	const char *kind, *ns, *name; /* ns: "" for clusterwide kinds and raw rules */
	int64_t file_id;
	uint32_t first_rule_id;
	bool audit;	      /* imported with --audit (the annotation lives in the source) */
	const char *imported; /* RFC 3339 */
};

/*
 * Inserts the policy (kind, ns, name) at the end of the load order,
 * replacing a stored one of the same key; sets p->seq.
 */
int agent_store_policy_put(struct agent_store *st, struct agent_store_policy *p, struct errbuf *eb);
/* Updates first_rule_id of (kind, ns, name). */
int agent_store_policy_set_rule_id(struct agent_store *st, const char *kind, const char *ns,
				   const char *name, uint32_t first_rule_id, struct errbuf *eb);
int agent_store_policy_delete(struct agent_store *st, const char *kind, const char *ns,
			      const char *name, struct errbuf *eb);
/*
 * The stored policy (kind, ns, name): its file's id and its audit flag
 * into *file_id and *audit; -ENOENT (eb untouched) if there is none.
 */
int agent_store_policy_get(struct agent_store *st, const char *kind, const char *ns,
			   const char *name, int64_t *file_id, bool *audit, struct errbuf *eb);
/*
 * Is file id named name with exactly these len bytes of text? *same gets
 * the answer (false if there is no such file). Nothing is copied out.
 */
int agent_store_file_same(struct agent_store *st, int64_t id, const char *name, const char *content,
			  size_t len, bool *same, struct errbuf *eb);
/*
 * Every policy in load order; its file is file_id (names and texts:
 * agent_store_file_foreach(), read once per file, never once per policy).
 */
int agent_store_policy_foreach(struct agent_store *st,
			       int (*fn)(void *ctx, const struct agent_store_policy *p), void *ctx,
			       struct errbuf *eb);
/* agent_store_policy_foreach() of the rows with this kind, ns, name (each NULL: any). */
int agent_store_policy_foreach_where(struct agent_store *st, const char *kind, const char *ns,
				     const char *name,
				     int (*fn)(void *ctx, const struct agent_store_policy *p),
				     void *ctx, struct errbuf *eb);

/* The database file path (borrowed). */
const char *agent_store_path(const struct agent_store *st);

#endif
