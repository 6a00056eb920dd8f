/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite store (see store.h): opening with checks, the schema, and the
 * row operations the agent's change pipeline uses.
 */
#include "agent/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "velum/endpoint.h"

struct agent_store {
	sqlite3 *db;
	char *path;
	bool in_tx;
};

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE endpoints("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" namespace TEXT NOT NULL,"
	" labels TEXT NOT NULL,"
	" ports TEXT NOT NULL,"
	" audit INTEGER NOT NULL,"
	" ipv4 TEXT NOT NULL,"
	" netns TEXT,"
	" created TEXT NOT NULL,"
	" ifname TEXT,"
	" container_id TEXT);"
	"CREATE TABLE identities(id INTEGER PRIMARY KEY, labels TEXT NOT NULL);"
	"CREATE TABLE policy_files(id INTEGER PRIMARY KEY, name TEXT NOT NULL, content BLOB NOT "
	"NULL);"
	"CREATE TABLE policies("
	" seq INTEGER PRIMARY KEY,"
	" kind TEXT NOT NULL,"
	" namespace TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" file_id INTEGER NOT NULL REFERENCES policy_files(id),"
	" first_rule_id INTEGER NOT NULL,"
	" audit INTEGER NOT NULL,"
	" imported TEXT NOT NULL,"
	" UNIQUE(kind, namespace, name));"
	"CREATE TABLE namespaces(name TEXT PRIMARY KEY, labels TEXT NOT NULL);"
	"INSERT INTO meta VALUES('revision', '0');";

static const char *const tables[] = { "meta", "endpoints", "identities", "policy_files",
				      "policies" };

static int db_err(struct agent_store *st, struct errbuf *eb, const char *what)
{
	return errbuf_set(eb, -EIO, "store %s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec(struct agent_store *st, const char *sql, struct errbuf *eb)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		errbuf_set(eb, -EIO, "store %s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* One integer from a query (PRAGMA), or -1. */
static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/*
 * The store and its WAL files are for root only: made 0600 (SQLite gives
 * the -wal and -shm files it creates the database's mode), and older ones
 * tightened. Returns 0 or a negative errno.
 */
static int store_tighten(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[4096];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (chmod(p, 0600) == -1 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Makes a new store at path: built aside under a temporary name, then renamed. */
static int create_store(const char *path, struct errbuf *eb)
{
	char tmp[4096], pragmas[128];
	sqlite3 *db = NULL;
	char *msg = NULL;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.new-%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return errbuf_set(eb, -ENAMETOOLONG, "store path %s: too long", path);
	unlink(tmp);
	/* empty and 0600 before SQLite opens it */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		err = -errno;
		return errbuf_set(eb, err, "create store %s: %s", tmp, strerror(-err));
	}
	close(fd);
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		errbuf_set(eb, -EIO, "create store %s: %s", tmp,
			   db ? sqlite3_errmsg(db) : "no memory");
		err = -EIO;
		goto out;
	}
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA application_id=%d; PRAGMA user_version=%d; COMMIT;", AGENT_STORE_APP_ID,
		 AGENT_STORE_SCHEMA);
	if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE; BEGIN;", NULL, NULL, &msg) ||
	    sqlite3_exec(db, schema, NULL, NULL, &msg) ||
	    sqlite3_exec(db, pragmas, NULL, NULL, &msg)) {
		errbuf_set(eb, -EIO, "create store %s: %s", tmp, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		err = -EIO;
		goto out;
	}
	sqlite3_close(db);
	db = NULL;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	if (rename(tmp, path) == -1) {
		err = -errno;
		errbuf_set(eb, -errno, "create store %s: rename: %s", path, strerror(errno));
	}
out:
	sqlite3_close(db);
	if (err)
		unlink(tmp);
	return err;
}

/* The checks an existing file must pass before anything writes to it. */
static int check_store(struct agent_store *st, struct errbuf *eb)
{
	static const char advice[] =
		"velumd refuses to use or overwrite it; move it away to start with an empty "
		"state, or restore a backup";
	sqlite3_stmt *s;
	long long app, ver;
	char *msg = NULL;
	bool ok = false;
	size_t i;

	/* quick_check also reads the header: a file that is not SQLite fails here */
	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL) != SQLITE_OK) {
		return errbuf_set(eb, -EINVAL,
				  "state store %s is not a readable SQLite database (%s); %s",
				  st->path, sqlite3_errmsg(st->db), advice);
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		ok = t && !strcmp((const char *)t, "ok");
		if (!ok)
			errbuf_set(eb, -EINVAL,
				   "state store %s is corrupt (integrity check: %s); %s", st->path,
				   t ? (const char *)t : "?", advice);
	} else {
		errbuf_set(eb, -EINVAL, "state store %s is corrupt (%s); %s", st->path,
			   sqlite3_errmsg(st->db), advice);
	}
	sqlite3_finalize(s);
	if (!ok)
		return -EINVAL;
	app = query_int(st->db, "PRAGMA application_id");
	ver = query_int(st->db, "PRAGMA user_version");
	if (app != AGENT_STORE_APP_ID) {
		return errbuf_set(eb, -EINVAL,
				  "%s is a SQLite database but not a velum state store "
				  "(application_id %lld); %s",
				  st->path, app, advice);
	}
	if (ver > AGENT_STORE_SCHEMA || ver < 1) {
		return errbuf_set(
			eb, -EINVAL,
			"state store %s has schema version %lld; this velumd knows %d; %s",
			st->path, ver, AGENT_STORE_SCHEMA, advice);
	}
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[128];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			errbuf_set(eb, -EINVAL, "state store %s: table %s: %s; %s", st->path,
				   tables[i], msg ? msg : "unreadable", advice);
			sqlite3_free(msg);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Schema upgrades, one transaction each, so a crash leaves the last whole
 * version. 1 to 2: the endpoints' interface name and container id (both
 * NULL for endpoints made before). 2 to 3: namespaces with labels (none
 * before: namespaces named by endpoints have no labels).
 */
