/*
 * walsender.c — PostgreSQL's logical replication protocol: the commands
 * and the stream's steps (see walsender.h).
 */
#include "walsender.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_internal.h"
#include "commitlog.h"
#include "dbpool.h"
#include "decoding.h"
#include "epochs.h"
#include "executor.h"
#include "lsn.h"
#include "pgtypes.h"
#include "sl_error.h"
#include "sl_time.h"
#include "slotfuncs.h"
#include "slots.h"
#include "sqlstate.h"

#define WALSENDER_STEP_BYTES (1u << 20)  /* a step's output, about */
#define WALSENDER_KEEPALIVE_MS 10000     /* a keepalive at least this often */
#define PG_EPOCH_US 946684800000000ull  /* 2000-01-01 in Unix microseconds */

struct walsender {
	char slot[SLOTS_NAME_MAX + 1];
	struct decoding_options opt;
	/* the steps' (one executor thread at a time) */
	uint64_t position;            /* the next record to read */
	struct replog_reader *reader; /* at position, or NULL */
	uint64_t reported_end;        /* walEnd of the last keepalive */
	int64_t sent_ms;              /* when a message last went out */
	/* the loop thread's */
	uint64_t flushed;    /* the client's flush position */
	uint64_t confirmed;  /* what the slot was told */
	uint64_t confirming; /* out in a query, or 0 */
	bool ending;         /* the client sent CopyDone */
};

void walsender_free(struct walsender *ws)
{
	if (!ws)
		return;
	if (ws->reader)
		replog_reader_close(ws->reader);
	free(ws);
}

/* ------------------------------------------------------------- commands */

static void put_text_fields(struct buf *out, const char *const *names, int n)
{
	size_t m = pgwire_row_description_begin(out, (uint16_t)n);
	for (int i = 0; i < n; i++)
		pgwire_row_description_field(out, names[i], OID_TEXT, -1, 0);
	pgwire_end(out, m);
}

static void put_row(struct buf *out, const char *const *values, int n)
{
	size_t m = pgwire_data_row_begin(out, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (values[i])
			pgwire_data_row_value(out, values[i], strlen(values[i]));
		else
			pgwire_data_row_null(out);
	}
	pgwire_end(out, m);
}

/* The cluster's system identifier: a hash of its first epoch (the same on
 * every node, which all share the epoch history), as a decimal number. */
static uint64_t system_id(struct commitlog *cl)
{
	const struct epochs *h = commitlog_history(cl);
	uint64_t hash = 14695981039346656037ull; /* FNV-1a */
	char first[EPOCHS_LEADER_MAX + 48] = "";
	if (h && h->n > 0)
		snprintf(first, sizeof(first), "%" PRIu64 "/%" PRIu64 "/%s", h->v[0].epoch, h->v[0].start_lsn,
			 h->v[0].leader);
	for (const char *c = first; *c; c++)
		hash = (hash ^ (uint8_t)*c) * 1099511628211ull;
	return hash >> 1; /* a positive bigint */
}

static int identify_system(struct ctx *x, struct commitlog *cl)
{
	char id[24], epoch[24], pos[LSN_TEXT_MAX];
	snprintf(id, sizeof(id), "%" PRIu64, system_id(cl));
	snprintf(epoch, sizeof(epoch), "%" PRIu64, commitlog_epoch(cl));
	lsn_format(commitlog_published_end(cl), pos);
	size_t m = pgwire_row_description_begin(x->out, 4);
	pgwire_row_description_field(x->out, "systemid", OID_TEXT, -1, 0);
	pgwire_row_description_field(x->out, "timeline", OID_INT4, 4, 0);
	pgwire_row_description_field(x->out, "xlogpos", OID_TEXT, -1, 0);
	pgwire_row_description_field(x->out, "dbname", OID_TEXT, -1, 0);
	pgwire_end(x->out, m);
	const char *row[] = { id, epoch, pos, x->s->database };
	put_row(x->out, row, 4);
	pgwire_put_command_complete(x->out, "IDENTIFY_SYSTEM");
	return STEP_OK;
}

/* Runs a slot function on the writer: its text result into out (may be NULL). */
static int slot_call(struct ctx *x, const char *sql, const char *a, const char *b, char *out, size_t outlen)
{
	struct dbconn *c;
	int rc = backend_conn_for(x, true, NULL, &c);
	if (rc != STEP_OK)
		return rc;
	sqlite3_stmt *st = NULL;
	if (dbconn_prepare(c, sql, &st, NULL) != SQLITE_OK || !st)
		return backend_sqlite_error(x, c);
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	int step = dbconn_step(c, st);
	if (step == SQLITE_ROW && out)
		snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
	rc = step == SQLITE_ROW ? STEP_OK : backend_sqlite_error(x, c);
	dbconn_unprepare(c, st);
	return rc;
}

