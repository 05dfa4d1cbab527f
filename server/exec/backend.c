/*
 * backend.c — the protocol messages of one session, run on an executor
 * thread (see backend.h).
 *
 * Transactions follow PostgreSQL's rules on top of SQLite's connections:
 *   - A statement outside a block runs in SQLite autocommit: reads on a
 *     reader connection, writes on the writer.
 *   - A block (BEGIN, or the implicit block of a multi-statement query or
 *     of a pipeline before Sync) takes a connection lazily. Its first read
 *     opens a read transaction on a pooled reader connection, which keeps
 *     its snapshot (REPEATABLE READ) and never blocks the writer. Its first
 *     write moves it to the writer connection with BEGIN IMMEDIATE; if any
 *     commit happened since its snapshot began, the move fails with 40001,
 *     as a serialization failure in PostgreSQL would.
 *   - An error in a block marks it failed: everything but ROLLBACK (or
 *     ROLLBACK TO a savepoint) gets 25P02, and COMMIT answers ROLLBACK.
 * A write that reaches a reader thread stops with STEP_MOVE before doing
 * anything; the executor then continues the same job on the writer.
 */
#include "backend_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "nodestatus.h"
#include "pgtypes.h"
#include "pgwire.h"
#include "sl_error.h"
#include "sql_rewrite.h"
#include "walsender.h"
#include "sqlstate.h"

#define MAX_STATEMENTS_PER_QUERY 100000

/* ---------------------------------------------------------------- errors */

int backend_error(struct ctx *x, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pgwire_put_error(x->out, 'E', "ERROR", sqlstate, msg, NULL, NULL);
	if (x->s->txn == TXN_BLOCK)
		x->s->txn = TXN_FAILED;
	return STEP_ERROR;
}

/* A malformed message: FATAL, and the connection is closed after the reply. */
static int protocol_violation(struct ctx *x, const char *message)
{
	pgwire_put_error(x->out, 'E', "FATAL", SQLSTATE_PROTOCOL_VIOLATION, message, NULL, NULL);
	x->job->fatal = true;
	return STEP_ERROR;
}

static int failed_block_error(struct ctx *x)
{
	return backend_error(x, SQLSTATE_IN_FAILED_TRANSACTION,
			     "current transaction is aborted, commands ignored until end of transaction block");
}

/* PostgreSQL's words for a hot standby read cancelled by replay. */
static int standby_conflict_error(struct ctx *x)
{
	pgwire_put_error(x->out, 'E', "ERROR", SQLSTATE_SERIALIZATION_FAILURE,
			 "canceling statement due to conflict with recovery",
			 "User query might have needed to see row versions that must be removed.", NULL);
	if (x->s->txn == TXN_BLOCK)
		x->s->txn = TXN_FAILED;
	return STEP_ERROR;
}

int backend_sqlite_error(struct ctx *x, struct dbconn *c)
{
	if (atomic_load(&c->standby_conflict))
		return standby_conflict_error(x);
	int rc = sqlite3_extended_errcode(c->db);
	if ((rc & 0xff) == SQLITE_INTERRUPT) {
		if (x->job->intr.timed_out)
			return backend_error(x, SQLSTATE_QUERY_CANCELED, "canceling statement due to statement timeout");
		return backend_error(x, SQLSTATE_QUERY_CANCELED, "canceling statement due to user request");
	}
	if (rc == SQLITE_CONSTRAINT_COMMITHOOK || atomic_load(&x->pool->failed))
		return backend_error(x, SQLSTATE_IO_ERROR,
				     "writes are stopped: the node could not make its log durable");
	if (c->writer && c->commit_error[0]) { /* a block's COMMIT was refused (dbpool.h) */
		backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE, "%s", c->commit_error);
		c->commit_error[0] = '\0';
		return STEP_ERROR;
	}
	if (c->fn_error.sqlstate[0]) {
		pgwire_put_error(x->out, 'E', "ERROR", c->fn_error.sqlstate, c->fn_error.message, NULL,
				 c->fn_error.hint[0] ? c->fn_error.hint : NULL);
		c->fn_error.sqlstate[0] = '\0';
		if (x->s->txn == TXN_BLOCK)
			x->s->txn = TXN_FAILED;
		return STEP_ERROR;
	}
	if (rc == SQLITE_AUTH && dbconn_denied(c))
		return backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE, "%s", dbconn_denied(c));
	const char *msg = sqlite3_errmsg(c->db);
	return backend_error(x, sqlstate_from_sqlite(rc, msg), "%s", msg);
}

void backend_notice(struct ctx *x, const char *severity, const char *sqlstate, const char *message)
{
	pgwire_put_error(x->out, 'N', severity, sqlstate, message, NULL, NULL);
}

/* ----------------------------------------------------------- connections */