static int upgrade_store(struct agent_store *st, struct errbuf *eb)
{
	static const char *const steps[] = {
		[1] = "ALTER TABLE endpoints ADD COLUMN ifname TEXT;"
		      "ALTER TABLE endpoints ADD COLUMN container_id TEXT;",
		[2] = "CREATE TABLE namespaces(name TEXT PRIMARY KEY, labels TEXT NOT NULL);",
	};
	long long ver;
	char *msg = NULL, sql[512];

	while ((ver = query_int(st->db, "PRAGMA user_version")) < AGENT_STORE_SCHEMA) {
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; %s PRAGMA user_version=%lld; COMMIT;",
			 steps[ver], ver + 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			errbuf_set(eb, -EIO, "state store %s: upgrade to schema %lld: %s", st->path,
				   ver + 1, msg ? msg : sqlite3_errmsg(st->db));
			sqlite3_free(msg);
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
	}
	return 0;
}

struct agent_store *agent_store__open(const char *path, struct errbuf *eb)
{
	struct agent_store *st = calloc(1, sizeof(*st));
	struct stat sb;
	int err;

	if (!st)
		return NULL;
	st->path = strdup(path);
	if (!st->path)
		goto err_nomem;
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			err = -errno;
			errbuf_set(eb, -errno, "state store %s: %s", path, strerror(errno));
			goto err_free;
		}
		err = create_store(path, eb);
		if (err)
			goto err_free;
	} else if (!S_ISREG(sb.st_mode)) {
		err = -EINVAL;
		errbuf_set(eb, err, "state store %s: not a regular file", path);
		goto err_free;
	}
	err = store_tighten(path);
	if (err) {
		errbuf_set(eb, err, "state store %s: chmod: %s", path, strerror(-err));
		goto err_free;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		err = -EIO;
		errbuf_set(eb, err, "state store %s: %s", path,
			   st->db ? sqlite3_errmsg(st->db) : "no memory");
		goto err_free;
	}
	sqlite3_busy_timeout(st->db, 2000);
	err = check_store(st, eb);
	if (!err)
		err = upgrade_store(st, eb);
	if (err)
		goto err_free;
	/* from here on the file is ours: WAL for crash safety with cheap commits */
	err = exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
		   eb);
	if (err)
		goto err_free;
	return st;