/* An option of CREATE_REPLICATION_SLOT sluice cannot honour, or NULL. */
static const char *create_refusal(const struct sql_command *cmd)
{
	if (cmd->physical)
		return "physical replication slots are not served: followers stream on the peer port";
	if (cmd->temporary)
		return "temporary replication slots are not supported: create a slot and drop it";
	const char *p = cmd->options;
	while (*p) {
		size_t n = strcspn(p, "\n");
		if ((n == 15 && strncmp(p, "snapshot=export", n) == 0) || (n == 12 && strncmp(p, "snapshot=use", n) == 0))
			return "exporting or using a snapshot is not supported: use SNAPSHOT 'nothing' (or sluice cdc "
			       "--snapshot for a consistent copy)";
		if ((n == 9 && strncmp(p, "two_phase", n) == 0) || (n == 14 && strncmp(p, "two_phase=true", n) == 0) ||
		    (n == 11 && strncmp(p, "two_phase=1", n) == 0) || (n == 12 && strncmp(p, "two_phase=on", n) == 0))
			return "two-phase decoding is not supported: sluice has no prepared transactions";
		p += n + (p[n] == '\n');
	}
	return NULL;
}

static int create_slot(struct ctx *x, const struct sql_command *cmd)
{
	const char *why = create_refusal(cmd);
	if (why)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED, "%s", why);
	enum decoding_plugin plugin;
	if (decoding_plugin_parse(cmd->plugin, &plugin) != 0)
		return backend_error(x, SQLSTATE_UNDEFINED_FILE,
				     "could not access file \"%s\": No such file or directory (the output plugins are "
				     "test_decoding, wal2json and sluice)",
				     cmd->plugin);
	char at[LSN_TEXT_MAX];
	int rc = slot_call(x, "SELECT sluice_slot_create(?1, ?2)", cmd->name, cmd->plugin, at, sizeof(at));
	if (rc != STEP_OK)
		return rc;
	static const char *const names[] = { "slot_name", "consistent_point", "snapshot_name", "output_plugin" };
	put_text_fields(x->out, names, 4);
	const char *row[] = { cmd->name, at, NULL, cmd->plugin };
	put_row(x->out, row, 4);
	pgwire_put_command_complete(x->out, "CREATE_REPLICATION_SLOT");
	return STEP_OK;
}

static int drop_slot(struct ctx *x, const struct sql_command *cmd)
{
	int rc = slot_call(x, "SELECT sluice_slot_drop(?1)", cmd->name, NULL, NULL, 0);
	if (rc == STEP_OK)
		pgwire_put_command_complete(x->out, "DROP_REPLICATION_SLOT");
	return rc;
}

static int start_replication(struct ctx *x, const struct sql_command *cmd, struct commitlog *cl)
{
	if (cmd->physical)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED,
				     "physical replication is not served here: followers stream on the peer port");
	if (x->extended)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED,
				     "START_REPLICATION runs in the simple query protocol only");
	const char *super = session_get(x->s, "is_superuser");
	if (!super || strcmp(super, "on") != 0)
		return backend_error(x, SQLSTATE_INSUFFICIENT_PRIVILEGE,
				     "permission denied to start WAL sender: only the users named in admin_users may");
	struct dbconn *c = backend_any_conn(x);
	if (!c)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "could not open a connection");
	sqlite3_stmt *st = NULL;
	int found = 0;
	char plugin[32] = "";
	uint64_t confirmed = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT plugin, confirmed_lsn FROM " SLOTS_TABLE " WHERE name = ?1", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, cmd->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			snprintf(plugin, sizeof(plugin), "%s", (const char *)sqlite3_column_text(st, 0));
			confirmed = (uint64_t)sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	if (!found)
		return backend_error(x, SQLSTATE_UNDEFINED_OBJECT, "replication slot \"%s\" does not exist", cmd->name);
	struct replog *log = commitlog_replog(cl);
	uint64_t end = commitlog_published_end(cl);
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	if (slots_lost(log, confirmed, end, (uint64_t)x->s->cfg.max_slot_lag))
		return backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				     "can no longer get changes from replication slot \"%s\": it is lost (its changes "
				     "from %s are no longer kept)",
				     cmd->name, lsn_format(confirmed, a));
	struct walsender *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return backend_error(x, SQLSTATE_OUT_OF_MEMORY, "out of memory");
	enum decoding_plugin p = DECODING_SLUICE;
	char err[300];
	snprintf(err, sizeof(err), "replication slot \"%s\" names an unknown output plugin \"%s\"", cmd->name, plugin);
	if (decoding_plugin_parse(plugin, &p) != 0 ||
	    decoding_options_parse(p, cmd->options, &ws->opt, err, sizeof(err)) != 0) {
		free(ws);
		return backend_error(x, SQLSTATE_INVALID_PARAMETER_VALUE, "%s", err);
	}
	snprintf(ws->slot, sizeof(ws->slot), "%.*s", SLOTS_NAME_MAX, cmd->name); /* a slot's name is no longer */
	ws->position = cmd->lsn > confirmed ? cmd->lsn : confirmed;
	ws->confirmed = ws->flushed = confirmed;
	if (ws->position > end || replog_reader_open(log, ws->position, &ws->reader) != 0) {
		free(ws);
		return backend_error(x, SQLSTATE_INVALID_PARAMETER_VALUE,
				     "cannot start at %s: no transaction starts there (the visible log ends at %s)",
				     lsn_format(cmd->lsn, a), lsn_format(end, b));
	}
	walsender_free(x->s->wal);
	x->s->wal = ws;
	x->job->streaming = true;
	size_t m = pgwire_begin(x->out, 'W'); /* CopyBothResponse: text, no columns */
	buf_put_u8(x->out, 0);
	buf_put_u16(x->out, 0);
	pgwire_end(x->out, m);
	return WALSENDER_STREAMING;
}