int backend_quote_ident(const char *name, char *out, size_t outlen)
{
	size_t n = 0;
	if (outlen < 3)
		return -1;
	out[n++] = '"';
	for (const char *p = name; *p; p++) {
		if (n + 3 >= outlen)
			return -1;
		if (*p == '"')
			out[n++] = '"';
		out[n++] = *p;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

static int replay_savepoints(struct ctx *x, struct dbconn *c)
{
	for (int i = 0; i < x->s->nsavepoints; i++) {
		char sql[300], q[280];
		if (backend_quote_ident(x->s->savepoints[i], q, sizeof(q)) != 0)
			return backend_error(x, SQLSTATE_PROGRAM_LIMIT, "savepoint name too long");
		snprintf(sql, sizeof(sql), "SAVEPOINT %s", q);
		if (dbconn_exec(c, sql) != SQLITE_OK)
			return backend_sqlite_error(x, c);
	}
	return STEP_OK;
}

static void attach(struct ctx *x, struct dbconn *c)
{
	c->intr = &x->job->intr;
	c->session = x->s;
}

/* Ends the session's read transaction on its reader connection. */
static void end_reader(struct ctx *x)
{
	struct session *s = x->s;
	struct dbconn *r = s->bound;
	struct portal **pp = &s->portals;
	while (*pp) {
		struct portal *p = *pp;
		if (p->conn == r) {
			*pp = p->next;
			p->next = NULL;
			backend_portal_close(x, p);
		} else {
			pp = &p->next;
		}
	}
	dbconn_exec(r, "ROLLBACK");
	dbpool_release(x->pool, r);
	s->bound = NULL;
}

struct dbconn *backend_any_conn(struct ctx *x)
{
	if (x->s->bound) {
		attach(x, x->s->bound);
		return x->s->bound;
	}
	if (x->on_writer && x->pool->writer) {
		attach(x, x->pool->writer);
		return x->pool->writer;
	}
	if (!x->job->temp) {
		char err[256];
		x->job->temp = dbpool_acquire(x->pool, err, sizeof(err));
		if (!x->job->temp) {
			log_error("backend", "could not open a reader connection: %s", err);
			return NULL;
		}
	}
	attach(x, x->job->temp);
	return x->job->temp;
}

/* sql reads nothing but the node's own status (sluice_status, ...): what a
 * node that must not show its data still answers. */
static bool status_only(struct ctx *x, const char *sql)
{
	struct dbconn *c = sql ? backend_any_conn(x) : NULL;
	return c && dbconn_reads_no_data(c, sql);
}

int backend_conn_for(struct ctx *x, bool write, const char *sql, struct dbconn **out)
{
	struct session *s = x->s;
	struct dbpool *pool = x->pool;
	if (x->job->forced_sqlstate[0]) { /* the executor failed the job before it ran */
		int rc = backend_error(x, x->job->forced_sqlstate, "%s", x->job->forced_message);
		x->job->forced_sqlstate[0] = '\0';
		return rc;
	}
	if (write) {
		if (s->read_only_node || !pool->writer)
			return backend_error(x, SQLSTATE_READ_ONLY_TRANSACTION,
					     "cannot execute a write on a read-only node");
		const char *fenced = pool->cl ? commitlog_fence_reason(pool->cl) : NULL;
		if (fenced)
			return backend_error(x, SQLSTATE_READ_ONLY_TRANSACTION, "cannot execute a write: %s", fenced);
		const char *deflt = session_get(s, "default_transaction_read_only");
		bool implicit = s->txn == TXN_IDLE || s->implicit;
		if (s->txn_read_only || (implicit && deflt && strcasecmp(deflt, "on") == 0))
			return backend_error(x, SQLSTATE_READ_ONLY_TRANSACTION,
					     "cannot execute a write in a read-only transaction");
		if (atomic_load(&pool->failed))
			return backend_error(x, SQLSTATE_IO_ERROR,
					     "writes are stopped: the node could not make its log durable");
		if (!x->on_writer)
			return STEP_MOVE;
		struct dbconn *w = pool->writer;
		attach(x, w);
		if (s->bound != w && s->txn == TXN_BLOCK) {
			if (s->bound) {
				/* the snapshot stays bound on a conflict, so that ROLLBACK TO
				 * a savepoint cannot trade it for a newer one */
				if (dbpool_commit_count(pool) != s->snapshot_commits)
					return backend_error(x, SQLSTATE_SERIALIZATION_FAILURE,
							     "could not serialize access due to concurrent update");
				for (struct portal *p = s->portals; p; p = p->next)
					if (p->conn == s->bound && !p->done)
						return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED,
								     "cannot write in a transaction while a cursor "
								     "or portal is open on its read snapshot");
				end_reader(x);
			}
			if (dbconn_exec(w, "BEGIN IMMEDIATE") != SQLITE_OK)
				return backend_sqlite_error(x, w);
			s->bound = w;
			int rc = replay_savepoints(x, w);
			if (rc != STEP_OK)
				return rc;
		}
		*out = w;
		return STEP_OK;
	}
	if (s->bound) {
		if (atomic_load(&s->bound->standby_conflict))
			return standby_conflict_error(x);
		attach(x, s->bound);
		*out = s->bound;
		return STEP_OK;
	}
	if (atomic_load(&pool->unconfirmed) && !status_only(x, sql))
		return backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				     "this node lost its leader lease holding commits that no standby confirmed; "
				     "it serves reads again once it has rejoined a leader");
	if (s->read_only_node && s->cfg.max_replica_lag_ms > 0) {
		/* a new snapshot: refused while this follower is too far behind */
		struct node_info n;
		nodestatus_node(&n);
		if (n.staleness_ms > (double)s->cfg.max_replica_lag_ms)
			return backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					     "replica is too far behind: %.3f s behind the leader, more than "
					     "max_replica_lag (%.3f s)",
					     n.staleness_ms / 1000.0, (double)s->cfg.max_replica_lag_ms / 1000.0);
	}
	if (s->txn == TXN_BLOCK && x->on_writer && pool->writer && pool->writer->batch && !x->job->writer_forbidden) {
		/* a block run on the writer reads there too: it must see the
		 * batch's writes, which no reader snapshot has */
		struct dbconn *w = pool->writer;
		attach(x, w);
		if (dbconn_exec(w, "BEGIN IMMEDIATE") != SQLITE_OK)
			return backend_sqlite_error(x, w);
		s->bound = w;
		*out = w;
		return replay_savepoints(x, w);
	}
	if (s->txn == TXN_BLOCK) {
		char err[256];
		struct dbconn *c = dbpool_acquire(pool, err, sizeof(err));
		if (!c)
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "could not open a connection: %s", err);
		attach(x, c);
		s->snapshot_commits = dbpool_commit_count(pool);
		if (dbconn_exec(c, "BEGIN") != SQLITE_OK) {
			int rc = backend_sqlite_error(x, c);
			dbpool_release(pool, c);
			return rc;
		}
		s->bound = c;
		*out = c;
		return replay_savepoints(x, c);
	}
	struct dbconn *c = backend_any_conn(x);
	if (!c)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "could not open a connection");
	*out = c;
	return STEP_OK;
}