err_nomem:
	err = -ENOMEM;
err_free:
	agent_store__close(st);
	errno = -err;
	return NULL;
}

struct agent_store *agent_store__open_reader(const struct agent_store *w, struct errbuf *eb)
{
	struct agent_store *st = calloc(1, sizeof(*st));
	int err = -ENOMEM;

	if (!st || !(st->path = strdup(w->path)))
		goto err_free;
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		err = errbuf_set(eb, -EIO, "state store %s: %s", st->path,
				 st->db ? sqlite3_errmsg(st->db) : "no memory");
		goto err_free;
	}
	sqlite3_busy_timeout(st->db, 2000);
	return st;

err_free:
	agent_store__close(st);
	errno = -err;
	return NULL;
}

void agent_store__close(struct agent_store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}

const char *agent_store_path(const struct agent_store *st)
{
	return st->path;
}

int agent_store_begin(struct agent_store *st, struct errbuf *eb)
{
	int err = exec(st, "BEGIN IMMEDIATE", eb);

	if (!err)
		st->in_tx = true;
	return err;
}

int agent_store_commit(struct agent_store *st, struct errbuf *eb)
{
	int err = exec(st, "COMMIT", eb);

	if (err)
		agent_store_rollback(st);
	st->in_tx = false;
	return err;
}

void agent_store_rollback(struct agent_store *st)
{
	if (!st->in_tx && sqlite3_get_autocommit(st->db))
		return;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = false;
}

int agent_store_read_begin(struct agent_store *st, struct errbuf *eb)
{
	return exec(st, "BEGIN DEFERRED", eb);
}

void agent_store_read_end(struct agent_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

/* Prepares sql; on failure fills eb. */
static sqlite3_stmt *prep(struct agent_store *st, const char *sql, struct errbuf *eb)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_err(st, eb, "prepare");
		return NULL;
	}
	return s;
}

/* Runs a prepared statement that returns no rows, then finalizes it. */
static int run(struct agent_store *st, sqlite3_stmt *s, const char *what, struct errbuf *eb)
{
	int rc = sqlite3_step(s), err = 0;

	if (rc != SQLITE_DONE)
		err = db_err(st, eb, what);
	sqlite3_finalize(s);
	return err;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int agent_store_revision(struct agent_store *st, uint64_t *rev, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE key='revision'", eb);
	const char *v;
	char *end;
	int rc, err = 0;

	*rev = 0;
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		/* the text as written: CAST would read "abc" as 0 and go backwards */
		v = (const char *)sqlite3_column_text(s, 0);
		errno = 0;
		*rev = v && isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
		if (!v || !isdigit((unsigned char)*v) || *end || errno)
			err = errbuf_set(eb, -EINVAL,
					 "store %s: meta revision " ERRBUF_Q
					 ": not a number (0-18446744073709551615)",
					 st->path, ERRBUF_QARG(v ? v : "(null)"));
	} else if (rc != SQLITE_DONE) {
		err = db_err(st, eb, "read the revision");
	}
	sqlite3_finalize(s);
	return err;
}

int agent_store_set_revision(struct agent_store *st, uint64_t rev, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "UPDATE meta SET value=?1 WHERE key='revision'", eb);
	char buf[32];

	if (!s)
		return -EIO;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rev);
	bind_text(s, 1, buf);
	return run(st, s, "revision", eb);
}

int agent_store_ep_put(struct agent_store *st, const struct agent_store_ep *e, struct errbuf *eb)
{
	sqlite3_stmt *s =
		prep(st,
		     "INSERT OR REPLACE INTO endpoints(id, name, namespace, labels, ports, "
		     "audit, ipv4, netns, created, ifname, container_id) "
		     "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
		     eb);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, e->id);
	bind_text(s, 2, e->name);
	bind_text(s, 3, e->ns);
	bind_text(s, 4, e->labels);
	bind_text(s, 5, e->ports);
	sqlite3_bind_int(s, 6, e->audit);
	bind_text(s, 7, e->ipv4);
	bind_text(s, 8, e->netns);
	bind_text(s, 9, e->created);
	bind_text(s, 10, e->ifname);
	bind_text(s, 11, e->container_id);
	return run(st, s, "write endpoint", eb);
}