int walsender_command(struct ctx *x, const struct sql_command *cmd)
{
	if (!x->s->replication)
		return backend_error(x, SQLSTATE_SYNTAX_ERROR,
				     "syntax error: replication commands need a connection with replication=database");
	if (cmd->kind == SQL_REPL_OTHER)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED,
				     "only logical replication commands are served here: IDENTIFY_SYSTEM, "
				     "CREATE_REPLICATION_SLOT, DROP_REPLICATION_SLOT, START_REPLICATION");
	struct commitlog *cl = x->pool->cl;
	if (!cl)
		return backend_error(x, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				     "replication connections are served by the leader: this node is not the leader");
	if (commitlog_mode(cl) == LOG_MODE_PHYSICAL)
		return backend_error(x, SQLSTATE_FEATURE_NOT_SUPPORTED,
				     "logical decoding needs log_mode = logical or both (this log holds page images only)");
	switch (cmd->kind) {
	case SQL_REPL_IDENTIFY: return identify_system(x, cl);
	case SQL_REPL_CREATE_SLOT: return create_slot(x, cmd);
	case SQL_REPL_DROP_SLOT: return drop_slot(x, cmd);
	case SQL_REPL_START: return start_replication(x, cmd, cl);
	default: return backend_error(x, SQLSTATE_INTERNAL, "unexpected replication command");
	}
}

/* ---------------------------------------------------------------- steps */

struct stream_step {
	struct walsender *ws;
	struct buf *out;
	struct dbpool *pool;
	struct dbconn *types; /* a reader for the columns' declared types, opened on demand */
	uint64_t end;
	uint64_t now_us;
	uint32_t messages;
};