int backend_txn_finish(struct ctx *x, bool commit)
{
	struct session *s = x->s;
	int rc = STEP_OK;
	while (s->portals) {
		struct portal *p = s->portals;
		s->portals = p->next;
		p->next = NULL;
		backend_portal_close(x, p);
	}
	if (s->bound) {
		struct dbconn *c = s->bound;
		attach(x, c);
		if (commit && dbconn_exec(c, "COMMIT") != SQLITE_OK) {
			s->txn = TXN_IDLE; /* the error below must not mark a block failed */
			rc = backend_sqlite_error(x, c);
			dbconn_exec(c, "ROLLBACK");
		} else if (!commit) {
			dbconn_exec(c, "ROLLBACK");
		}
		if (!c->writer)
			dbpool_release(x->pool, c);
		s->bound = NULL;
	}
	s->txn = TXN_IDLE;
	s->implicit = false;
	s->txn_read_only = false;
	for (int i = 0; i < s->nsavepoints; i++)
		free(s->savepoints[i]);
	s->nsavepoints = 0;
	return rc;
}

/* --------------------------------------------------------------- portals */

void backend_portal_close(struct ctx *x, struct portal *p)
{
	if (p->st)
		dbconn_unprepare(p->conn, p->st);
	prepared_unref(p->prep);
	free(p->name);
	free(p->oids);
	free(p->formats);
	free(p);
}

static void portal_unlink(struct ctx *x, const char *name)
{
	for (struct portal **pp = &x->s->portals; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0) {
			struct portal *p = *pp;
			*pp = p->next;
			backend_portal_close(x, p);
			return;
		}
	}
}

struct portal *backend_portal_new(struct ctx *x, const char *name, struct prepared *prep)
{
	struct portal *p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return NULL;
	}
	p->prep = prep;
	prep->refs++;
	p->next = x->s->portals;
	x->s->portals = p;
	return p;
}

/* Steps once so that expression columns get the type of their first value. */
int backend_portal_peek(struct ctx *x, struct portal *p)
{
	if (!p->st || p->row_ready || p->done || p->ncols == 0)
		return STEP_OK;
	attach(x, p->conn);
	int rc = dbconn_step(p->conn, p->st);
	if (rc == SQLITE_ROW) {
		p->row_ready = true;
	} else if (rc == SQLITE_DONE) {
		p->done = true;
	} else {
		p->done = true;
		int r = backend_sqlite_error(x, p->conn);
		sqlite3_reset(p->st);
		return r;
	}
	return STEP_OK;
}

static int decide_types(struct portal *p)
{
	if (p->oids || p->ncols == 0)
		return 0;
	p->oids = calloc((size_t)p->ncols, sizeof(*p->oids));
	if (!p->oids)
		return -1;
	for (int i = 0; i < p->ncols; i++) {
		uint32_t oid = pgtypes_from_decltype(sqlite3_column_decltype(p->st, i));
		if (!oid && p->row_ready)
			oid = pgtypes_from_storage(sqlite3_column_type(p->st, i));
		p->oids[i] = oid ? oid : OID_TEXT;
	}
	return 0;
}

/*
 * PostgreSQL names an unaliased function call after the function and any
 * other expression "?column?"; SQLite names it by its text. A name that is
 * a plain identifier (a column or an alias) is kept.
 */
static const char *column_name(sqlite3_stmt *st, int i)
{
	static __thread char fname[64];
	const char *name = sqlite3_column_name(st, i);
	if (!name || sqlite3_column_table_name(st, i))
		return name ? name : "?column?";
	size_t n = 0;
	while (name[n] == '_' || (name[n] >= 'a' && name[n] <= 'z') || (name[n] >= 'A' && name[n] <= 'Z') ||
	       (n > 0 && name[n] >= '0' && name[n] <= '9'))
		n++;
	if (name[n] == '\0' && n > 0)
		return name;
	if (n > 0 && n < sizeof(fname) && name[n] == '(' && name[strlen(name) - 1] == ')') {
		for (size_t k = 0; k < n; k++)
			fname[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] - 'A' + 'a' : name[k]);
		fname[n] = '\0';
		return fname;
	}
	return "?column?";
}

void backend_row_description(struct ctx *x, struct portal *p)
{
	decide_types(p);
	size_t m = pgwire_row_description_begin(x->out, (uint16_t)p->ncols);
	for (int i = 0; i < p->ncols; i++) {
		const char *name = column_name(p->st, i);
		uint32_t oid = p->oids ? p->oids[i] : OID_TEXT;
		pgwire_row_description_field(x->out, name ? name : "?column?", oid, pgtypes_typlen(oid),
					     p->formats ? p->formats[i] : 0);
	}
	pgwire_end(x->out, m);
}

