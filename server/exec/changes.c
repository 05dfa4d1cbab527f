/*
 * changes.c — sluice_changes(from_lsn [, max_events [, format [, tables]]]):
 * the leader's change events as rows (lsn, xid, data, next_lsn), read
 * from its replication log from from_lsn on (see changes.h; the events:
 * cdc.h, docs/CDC.md).
 *
 * A scan reads whole transactions, up to the leader's visible end (what
 * its readers may see: never a commit synchronous standbys have not
 * confirmed), until max_events (default 10000) or CHANGES_MAX_BYTES of
 * events are gathered, or CHANGES_MAX_SKIP of log gave none; a consumer
 * goes on from the last row's next_lsn. When records past the last event
 * gave no events (an epoch's start, other tables), a last row with no data
 * says how far the scan read. '0/0' starts at the oldest record the log
 * keeps. A position older than that is refused: what was there is gone.
 */
#include "changes.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc.h"
#include "commitlog.h"
#include "dbpool.h"
#include "lsn.h"
#include "replog.h"
#include "sl_error.h"
#include "sl_time.h"
#include "sqlstate.h"

#define CHANGES_DEFAULT_EVENTS 10000
#define CHANGES_MAX_BYTES (32u << 20) /* of events per scan, about: whole transactions */
#define CHANGES_MAX_SKIP (64u << 20)  /* of log read past the last event shown, per scan */

enum { COL_LSN, COL_XID, COL_DATA, COL_NEXT, COL_FROM, COL_MAX, COL_FORMAT, COL_TABLES, NCOLS };


/* One event: its transaction's LSN, the line in the cursor's text, and on
 * a transaction's last event (commit) where the next one starts. A row
 * with no line (skipped) says the scan read on to next and found nothing
 * there to show. */
struct event {
	uint64_t lsn, next;
	size_t off, len;
	bool skipped;
};

struct changes_cursor {
	sqlite3_vtab_cursor base;
	struct buf text; /* every event's line */
	struct event *v;
	size_t n, cap, at;
};

/* Raises a refusal with its SQLSTATE through the connection (dbpool.h). */
#define refuse(t, ...) dbconn_vtab_error((t)->conn, &(t)->base, __VA_ARGS__)

int changes_vtab_connect(sqlite3 *db, struct dbconn *conn, const char *schema, sqlite3_vtab **out)
{
	int rc = sqlite3_declare_vtab(db, schema);
	if (rc != SQLITE_OK)
		return rc;
	struct changes_vtab *t = sqlite3_malloc(sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->conn = conn;
	*out = &t->base;
	return SQLITE_OK;
}

int changes_vtab_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	return changes_vtab_connect(db, aux,
				    "CREATE TABLE x(lsn TEXT, xid INTEGER, data TEXT, next_lsn TEXT, from_lsn HIDDEN, "
				    "max_events HIDDEN, format HIDDEN, tables HIDDEN)",
				    out);
}

int changes_best_index(sqlite3_index_info *info, int first_hidden, int ncols)
{
	int where[16];
	for (int i = 0; i < ncols; i++)
		where[i] = -1;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *k = &info->aConstraint[i];
		if (k->iColumn < first_hidden || k->iColumn >= ncols || k->op != SQLITE_INDEX_CONSTRAINT_EQ)
			continue;
		if (!k->usable)
			return SQLITE_CONSTRAINT;
		where[k->iColumn] = i;
	}
	int argv = 0, mask = 0;
	for (int col = first_hidden; col < ncols; col++) {
		if (where[col] < 0)
			continue;
		info->aConstraintUsage[where[col]].argvIndex = ++argv;
		info->aConstraintUsage[where[col]].omit = 1;
		mask |= 1 << col;
	}
	info->idxNum = mask;
	info->estimatedCost = 1000;
	info->estimatedRows = 1000;
	return SQLITE_OK;
}

int changes_options(struct dbconn *conn, sqlite3_vtab *vt, const char *format, const char *tables,
		    struct cdc_options *o)
{
	o->format = CDC_FORMAT_JSON;
	if (format && cdc_format_parse(format, &o->format) != 0)
		return dbconn_vtab_error(conn, vt, SQLSTATE_INVALID_PARAMETER_VALUE,
					 "unknown change event format \"%s\" (json or debezium)", format);
	char err[256];
	if (tables && cdc_tables_parse(tables, o, err, sizeof(err)) != 0)
		return dbconn_vtab_error(conn, vt, SQLSTATE_INVALID_PARAMETER_VALUE, "%s", err);
	return SQLITE_OK;
}