/* A column's declared type as the leader's schema has it now. */
static void type_of(void *arg, const char *table, const char *column, struct decoding_type *out)
{
	struct stream_step *s = arg;
	char err[128];
	if (!s->types) {
		if (!(s->types = dbpool_acquire(s->pool, err, sizeof(err))))
			return;
		/* a statement checks the schema cookie: a pooled reader may hold
		 * the schema as it was before a table was made */
		sqlite3_exec(s->types->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	}
	const char *decl = NULL;
	if (sqlite3_table_column_metadata(s->types->db, "main", table, column, &decl, NULL, NULL, NULL, NULL) !=
		    SQLITE_OK ||
	    !decl)
		return;
	out->oid = pgtypes_from_decltype(decl);
	out->name = pgtypes_decltype_name(decl, &out->name_oid);
	const char *open = strchr(decl, '('), *close = open ? strchr(open, ')') : NULL;
	if (out->oid && close && (out->oid == OID_VARCHAR || out->oid == OID_NUMERIC))
		snprintf(out->typmod, sizeof(out->typmod), "%.*s", (int)(close - open + 1), open);
}

/* An XLogData message: a CopyData of 'w', the message's LSN, the end of
 * the log, the time, and the plugin's bytes. */
static void emit(void *arg, uint64_t lsn, const void *data, size_t len)
{
	struct stream_step *s = arg;
	size_t m = pgwire_begin(s->out, 'd');
	buf_put_u8(s->out, 'w');
	buf_put_u64(s->out, lsn);
	buf_put_u64(s->out, s->end);
	buf_put_u64(s->out, s->now_us - PG_EPOCH_US);
	buf_append(s->out, data, len);
	pgwire_end(s->out, m);
	s->messages++;
}

/* A keepalive: its walEnd is where the stream stands (everything before
 * it was sent), which a client may take as written, and confirm. */
static void keepalive(struct stream_step *s)
{
	size_t m = pgwire_begin(s->out, 'd');
	buf_put_u8(s->out, 'k');
	buf_put_u64(s->out, s->ws->position);
	buf_put_u64(s->out, s->now_us - PG_EPOCH_US);
	buf_put_u8(s->out, 0);
	pgwire_end(s->out, m);
}

static void stream_error(struct job *job, const char *sqlstate, const char *fmt, uint64_t lsn)
{
	char at[LSN_TEXT_MAX], msg[300];
	snprintf(msg, sizeof(msg), fmt, lsn_format(lsn, at));
	pgwire_put_error(&job->out, 'E', "ERROR", sqlstate, msg, NULL, NULL);
	job->fatal = true;
}

void walsender_step(struct job *job, struct dbpool *pool)
{
	struct walsender *ws = job->sess->wal;
	struct commitlog *cl = pool->cl;
	if (!cl) {
		stream_error(job, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			     "this node no longer leads: the stream stopped at %s; reconnect to the leader", ws->position);
		return;
	}
	struct replog *log = commitlog_replog(cl);
	if (!ws->reader && replog_reader_open(log, ws->position, &ws->reader) != 0) {
		stream_error(job, SQLSTATE_UNDEFINED_FILE, "the log no longer holds %s: its changes are gone",
			     ws->position);
		return;
	}
	struct stream_step s = { ws, &job->out, pool, NULL, commitlog_published_end(cl), sl_wall_us(), 0 };
	struct decoding_output out = { type_of, emit, &s };
	slotfuncs_touch(ws->slot);
	while (job->out.len < WALSENDER_STEP_BYTES && replog_reader_position(ws->reader) < s.end) {
		struct record rec;
		int rc = replog_reader_next(ws->reader, &rec, 0);
		if (rc == SL_ETIMEDOUT)
			break;
		if (rc == 0)
			rc = decoding_record(&rec, replog_reader_position(ws->reader), &ws->opt, &out);
		if (rc != 0) {
			stream_error(job, rc == SL_ENOTFOUND ? SQLSTATE_UNDEFINED_FILE : SQLSTATE_DATA_CORRUPTED,
				     rc == SL_ENOTFOUND ? "the log was trimmed past %s while it was read"
							: "the log could not be decoded at %s",
				     replog_reader_position(ws->reader));
			break;
		}
		ws->position = replog_reader_position(ws->reader);
	}
	if (s.types)
		dbpool_release(pool, s.types);
	int64_t now = sl_monotonic_ms();
	if (s.messages == 0 && !job->fatal &&
	    (ws->position != ws->reported_end || now - ws->sent_ms >= WALSENDER_KEEPALIVE_MS)) {
		keepalive(&s);
		ws->reported_end = ws->position;
	}
	if (job->out.len > 0)
		ws->sent_ms = now;
	job->stream_idle = s.messages == 0;
	if (job->out.oom) {
		buf_reset(&job->out);
		pgwire_put_error(&job->out, 'E', "ERROR", SQLSTATE_OUT_OF_MEMORY, "out of memory", NULL, NULL);
		job->fatal = true;
	}
}

/* ------------------------------------------------------ the loop thread */

int walsender_client_message(struct walsender *ws, const struct pg_msg *m, char *err, size_t errlen)
{
	if (m->type == 'c') {
		ws->ending = true;
		return 0;
	}
	if (m->type != 'd' || m->len < 1) {
		snprintf(err, errlen, "unexpected message type 0x%02X during a replication stream", (unsigned)m->type);
		return -1;
	}
	struct cursor c;
	cursor_init(&c, m->body, m->len);
	uint8_t kind = cursor_u8(&c);
	if (kind == 'h')
		return 0; /* hot standby feedback: nothing to hold here */
	if (kind != 'r' || m->len < 34) {
		snprintf(err, errlen, "unexpected message in a replication stream");
		return -1;
	}
	cursor_u64(&c); /* written */
	uint64_t flushed = cursor_u64(&c);
	if (flushed > ws->flushed)
		ws->flushed = flushed;
	return 0;
}

bool walsender_ending(const struct walsender *ws) { return ws->ending; }

bool walsender_confirm_query(struct walsender *ws, char *sql, size_t sqllen)
{
	if (ws->confirming || ws->flushed <= ws->confirmed)
		return false;
	ws->confirming = ws->flushed;
	char at[LSN_TEXT_MAX];
	snprintf(sql, sqllen, "SELECT sluice_slot_confirm('%s', '%s')", ws->slot, lsn_format(ws->flushed, at));
	return true;
}

void walsender_confirm_done(struct walsender *ws)
{
	ws->confirmed = ws->confirming; /* failed or not: not asked again for the same position */
	ws->confirming = 0;
}

void walsender_put_end(struct buf *out)
{
	pgwire_put_simple(out, 'c');
	pgwire_put_command_complete(out, "COPY 0");
	pgwire_put_command_complete(out, "START_REPLICATION");
	pgwire_put_ready(out, 'I');
}