static void command_tag(struct portal *p, uint64_t rows, char *tag, size_t len)
{
	char w1[32], w2[32] = "";
	const char *text = p->prep->text;
	size_t tlen = strlen(text);
	sql_first_word(text, tlen, w1, sizeof(w1));
	sqlite3 *db = p->conn->db;
	if (strcmp(w1, "insert") == 0 || strcmp(w1, "replace") == 0) {
		snprintf(tag, len, "INSERT 0 %lld", (long long)sqlite3_changes64(db));
	} else if (strcmp(w1, "update") == 0) {
		snprintf(tag, len, "UPDATE %lld", (long long)sqlite3_changes64(db));
	} else if (strcmp(w1, "delete") == 0) {
		snprintf(tag, len, "DELETE %lld", (long long)sqlite3_changes64(db));
	} else if (strcmp(w1, "create") == 0 || strcmp(w1, "drop") == 0 || strcmp(w1, "alter") == 0) {
		/* CREATE [UNIQUE|TEMP|TEMPORARY|VIRTUAL] TABLE|INDEX|VIEW|TRIGGER … */
		static const char *const objects[] = { "table", "index", "view", "trigger" };
		for (size_t i = 0; i < 4 && !w2[0]; i++) {
			const char *hit = strcasestr(text, objects[i]);
			if (hit && hit - text < 40)
				snprintf(w2, sizeof(w2), " %s", objects[i]);
		}
		snprintf(tag, len, "%s%s", w1, w2);
		for (char *c = tag; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
	} else if (strcmp(w1, "with") == 0 && !sqlite3_stmt_readonly(p->st) && p->ncols == 0) {
		/* WITH … INSERT/UPDATE/DELETE: the verb after the common table expressions */
		const char *verb = strcasestr(text, "insert") ? "INSERT 0" : strcasestr(text, "update") ? "UPDATE"
												 : "DELETE";
		snprintf(tag, len, "%s %lld", verb, (long long)sqlite3_changes64(db));
	} else if (p->ncols > 0 || strcmp(w1, "select") == 0 || strcmp(w1, "values") == 0 ||
		   strcmp(w1, "with") == 0) {
		snprintf(tag, len, "SELECT %llu", (unsigned long long)rows);
	} else {
		snprintf(tag, len, "%s", w1);
		for (char *c = tag; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
	}
}

/*
 * Sends up to max_rows rows (0 = all) as DataRows — or drops them when
 * discard — then CommandComplete when the statement is done or
 * PortalSuspended when the limit was reached. FETCH passes its own tag
 * handling by giving sent != NULL: then no CommandComplete is written.
 */
int backend_portal_send(struct ctx *x, struct portal *p, uint64_t max_rows, bool discard, uint64_t *sent)
{
	uint64_t n = 0;
	char err[256];
	const char *state = NULL;
	if (decide_types(p) != 0)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
	attach(x, p->conn);
	while (!p->done) {
		if (!p->row_ready) {
			int rc = dbconn_step(p->conn, p->st);
			if (rc == SQLITE_ROW) {
				p->row_ready = true;
			} else if (rc == SQLITE_DONE) {
				p->done = true;
				break;
			} else {
				p->done = true;
				int r = backend_sqlite_error(x, p->conn);
				sqlite3_reset(p->st);
				return r;
			}
		}
		if (max_rows && n == max_rows)
			break;
		if (p->ncols > 0 && !discard) {
			size_t m = pgwire_data_row_begin(x->out, (uint16_t)p->ncols);
			for (int i = 0; i < p->ncols; i++) {
				if (pgtypes_put_column(x->out, p->st, i, p->oids[i], p->formats ? p->formats[i] : 0, err,
						       sizeof(err), &state) != 0) {
					x->out->len = m - 1; /* drop the half row */
					p->done = true;
					sqlite3_reset(p->st);
					return backend_error(x, state, "%s", err);
				}
			}
			pgwire_end(x->out, m);
		}
		p->row_ready = false;
		n++;
		p->rows++;
	}
	if (x->out->oom)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory building the result");
	if (sent) {
		*sent = n;
		if (p->done)
			sqlite3_reset(p->st);
		return STEP_OK;
	}
	if (!p->done) {
		pgwire_put_simple(x->out, 's');
		return STEP_OK;
	}
	char tag[64];
	command_tag(p, p->rows, tag, sizeof(tag));
	sqlite3_reset(p->st); /* ends the statement's read, frees its locks */
	pgwire_put_command_complete(x->out, tag);
	return STEP_OK;
}

/* ------------------------------------------------------------ statements */

/* Drops the builder's reference; a cursor's portal may keep its own. */
static void free_prepared(struct prepared *p) { prepared_unref(p); }

/*
 * Builds a prepared statement from client text: classifies it, rewrites
 * it for SQLite and prepares it once to check it and learn its parameters.
 */
static int prepared_build(struct ctx *x, const char *name, const char *text, size_t len, uint16_t noids,
			  const uint8_t *oids, struct prepared **out)
{
	struct prepared *p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name)) || !(p->text = strndup(text, len))) {
		if (p)
			free(p->name);
		free(p);
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
	}
	p->refs = 1;
	p->readonly = true;
	char err[256];
	if (sql_classify(text, len, &p->cmd, err, sizeof(err)) != 0) {
		free_prepared(p);
		return backend_error(x, SQLSTATE_SYNTAX_ERROR, "%s", err);
	}
	const char *body = text;
	size_t body_len = len;
	if (p->cmd.kind == SQL_DECLARE) {
		body = text + p->cmd.query_off;
		body_len = p->cmd.query_len;
	}
	if (p->cmd.kind == SQL_OTHER || p->cmd.kind == SQL_DECLARE) {
		int max_param = 0;
		p->sql = sql_rewrite(body, body_len, &max_param);
		if (!p->sql) {
			free_prepared(p);
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		}
		struct dbconn *c = backend_any_conn(x);
		if (!c) {
			free_prepared(p);
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "could not open a connection");
		}
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		int rc = dbconn_prepare(c, p->sql, &st, &tail);
		if (rc != SQLITE_OK) {
			free_prepared(p);
			return backend_sqlite_error(x, c);
		}
		bool more = tail && !sql_is_blank(tail, strlen(tail));
		p->nparams = st ? sqlite3_bind_parameter_count(st) : 0;
		p->readonly = st ? !dbconn_prepared_writes(c, st) : true;
		dbconn_unprepare(c, st);
		if (more) {
			free_prepared(p);
			return backend_error(x, SQLSTATE_SYNTAX_ERROR,
					     "cannot insert multiple commands into a prepared statement");
		}
	} else {
		p->readonly = !(p->cmd.kind == SQL_VACUUM || p->cmd.kind == SQL_ANALYZE ||
				p->cmd.kind == SQL_TRUNCATE || p->cmd.kind == SQL_CHECKPOINT);
	}
	if (noids > p->nparams)
		p->nparams = noids;
	if (p->nparams > 0) {
		p->param_oids = calloc((size_t)p->nparams, sizeof(uint32_t));
		if (!p->param_oids) {
			free_prepared(p);
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		}
		for (int i = 0; i < p->nparams; i++)
			p->param_oids[i] = pgwire_oid_at(oids, noids, i);
	}
	*out = p;
	return STEP_OK;
}