int agent_store_ep_delete(struct agent_store *st, uint32_t id, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM endpoints WHERE id=?1", eb);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return run(st, s, "delete endpoint", eb);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

int agent_store_ep_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, const struct agent_store_ep *e), void *ctx,
			   struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st,
			       "SELECT id, name, namespace, labels, ports, audit, ipv4, netns, "
			       "created, ifname, container_id FROM endpoints ORDER BY id",
			       eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct agent_store_ep e = {
			.id = (uint32_t)sqlite3_column_int64(s, 0),
			.name = col_text(s, 1),
			.ns = col_text(s, 2),
			.labels = col_text(s, 3),
			.ports = col_text(s, 4),
			.audit = sqlite3_column_int(s, 5),
			.ipv4 = col_text(s, 6),
			.netns = col_text(s, 7),
			.created = col_text(s, 8),
			.ifname = col_text(s, 9),
			.container_id = col_text(s, 10),
		};

		if (!e.name || !e.ns || !e.labels || !e.ports || !e.ipv4) {
			err = errbuf_set(eb, -EINVAL, "store %s: endpoint %u: missing fields",
					 st->path, e.id);
			break;
		}
		if (sqlite3_column_type(s, 0) != SQLITE_INTEGER || sqlite3_column_int64(s, 0) < 1 ||
		    sqlite3_column_int64(s, 0) > VELUM_EP_ID_MAX) {
			err = errbuf_set(eb, -EINVAL, "store %s: endpoint %s: id %s not in 1..%u",
					 st->path, e.name, (const char *)sqlite3_column_text(s, 0),
					 VELUM_EP_ID_MAX);
			break;
		}
		err = fn(ctx, &e);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(st, eb, "read endpoints");
	sqlite3_finalize(s);
	return err;
}

int agent_store_id_put(struct agent_store *st, uint32_t id, const char *labels, struct errbuf *eb)
{
	sqlite3_stmt *s =
		prep(st, "INSERT OR REPLACE INTO identities(id, labels) VALUES(?1,?2)", eb);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, labels);
	return run(st, s, "write identity", eb);
}

int agent_store_id_delete(struct agent_store *st, uint32_t id, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM identities WHERE id=?1", eb);

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return run(st, s, "delete identity", eb);
}

int agent_store_id_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, uint32_t id, const char *labels), void *ctx,
			   struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "SELECT id, labels FROM identities ORDER BY id", eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *l = col_text(s, 1);

		err = fn(ctx, (uint32_t)sqlite3_column_int64(s, 0), l ? l : "[]");
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(st, eb, "read identities");
	sqlite3_finalize(s);
	return err;
}

int agent_store_ns_put(struct agent_store *st, const char *name, const char *labels,
		       struct errbuf *eb)
{
	sqlite3_stmt *s =
		prep(st, "INSERT OR REPLACE INTO namespaces(name, labels) VALUES(?1,?2)", eb);

	if (!s)
		return -EIO;
	bind_text(s, 1, name);
	bind_text(s, 2, labels);
	return run(st, s, "write namespace", eb);
}

int agent_store_ns_delete(struct agent_store *st, const char *name, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "DELETE FROM namespaces WHERE name=?1", eb);

	if (!s)
		return -EIO;
	bind_text(s, 1, name);
	return run(st, s, "delete namespace", eb);
}

int agent_store_ns_foreach(struct agent_store *st,
			   int (*fn)(void *ctx, const char *name, const char *labels), void *ctx,
			   struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "SELECT name, labels FROM namespaces ORDER BY name", eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *n = col_text(s, 0), *l = col_text(s, 1);

		err = fn(ctx, n ? n : "", l ? l : "{}");
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(st, eb, "read namespaces");
	sqlite3_finalize(s);
	return err;
}