int changes_source_check(struct dbconn *conn, sqlite3_vtab *vt)
{
	struct commitlog *cl = conn->pool->cl;
	if (!cl)
		return dbconn_vtab_error(conn, vt, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
					 "change events are read on the leader: this node is not the leader");
	if (commitlog_mode(cl) == LOG_MODE_PHYSICAL)
		return dbconn_vtab_error(conn, vt, SQLSTATE_FEATURE_NOT_SUPPORTED,
					 "change events need log_mode = logical or both (this log holds page images only)");
	return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	return changes_best_index(info, COL_FROM, NCOLS);
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct changes_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	buf_init(&c->text);
	*out = &c->base;
	return SQLITE_OK;
}

static void clear(struct changes_cursor *c)
{
	buf_reset(&c->text);
	c->n = c->at = 0;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
	struct changes_cursor *c = (struct changes_cursor *)cur;
	buf_free(&c->text);
	free(c->v);
	sqlite3_free(c);
	return SQLITE_OK;
}

static int push_event(struct changes_cursor *c, struct event e)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct event *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return SL_ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = e;
	return 0;
}

/* The lines appended to c->text since from, as events of the record at
 * lsn; the record after it starts at next. */
static int add_events(struct changes_cursor *c, size_t from, uint64_t lsn, uint64_t next)
{
	size_t first = c->n;
	while (from < c->text.len) {
		const uint8_t *nl = memchr(c->text.data + from, '\n', c->text.len - from);
		size_t end = nl ? (size_t)(nl - c->text.data) : c->text.len;
		if (push_event(c, (struct event){ lsn, 0, from, end - from, false }) != 0)
			return SL_ENOMEM;
		from = end + 1;
	}
	if (c->n > first)
		c->v[c->n - 1].next = next;
	return 0;
}

/* The row that says the scan read up to next and found nothing more. */
static int add_skipped(struct changes_cursor *c, uint64_t next)
{
	return push_event(c, (struct event){ next, next, 0, 0, true }) == 0 ? SQLITE_OK : SQLITE_NOMEM;
}