/* Opens the statement of a prepared SQLite command on the right connection. */
static int portal_open(struct ctx *x, struct portal *pt)
{
	struct prepared *p = pt->prep;
	struct dbconn *c;
	int rc = backend_conn_for(x, !p->readonly, p->sql, &c);
	if (rc != STEP_OK)
		return rc;
	if (dbconn_prepare(c, p->sql, &pt->st, NULL) != SQLITE_OK || !pt->st)
		return backend_sqlite_error(x, c);
	pt->conn = c;
	pt->ncols = sqlite3_column_count(pt->st);
	if (dbconn_prepared_writes(c, pt->st) && !c->writer) {
		/* the schema changed under the statement: it writes after all */
		dbconn_unprepare(c, pt->st);
		pt->st = NULL;
		p->readonly = false;
		return portal_open(x, pt);
	}
	return STEP_OK;
}

static void set_deadline(struct ctx *x)
{
	int64_t t = x->s->cfg.statement_timeout_ms;
	x->job->intr.deadline_ns = t > 0 ? monotonic_ns() + t * 1000000 : 0;
	x->job->intr.timed_out = false;
}

/* One statement of a simple query: its RowDescription, rows and tag. */
static int run_simple_statement(struct ctx *x, const char *text, size_t len)
{
	struct prepared *p;
	int rc = prepared_build(x, "", text, len, 0, NULL, &p);
	if (rc != STEP_OK)
		return rc;
	if (x->s->txn == TXN_FAILED && !utility_allowed_when_failed(&p->cmd)) {
		free_prepared(p);
		return failed_block_error(x);
	}
	set_deadline(x);
	if (p->cmd.kind != SQL_OTHER) {
		rc = utility_run(x, p, text);
		free_prepared(p);
		return rc;
	}
	if (p->nparams > 0) {
		free_prepared(p);
		return backend_error(x, SQLSTATE_UNDEFINED_PARAMETER, "there is no parameter $1");
	}
	struct portal pt = { .name = "", .prep = p };
	rc = portal_open(x, &pt);
	if (rc == STEP_OK) {
		rc = backend_portal_peek(x, &pt);
		if (rc == STEP_OK) {
			if (pt.ncols > 0)
				backend_row_description(x, &pt);
			rc = backend_portal_send(x, &pt, 0, false, NULL);
		}
	}
	if (pt.st)
		dbconn_unprepare(pt.conn, pt.st);
	free(pt.oids);
	free_prepared(p);
	return rc;
}

static char ready_status(const struct session *s)
{
	if (s->txn == TXN_FAILED)
		return 'E';
	if (s->txn == TXN_BLOCK && !s->implicit)
		return 'T';
	return 'I';
}

/* Owed ParameterStatus, then ReadyForQuery (where the job notes it is). */
static void put_ready(struct ctx *x)
{
	buf_move(x->out, &x->s->reports);
	if (x->out == &x->job->out)
		x->job->ready_at = x->out->len;
	pgwire_put_ready(x->out, ready_status(x->s));
}

/* Ends an implicit block (end of a multi-statement query, or Sync). */
static void finish_implicit(struct ctx *x)
{
	if (x->s->implicit)
		backend_txn_finish(x, x->s->txn == TXN_BLOCK);
}

static int run_query(struct ctx *x, const char *sql)
{
	struct session *s = x->s;
	size_t len = strlen(sql), total = 0;
	size_t n = sql_split(sql, len, NULL, 0, &total);
	struct sql_span *spans = NULL;
	if (total > MAX_STATEMENTS_PER_QUERY) {
		backend_error(x, SQLSTATE_PROGRAM_LIMIT, "too many statements in one query");
		goto done;
	}
	if (total > 0) {
		spans = malloc(total * sizeof(*spans));
		if (!spans) {
			backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
			goto done;
		}
		n = sql_split(sql, len, spans, total, &total);
	}
	if (n == 0) {
		pgwire_put_simple(x->out, 'I');
		goto done;
	}
	if (x->job->stmt_index == 0 && s->txn == TXN_IDLE && n > 1) {
		s->txn = TXN_BLOCK;
		s->implicit = true;
	}
	for (size_t i = x->job->stmt_index; i < n; i++) {
		x->job->stmt_index = i;
		int rc = run_simple_statement(x, sql + spans[i].off, spans[i].len);
		if (rc == STEP_MOVE) {
			free(spans);
			return STEP_MOVE;
		}
		if (rc == WALSENDER_STREAMING) { /* no ReadyForQuery: the stream goes on */
			free(spans);
			x->job->stmt_index = 0;
			finish_implicit(x);
			return STEP_OK;
		}
		if (rc == STEP_ERROR)
			break;
		if (s->txn == TXN_IDLE && i + 1 < n) {
			s->txn = TXN_BLOCK;
			s->implicit = true;
		}
	}
done:
	free(spans);
	x->job->stmt_index = 0;
	finish_implicit(x);
	put_ready(x);
	return STEP_OK;
}