int agent_store_file_add(struct agent_store *st, const char *name, const char *content, size_t len,
			 int64_t *file_id, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO policy_files(name, content) VALUES(?1,?2)", eb);
	int err;

	if (!s)
		return -EIO;
	bind_text(s, 1, name);
	sqlite3_bind_blob64(s, 2, content, len, SQLITE_TRANSIENT);
	err = run(st, s, "write policy file", eb);
	if (!err)
		*file_id = sqlite3_last_insert_rowid(st->db);
	return err;
}

int agent_store_file_gc(struct agent_store *st, struct errbuf *eb)
{
	return exec(st, "DELETE FROM policy_files WHERE id NOT IN (SELECT file_id FROM policies)",
		    eb);
}

int agent_store_file_foreach(struct agent_store *st, bool content,
			     int (*fn)(void *ctx, int64_t id, const char *name, const char *content,
				       size_t len),
			     void *ctx, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st,
			       content ? "SELECT id, name, content FROM policy_files ORDER BY id" :
					 "SELECT id, name FROM policy_files ORDER BY id",
			       eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *name = col_text(s, 1), *text = NULL;
		size_t len = 0;

		if (content) {
			text = sqlite3_column_blob(s, 2);
			len = (size_t)sqlite3_column_bytes(s, 2);
			if (!text)
				text = "";
		}
		if (!name) {
			err = errbuf_set(eb, -EINVAL, "store %s: policy file %lld: no name",
					 st->path, (long long)id);
			break;
		}
		err = fn(ctx, id, name, text, len);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(st, eb, "read policy files");
	sqlite3_finalize(s);
	return err;
}

int agent_store_file_read(struct agent_store *st, int64_t id, char **name, char **content,
			  size_t *len, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st, "SELECT content, name FROM policy_files WHERE id=?1", eb);
	int rc, err = 0;

	*name = NULL;
	*content = NULL;
	*len = 0;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(s, 0);
		size_t n = (size_t)sqlite3_column_bytes(s, 0);

		const char *nm = col_text(s, 1);

		*content = malloc(n + 1);
		*name = strdup(nm ? nm : "");
		if (!*content || !*name) {
			free(*content);
			free(*name);
			*content = *name = NULL;
			err = -ENOMEM;
		} else {
			if (n)
				memcpy(*content, b, n);
			(*content)[n] = '\0';
			*len = n;
		}
	} else if (rc == SQLITE_DONE) {
		err = errbuf_set(eb, -ENOENT, "store %s: no policy file %lld", st->path,
				 (long long)id);
	} else {
		err = db_err(st, eb, "read policy file");
	}
	sqlite3_finalize(s);
	return err;
}

int agent_store_policy_put(struct agent_store *st, struct agent_store_policy *p, struct errbuf *eb)
{
	sqlite3_stmt *s;
	int err = agent_store_policy_delete(st, p->kind, p->ns, p->name, eb);

	if (err)
		return err;
	s = prep(st,
		 "INSERT INTO policies(kind, namespace, name, file_id, first_rule_id, audit, "
		 "imported) VALUES(?1,?2,?3,?4,?5,?6,?7)",
		 eb);
	if (!s)
		return -EIO;
	bind_text(s, 1, p->kind);
	bind_text(s, 2, p->ns ? p->ns : "");
	bind_text(s, 3, p->name);
	sqlite3_bind_int64(s, 4, p->file_id);
	sqlite3_bind_int64(s, 5, p->first_rule_id);
	sqlite3_bind_int(s, 6, p->audit);
	bind_text(s, 7, p->imported);
	err = run(st, s, "write policy", eb);
	if (!err)
		p->seq = sqlite3_last_insert_rowid(st->db);
	return err;
}

int agent_store_policy_set_rule_id(struct agent_store *st, const char *kind, const char *ns,
				   const char *name, uint32_t first_rule_id, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(st,
			       "UPDATE policies SET first_rule_id=?4 WHERE kind=?1 AND "
			       "namespace=?2 AND name=?3",
			       eb);

	if (!s)
		return -EIO;
	bind_text(s, 1, kind);
	bind_text(s, 2, ns ? ns : "");
	bind_text(s, 3, name);
	sqlite3_bind_int64(s, 4, first_rule_id);
	return run(st, s, "write policy rule id", eb);
}