/* The scan's settings from the arguments given (idx: which). */
static int read_arguments(struct changes_vtab *t, int idx, sqlite3_value **argv, uint64_t *from, int64_t *max,
			  struct cdc_options *o)
{
	int k = 0;
	if (!(idx & (1 << COL_FROM)))
		return refuse(t, SQLSTATE_INVALID_PARAMETER_VALUE,
			      "sluice_changes needs the LSN to start at, such as sluice_changes('0/0')");
	const char *text = (const char *)sqlite3_value_text(argv[k++]);
	if (!text || lsn_parse(text, from) != 0)
		return refuse(t, SQLSTATE_INVALID_TEXT, "invalid input syntax for type pg_lsn: \"%s\"",
			      text ? text : "NULL");
	*max = CHANGES_DEFAULT_EVENTS;
	if (idx & (1 << COL_MAX)) {
		sqlite3_value *v = argv[k++];
		if (sqlite3_value_type(v) != SQLITE_NULL)
			*max = sqlite3_value_int64(v);
		if (*max <= 0)
			return refuse(t, SQLSTATE_INVALID_PARAMETER_VALUE, "max_events must be positive");
	}
	const char *format = idx & (1 << COL_FORMAT) ? (const char *)sqlite3_value_text(argv[k++]) : NULL;
	const char *tables = idx & (1 << COL_TABLES) ? (const char *)sqlite3_value_text(argv[k++]) : NULL;
	return changes_options(t->conn, &t->base, format, tables, o);
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
	struct changes_cursor *c = (struct changes_cursor *)cur;
	struct changes_vtab *t = (struct changes_vtab *)cur->pVtab;
	clear(c);
	uint64_t from = 0;
	int64_t max = CHANGES_DEFAULT_EVENTS;
	struct cdc_options *o = calloc(1, sizeof(*o));
	if (!o)
		return SQLITE_NOMEM;
	int rc = read_arguments(t, idx, argv, &from, &max, o);
	if (rc == SQLITE_OK)
		rc = changes_source_check(t->conn, &t->base);
	struct commitlog *cl = t->conn->pool->cl;
	struct replog *log = rc == SQLITE_OK ? commitlog_replog(cl) : NULL;
	struct replog_reader *r = NULL;
	if (rc == SQLITE_OK) {
		uint64_t start = replog_start_lsn(log);
		if (from == 0)
			from = start;
		char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
		if (from < start)
			rc = refuse(t, SQLSTATE_UNDEFINED_FILE,
				    "position %s is older than the log kept here (from %s): its changes are gone",
				    lsn_format(from, a), lsn_format(start, b));
		else if (replog_reader_open(log, from, &r) != 0)
			rc = refuse(t, SQLSTATE_INVALID_PARAMETER_VALUE, "position %s is not the start of a record in the log",
				    lsn_format(from, a));
	}
	o->now_ms = (int64_t)(sl_wall_us() / 1000);
	uint64_t visible = rc == SQLITE_OK ? commitlog_published_end(cl) : 0;
	uint64_t shown = from; /* the end of the last transaction with events */
	while (rc == SQLITE_OK && (int64_t)c->n < max && c->text.len < CHANGES_MAX_BYTES &&
	       replog_reader_position(r) - shown < CHANGES_MAX_SKIP) {
		struct record rec;
		if (replog_reader_position(r) >= visible)
			break;
		int step = replog_reader_next(r, &rec, 0);
		if (step == SL_ETIMEDOUT)
			break;
		uint32_t nevents;
		size_t mark = c->text.len;
		if (step == 0)
			step = cdc_record_events(&rec, replog_reader_position(r), o, &c->text, &nevents);
		if (step == 0 && nevents > 0) {
			step = add_events(c, mark, rec.lsn, replog_reader_position(r));
			shown = replog_reader_position(r);
		}
		if (step == SL_ENOMEM)
			rc = SQLITE_NOMEM;
		else if (step == SL_EINVAL)
			rc = refuse(t, SQLSTATE_FEATURE_NOT_SUPPORTED,
				    "the record at %s holds no logical changes (written with log_mode = physical)",
				    lsn_format(rec.lsn, (char[LSN_TEXT_MAX]){ 0 }));
		else if (step == SL_ENOTFOUND)
			rc = refuse(t, SQLSTATE_UNDEFINED_FILE,
				    "the log was trimmed past %s while it was read: its changes are gone",
				    lsn_format(replog_reader_position(r), (char[LSN_TEXT_MAX]){ 0 }));
		else if (step != 0)
			rc = refuse(t, SQLSTATE_DATA_CORRUPTED, "the log could not be read at %s: %s",
				    lsn_format(replog_reader_position(r), (char[LSN_TEXT_MAX]){ 0 }), sl_strerror(step));
	}
	if (rc == SQLITE_OK && replog_reader_position(r) > shown)
		rc = add_skipped(c, replog_reader_position(r));
	if (r)
		replog_reader_close(r);
	free(o);
	return rc;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	((struct changes_cursor *)cur)->at++;
	return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	struct changes_cursor *c = (struct changes_cursor *)cur;
	return c->at >= c->n;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct changes_cursor *c = (struct changes_cursor *)cur;
	const struct event *e = &c->v[c->at];
	char t[LSN_TEXT_MAX];
	if (col == COL_LSN)
		sqlite3_result_text(ctx, lsn_format(e->lsn, t), -1, SQLITE_TRANSIENT);
	else if (col == COL_XID && !e->skipped)
		sqlite3_result_int64(ctx, (sqlite3_int64)e->lsn);
	else if (col == COL_DATA && !e->skipped)
		sqlite3_result_text(ctx, (const char *)c->text.data + e->off, (int)e->len, SQLITE_TRANSIENT);
	else if (col == COL_NEXT && e->next)
		sqlite3_result_text(ctx, lsn_format(e->next, t), -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
	*rowid = (sqlite_int64)((struct changes_cursor *)cur)->at + 1;
	return SQLITE_OK;
}

static sqlite3_module module = {
	.iVersion = 0,
	.xCreate = NULL, /* eponymous only */
	.xConnect = vt_connect,
	.xBestIndex = vt_best_index,
	.xDisconnect = changes_vtab_disconnect,
	.xOpen = vt_open,
	.xClose = vt_close,
	.xFilter = vt_filter,
	.xNext = vt_next,
	.xEof = vt_eof,
	.xColumn = vt_column,
	.xRowid = vt_rowid,
};

int changes_register(sqlite3 *db, struct dbconn *conn)
{
	int rc = sqlite3_create_module(db, "sluice_changes", &module, conn);
	return rc == SQLITE_OK ? changes_snapshot_register(db, conn) : rc;
}