/* ------------------------------------------------------ extended protocol */

static int msg_parse(struct ctx *x, const struct pg_msg *m)
{
	struct pg_parse pm;
	if (pgwire_decode_parse(m, &pm) != 0)
		return protocol_violation(x, "invalid Parse message");
	if (pm.name[0] && session_find_prepared(x->s, pm.name))
		return backend_error(x, SQLSTATE_DUPLICATE_PSTATEMENT, "prepared statement \"%s\" already exists",
				     pm.name);
	struct prepared *p;
	int rc = prepared_build(x, pm.name, pm.query, strlen(pm.query), pm.nparams, pm.param_oids, &p);
	if (rc != STEP_OK)
		return rc;
	if (x->s->txn == TXN_FAILED && !utility_allowed_when_failed(&p->cmd)) {
		free_prepared(p);
		return failed_block_error(x);
	}
	if (!pm.name[0])
		session_drop_prepared(x->s, "");
	session_add_prepared(x->s, p);
	pgwire_put_simple(x->out, '1');
	return STEP_OK;
}

/* Bind [Describe] Execute Sync: one statement that can run in autocommit. */
static bool single_statement_ahead(struct ctx *x, size_t from)
{
	const struct buf *in = &x->job->in;
	struct pg_msg m;
	size_t used, pos = from;
	int executes = 0;
	while (pgwire_frame(in->data + pos, in->len - pos, SIZE_MAX, &m, &used) == 1) {
		pos += used;
		if (m.type == 'S')
			return executes <= 1;
		if (m.type == 'E')
			executes++;
		else if (m.type != 'D' && m.type != 'H')
			return false;
	}
	return false;
}

static int msg_bind(struct ctx *x, const struct pg_msg *m, size_t next_pos)
{
	struct session *s = x->s;
	struct pg_bind b;
	int drc = pgwire_decode_bind(m, &b);
	if (drc == SL_ENOMEM)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
	if (drc != 0)
		return protocol_violation(x, "invalid Bind message");
	int rc = STEP_OK;
	struct prepared *p = session_find_prepared(s, b.stmt);
	if (!p) {
		rc = backend_error(x, SQLSTATE_INVALID_SQL_STATEMENT_NAME, "prepared statement \"%s\" does not exist",
				   b.stmt);
		goto out;
	}
	if (s->txn == TXN_FAILED && !utility_allowed_when_failed(&p->cmd)) {
		rc = failed_block_error(x);
		goto out;
	}
	if (b.portal[0] && session_find_portal(s, b.portal)) {
		rc = backend_error(x, SQLSTATE_DUPLICATE_CURSOR, "portal \"%s\" already exists", b.portal);
		goto out;
	}
	if (b.nparams != p->nparams) {
		rc = backend_error(x, SQLSTATE_PROTOCOL_VIOLATION,
				   "bind message supplies %d parameters, but prepared statement \"%s\" requires %d",
				   b.nparams, p->name, p->nparams);
		goto out;
	}
	if (s->txn == TXN_IDLE && p->cmd.kind == SQL_OTHER && !single_statement_ahead(x, next_pos)) {
		s->txn = TXN_BLOCK; /* a pipeline: one implicit transaction until Sync */
		s->implicit = true;
	}
	if (!b.portal[0])
		portal_unlink(x, "");
	struct portal *pt = backend_portal_new(x, b.portal, p);
	if (!pt) {
		rc = backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
		goto out;
	}
	if (p->sql && p->cmd.kind == SQL_OTHER) {
		rc = portal_open(x, pt);
		if (rc != STEP_OK) {
			portal_unlink(x, b.portal);
			goto out;
		}
		char err[256];
		const char *state = NULL;
		for (int i = 0; i < b.nparams; i++) {
			int fmt = pgwire_format_at(b.formats, b.nformats, i);
			uint32_t oid = p->param_oids ? p->param_oids[i] : 0;
			if (pgtypes_bind(pt->st, i + 1, oid, fmt, b.params[i].data, b.params[i].len, err, sizeof(err),
					 &state) != 0) {
				portal_unlink(x, b.portal);
				rc = backend_error(x, state, "%s", err);
				goto out;
			}
		}
		if (pt->ncols > 0 && b.nresult_formats > 0) {
			if (b.nresult_formats != 1 && b.nresult_formats != pt->ncols) {
				portal_unlink(x, b.portal);
				rc = backend_error(x, SQLSTATE_PROTOCOL_VIOLATION,
						   "bind message has %d result formats but query has %d columns",
						   b.nresult_formats, pt->ncols);
				goto out;
			}
			pt->formats = calloc((size_t)pt->ncols, sizeof(int16_t));
			if (!pt->formats) {
				portal_unlink(x, b.portal);
				rc = backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
				goto out;
			}
			for (int i = 0; i < pt->ncols; i++)
				pt->formats[i] = (int16_t)pgwire_format_at(b.result_formats, b.nresult_formats, i);
		}
	}
	pgwire_put_simple(x->out, '2');
out:
	pgwire_bind_free(&b);
	return rc;
}