int agent_store_policy_delete(struct agent_store *st, const char *kind, const char *ns,
			      const char *name, struct errbuf *eb)
{
	sqlite3_stmt *s =
		prep(st, "DELETE FROM policies WHERE kind=?1 AND namespace=?2 AND name=?3", eb);

	if (!s)
		return -EIO;
	bind_text(s, 1, kind);
	bind_text(s, 2, ns ? ns : "");
	bind_text(s, 3, name);
	return run(st, s, "delete policy", eb);
}

int agent_store_policy_get(struct agent_store *st, const char *kind, const char *ns,
			   const char *name, int64_t *file_id, bool *audit, struct errbuf *eb)
{
	sqlite3_stmt *s = prep(
		st,
		"SELECT file_id, audit FROM policies WHERE kind=?1 AND namespace=?2 AND name=?3",
		eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, kind);
	bind_text(s, 2, ns ? ns : "");
	bind_text(s, 3, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*file_id = sqlite3_column_int64(s, 0);
		*audit = sqlite3_column_int(s, 1);
	} else if (rc == SQLITE_DONE) {
		err = -ENOENT;
	} else {
		err = db_err(st, eb, "read policy");
	}
	sqlite3_finalize(s);
	return err;
}

int agent_store_file_same(struct agent_store *st, int64_t id, const char *name, const char *content,
			  size_t len, bool *same, struct errbuf *eb)
{
	/* SQLite compares the text where it is: nothing is copied out */
	sqlite3_stmt *s =
		prep(st, "SELECT name=?2 AND content=?3 FROM policy_files WHERE id=?1", eb);
	int rc, err = 0;

	*same = false;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, name);
	sqlite3_bind_blob64(s, 3, len ? content : "", len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*same = sqlite3_column_int(s, 0) == 1;
	else if (rc != SQLITE_DONE)
		err = db_err(st, eb, "read policy file");
	sqlite3_finalize(s);
	return err;
}

int agent_store_policy_foreach(struct agent_store *st,
			       int (*fn)(void *ctx, const struct agent_store_policy *p), void *ctx,
			       struct errbuf *eb)
{
	return agent_store_policy_foreach_where(st, NULL, NULL, NULL, fn, ctx, eb);
}

int agent_store_policy_foreach_where(struct agent_store *st, const char *kind, const char *ns,
				     const char *name,
				     int (*fn)(void *ctx, const struct agent_store_policy *p),
				     void *ctx, struct errbuf *eb)
{
	/* filtered inside SQLite: a policy of 100,000 costs no call per row */
	sqlite3_stmt *s = prep(st,
			       "SELECT seq, kind, namespace, name, file_id, first_rule_id, audit, "
			       "imported FROM policies WHERE (?1 IS NULL OR kind=?1) AND (?2 IS "
			       "NULL OR namespace=?2) AND (?3 IS NULL OR name=?3) ORDER BY seq",
			       eb);
	int rc, err = 0;

	if (!s)
		return -EIO;
	bind_text(s, 1, kind);
	bind_text(s, 2, ns);
	bind_text(s, 3, name);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct agent_store_policy p = {
			.seq = sqlite3_column_int64(s, 0),
			.kind = col_text(s, 1),
			.ns = col_text(s, 2),
			.name = col_text(s, 3),
			.file_id = sqlite3_column_int64(s, 4),
			.first_rule_id = (uint32_t)sqlite3_column_int64(s, 5),
			.audit = sqlite3_column_int(s, 6),
			.imported = col_text(s, 7),
		};

		if (!p.kind || !p.ns || !p.name || !p.imported) {
			err = errbuf_set(eb, -EINVAL, "store %s: policy row %lld: missing fields",
					 st->path, (long long)p.seq);
			break;
		}
		err = fn(ctx, &p);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(st, eb, "read policies");
	sqlite3_finalize(s);
	return err;
}