static int msg_describe(struct ctx *x, const struct pg_msg *m)
{
	struct pg_describe d;
	if (pgwire_decode_describe(m, &d) != 0)
		return protocol_violation(x, "invalid Describe message");
	if (d.kind == 'S') {
		struct prepared *p = session_find_prepared(x->s, d.name);
		if (!p)
			return backend_error(x, SQLSTATE_INVALID_SQL_STATEMENT_NAME,
					     "prepared statement \"%s\" does not exist", d.name);
		uint32_t oids[p->nparams > 0 ? p->nparams : 1];
		for (int i = 0; i < p->nparams; i++)
			oids[i] = p->param_oids[i] ? p->param_oids[i] : OID_TEXT;
		pgwire_put_param_description(x->out, (uint16_t)p->nparams, oids);
		if (p->cmd.kind != SQL_OTHER)
			return utility_describe(x, p);
		struct dbconn *c = backend_any_conn(x);
		if (!c)
			return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "could not open a connection");
		struct portal pt = { .prep = p, .conn = c };
		if (dbconn_prepare(c, p->sql, &pt.st, NULL) != SQLITE_OK || !pt.st)
			return backend_sqlite_error(x, c);
		pt.ncols = sqlite3_column_count(pt.st);
		if (pt.ncols > 0)
			backend_row_description(x, &pt);
		else
			pgwire_put_simple(x->out, 'n');
		dbconn_unprepare(c, pt.st);
		free(pt.oids);
		return STEP_OK;
	}
	struct portal *pt = session_find_portal(x->s, d.name);
	if (!pt)
		return backend_error(x, SQLSTATE_INVALID_CURSOR_NAME, "portal \"%s\" does not exist", d.name);
	if (!pt->st)
		return utility_describe(x, pt->prep);
	if (pt->ncols == 0) {
		pgwire_put_simple(x->out, 'n');
		return STEP_OK;
	}
	set_deadline(x);
	int rc = backend_portal_peek(x, pt);
	if (rc != STEP_OK)
		return rc;
	backend_row_description(x, pt);
	return STEP_OK;
}

static int msg_execute(struct ctx *x, const struct pg_msg *m)
{
	struct pg_execute e;
	if (pgwire_decode_execute(m, &e) != 0)
		return protocol_violation(x, "invalid Execute message");
	struct portal *pt = session_find_portal(x->s, e.portal);
	if (!pt)
		return backend_error(x, SQLSTATE_INVALID_CURSOR_NAME, "portal \"%s\" does not exist", e.portal);
	if (x->s->txn == TXN_FAILED && !utility_allowed_when_failed(&pt->prep->cmd))
		return failed_block_error(x);
	set_deadline(x);
	if (!pt->st) {
		struct prepared *p = pt->prep;
		if (!p->readonly && !x->on_writer && x->pool->writer)
			return STEP_MOVE; /* before the portal is used up */
		p->refs++;
		portal_unlink(x, e.portal); /* a utility portal runs once */
		x->extended = true;
		int rc = utility_run(x, p, p->text);
		x->extended = false;
		prepared_unref(p);
		buf_move(x->out, &x->s->reports);
		return rc;
	}
	return backend_portal_send(x, pt, e.max_rows, false, NULL);
}

static int msg_close(struct ctx *x, const struct pg_msg *m)
{
	struct pg_describe d;
	if (pgwire_decode_describe(m, &d) != 0)
		return protocol_violation(x, "invalid Close message");
	if (d.kind == 'S')
		session_drop_prepared(x->s, d.name);
	else
		portal_unlink(x, d.name);
	pgwire_put_simple(x->out, '3');
	return STEP_OK;
}

static void msg_sync(struct ctx *x)
{
	struct session *s = x->s;
	s->skip_till_sync = false;
	finish_implicit(x);
	if (s->txn == TXN_IDLE) {
		while (s->portals) { /* portals live until the end of their transaction */
			struct portal *p = s->portals;
			s->portals = p->next;
			backend_portal_close(x, p);
		}
	}
	put_ready(x);
}

/* --------------------------------------------------------------- the run */

enum backend_result backend_run(struct job *job, struct dbpool *pool, bool on_writer)
{
	/* a job let through while another session holds the writer (to fail it)
	 * must not touch the writer connection at all */
	struct ctx x = { .job = job, .s = job->sess, .pool = pool, .on_writer = on_writer && !job->writer_forbidden,
			 .out = &job->out };
	const struct buf *in = &job->in;
	while (job->pos < in->len && !job->fatal) {
		struct pg_msg m;
		size_t used;
		if (pgwire_frame(in->data + job->pos, in->len - job->pos, SIZE_MAX, &m, &used) != 1)
			break; /* the loop thread framed these; cannot happen */
		size_t next = job->pos + used;
		if (x.s->skip_till_sync && m.type != 'S') {
			job->pos = next;
			continue;
		}
		int rc = STEP_OK;
		switch (m.type) {
		case 'Q': {
			const char *sql;
			if (pgwire_decode_query(&m, &sql) != 0) {
				protocol_violation(&x, "invalid Query message");
				break;
			}
			rc = run_query(&x, sql);
			break;
		}
		case 'P': rc = msg_parse(&x, &m); break;
		case 'B': rc = msg_bind(&x, &m, next); break;
		case 'D': rc = msg_describe(&x, &m); break;
		case 'E': rc = msg_execute(&x, &m); break;
		case 'C': rc = msg_close(&x, &m); break;
		case 'S': msg_sync(&x); break;
		case 'H': break;
		default:
			protocol_violation(&x, "invalid frontend message type");
			break;
		}
		if (rc == STEP_MOVE)
			return BACKEND_TO_WRITER;
		if (rc == STEP_ERROR && m.type != 'Q')
			x.s->skip_till_sync = true;
		job->pos = next;
	}
	return BACKEND_DONE;
}

void backend_close_session(struct job *job, struct dbpool *pool)
{
	struct ctx x = { .job = job, .s = job->sess, .pool = pool, .on_writer = true, .out = &job->out };
	backend_txn_finish(&x, false);
	while (x.s->prepared) {
		struct prepared *p = x.s->prepared;
		x.s->prepared = p->next;
		prepared_unref(p);
	}
}

#define ROUTE_MAX_PARSED 16

static bool name_listed(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

bool backend_wants_writer(const struct job *job, const struct dbpool *pool)
{
	const struct session *s = job->sess;
	if (!pool->writer)
		return false;
	if (s->bound)
		return s->bound == pool->writer;
	if (job->kind == JOB_CLOSE)
		return false;
	/* One pass over the job, no allocation: this runs on the loop thread. A
	 * statement parsed in this job (a read, or we would have returned)
	 * replaces the session's one of that name. A wrong guess costs little:
	 * a reader hands a write on to the writer. */
	const char *parsed[ROUTE_MAX_PARSED];
	int nparsed = 0;
	bool parsed_overflow = false;
	const struct buf *in = &job->in;
	size_t pos = job->pos, used;
	struct pg_msg m;
	while (pgwire_frame(in->data + pos, in->len - pos, SIZE_MAX, &m, &used) == 1) {
		pos += used;
		if (m.type == 'P') {
			struct pg_parse pm;
			if (pgwire_decode_parse(&m, &pm) != 0)
				return false;
			if (sql_guess_write(pm.query, strlen(pm.query)))
				return true;
			if (nparsed < ROUTE_MAX_PARSED)
				parsed[nparsed++] = pm.name;
			else
				parsed_overflow = true;
			continue;
		}
		if (m.type == 'Q') {
			const char *sql;
			if (pgwire_decode_query(&m, &sql) != 0)
				return false;
			size_t total = 0, len = strlen(sql);
			struct sql_span spans[16];
			size_t n = sql_split(sql, len, spans, 16, &total);
			for (size_t i = 0; i < n; i++)
				if (sql_guess_write(sql + spans[i].off, spans[i].len))
					return true;
			return false;
		}
		if (m.type == 'B') {
			struct cursor c;
			cursor_init(&c, m.body, m.len);
			cursor_cstr(&c); /* portal */
			const char *stmt = cursor_cstr(&c);
			if (!stmt)
				return false;
			if (parsed_overflow || name_listed(parsed, nparsed, stmt))
				continue;
			const struct prepared *p = session_find_prepared((struct session *)s, stmt);
			if (p && !p->readonly)
				return true;
		}
	}
	return false;
}

static enum backend_batch kind_of(const struct sql_command *cmd)
{
	switch (cmd->kind) {
	case SQL_VACUUM:
	case SQL_CHECKPOINT: return BATCH_NONE;
	case SQL_BEGIN:
	case SQL_SAVEPOINT:
	case SQL_RELEASE:
	case SQL_ROLLBACK_TO: return BATCH_ALONE;
	default: return BATCH_JOIN;
	}
}

static enum backend_batch classify_text(const char *sql, size_t len)
{
	struct sql_command cmd;
	char err[128];
	if (sql_classify(sql, len, &cmd, err, sizeof(err)) != 0)
		return BATCH_JOIN; /* an error reply, nothing more */
	return kind_of(&cmd);
}

static enum backend_batch worse(enum backend_batch a, enum backend_batch b)
{
	return a == BATCH_NONE || b == BATCH_NONE ? BATCH_NONE : a == BATCH_ALONE || b == BATCH_ALONE ? BATCH_ALONE
												       : BATCH_JOIN;
}

/*
 * A job may join a batch when its session holds no transaction, it ends
 * at Sync or with a simple query (so any implicit block ends with it), and
 * it opens no explicit block. VACUUM and CHECKPOINT run outside.
 */
enum backend_batch backend_batch_kind(const struct job *job)
{
	const struct session *s = job->sess;
	if (job->kind == JOB_CLOSE)
		return s->bound ? BATCH_ALONE : BATCH_JOIN;
	enum backend_batch kind = s->txn != TXN_IDLE || s->bound ? BATCH_ALONE : BATCH_JOIN;
	const struct buf *in = &job->in;
	size_t pos = job->pos, used;
	char last = 0;
	struct pg_msg m;
	while (pgwire_frame(in->data + pos, in->len - pos, SIZE_MAX, &m, &used) == 1) {
		pos += used;
		last = (char)m.type;
		if (m.type == 'Q') {
			const char *sql;
			if (pgwire_decode_query(&m, &sql) != 0)
				break;
			size_t total = 0, len = strlen(sql);
			struct sql_span spans[16];
			size_t n = sql_split(sql, len, spans, 16, &total);
			for (size_t i = 0; i < n; i++)
				kind = worse(kind, classify_text(sql + spans[i].off, spans[i].len));
			if (total > n)
				kind = worse(kind, BATCH_ALONE);
		} else if (m.type == 'P') {
			struct pg_parse pm;
			if (pgwire_decode_parse(&m, &pm) == 0)
				kind = worse(kind, classify_text(pm.query, strlen(pm.query)));
		} else if (m.type == 'B') {
			struct cursor c;
			cursor_init(&c, m.body, m.len);
			cursor_cstr(&c);
			const char *stmt = cursor_cstr(&c);
			const struct prepared *p = stmt ? session_find_prepared((struct session *)s, stmt) : NULL;
			if (p)
				kind = worse(kind, kind_of(&p->cmd));
		} else if (m.type == 'E') { /* a job moved here after its Bind */
			struct cursor c;
			cursor_init(&c, m.body, m.len);
			const char *name = cursor_cstr(&c);
			const struct portal *pt = name ? session_find_portal((struct session *)s, name) : NULL;
			if (pt)
				kind = worse(kind, kind_of(&pt->prep->cmd));
		}
	}
	if (last != 'S' && last != 'Q')
		kind = worse(kind, BATCH_ALONE);
	return kind;
}

void backend_set_forced_error(struct job *job, const char *sqlstate, const char *message)
{
	snprintf(job->forced_sqlstate, sizeof(job->forced_sqlstate), "%s", sqlstate);
	snprintf(job->forced_message, sizeof(job->forced_message), "%s", message);
}
