/*
 * slotfuncs.c — CDC slots in SQL: the slot functions and the sluice_slots
 * table (see slotfuncs.h).
 *
 * The functions run on the writer connection, inside the batch the writer
 * thread commits: their INSERT, UPDATE or DELETE of the slot table is
 * captured like any row change (logical.h), and the table's CREATE, the
 * first time, like any DDL. The connection's slot_writing flag lets those
 * statements past the guard that keeps clients off the table.
 */
#include "slotfuncs.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "changes.h"
#include "commitlog.h"
#include "dbpool.h"
#include "lsn.h"
#include "pgtypes.h"
#include "session.h"
#include "sl_time.h"
#include "slots.h"
#include "sqlstate.h"

#define SLOT_ACTIVE_MAX 256

/* When a consumer last confirmed through each slot (this node's memory). */
static struct {
	pthread_mutex_t mu;
	int n;
	char names[SLOT_ACTIVE_MAX][SLOTS_NAME_MAX + 1];
	int64_t at_ms[SLOT_ACTIVE_MAX];
} activity = { PTHREAD_MUTEX_INITIALIZER, 0, { { 0 } }, { 0 } };

static int activity_find(const char *name)
{
	for (int i = 0; i < activity.n; i++)
		if (strcmp(activity.names[i], name) == 0)
			return i;
	return -1;
}

void slotfuncs_touch(const char *name)
{
	pthread_mutex_lock(&activity.mu);
	int i = activity_find(name);
	if (i < 0 && activity.n < SLOT_ACTIVE_MAX) {
		i = activity.n++;
		snprintf(activity.names[i], sizeof(activity.names[i]), "%s", name);
	}
	if (i >= 0)
		activity.at_ms[i] = sl_monotonic_ms();
	pthread_mutex_unlock(&activity.mu);
}

static void activity_forget(const char *name)
{
	pthread_mutex_lock(&activity.mu);
	int i = activity_find(name);
	if (i >= 0) {
		activity.n--;
		memcpy(activity.names[i], activity.names[activity.n], sizeof(activity.names[i]));
		activity.at_ms[i] = activity.at_ms[activity.n];
	}
	pthread_mutex_unlock(&activity.mu);
}

static bool activity_recent(const char *name)
{
	pthread_mutex_lock(&activity.mu);
	int i = activity_find(name);
	bool recent = i >= 0 && sl_monotonic_ms() - activity.at_ms[i] < SLOTFUNCS_ACTIVE_MS;
	pthread_mutex_unlock(&activity.mu);
	return recent;
}

bool slotfuncs_writes(const char *function)
{
	return function && (sqlite3_stricmp(function, "sluice_slot_create") == 0 ||
			    sqlite3_stricmp(function, "sluice_slot_drop") == 0 ||
			    sqlite3_stricmp(function, "sluice_slot_confirm") == 0);
}

/* ------------------------------------------------------------ the table */

struct slot_row {
	char name[SLOTS_NAME_MAX + 1];
	char plugin[32];
	uint64_t confirmed;
	int64_t confirmed_at, created_at; /* microseconds since the Unix epoch */
};

#define SLOT_COLUMNS "name, plugin, confirmed_lsn, confirmed_at, created_at"

static void row_read(sqlite3_stmt *st, struct slot_row *r)
{
	snprintf(r->name, sizeof(r->name), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(r->plugin, sizeof(r->plugin), "%s", (const char *)sqlite3_column_text(st, 1));
	r->confirmed = (uint64_t)sqlite3_column_int64(st, 2);
	r->confirmed_at = sqlite3_column_int64(st, 3);
	r->created_at = sqlite3_column_int64(st, 4);
}

static bool table_exists(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool found = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '" SLOTS_TABLE "'",
					-1, &st, NULL) == SQLITE_OK &&
		     sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* The slot named: 1 found, 0 not, or an SQLite error code (negated). */
static int slot_get(sqlite3 *db, const char *name, struct slot_row *r)
{
	if (!table_exists(db))
		return 0;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT " SLOT_COLUMNS " FROM " SLOTS_TABLE " WHERE name = ?1", -1, &st,
				    NULL);
	if (rc != SQLITE_OK)
		return -rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		row_read(st, r);
	sqlite3_finalize(st);
	return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -step;
}

/* Runs one statement that writes the slot table (text and integer
 * arguments as given: 's' and 'i' in types). SQLITE_OK or an error. */
static int slot_write(struct dbconn *c, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	c->slot_writing = true;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	c->slot_writing = false;
	if (rc != SQLITE_OK)
		return rc;
	va_list ap;
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 's')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The table's CREATE, through logical capture as any DDL is. */
static int table_create(struct dbconn *c)
{
	if (logical_before_ddl(c->logical) != 0)
		return SQLITE_NOMEM;
	int rc = slot_write(c, SLOTS_CREATE_SQL, "");
	if (rc == SQLITE_OK && logical_after_ddl(c->logical, SLOTS_CREATE_SQL) != 0)
		rc = SQLITE_NOMEM;
	return rc;
}

/* ------------------------------------------------------------ functions */

static struct session *session_of(struct dbconn *c) { return c->session; }

static uint64_t max_lag_of(struct dbconn *c)
{
	struct session *s = session_of(c);
	return s ? (uint64_t)s->cfg.max_slot_lag : 0;
}

static void fail(sqlite3_context *ctx, struct dbconn *c, const char *sqlstate, const char *hint, const char *fmt,
		 const char *a, const char *b)
{
	char message[300];
	snprintf(message, sizeof(message), fmt, a, b);
	sqlite3_result_error(ctx, dbconn_raise(c, sqlstate, hint, "%s", message), -1);
}

static void fail_sqlite(sqlite3_context *ctx, struct dbconn *c, int rc)
{
	fail(ctx, c, SQLSTATE_INTERNAL, NULL, "could not write the slot table: %s%s", sqlite3_errstr(rc), "");
}

/* What every slot function needs: an admin, the leader, a log with row
 * changes, the writer, and no transaction block. */
static bool slot_call_ok(sqlite3_context *ctx, struct dbconn *c, const char *fn)
{
	if (!admin_allowed(ctx, c, fn))
		return false;
	if (!c->pool->cl || !c->writer) {
		fail(ctx, c, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE, "Run it on the leader.",
		     "%s: replication slots are changed on the leader, and this node is not the leader%s", fn, "");
		return false;
	}
	if (!c->logical) {
		fail(ctx, c, SQLSTATE_FEATURE_NOT_SUPPORTED, NULL,
		     "%s: replication slots need log_mode = logical or both (this log holds page images only)%s", fn,
		     "");
		return false;
	}
	struct session *s = session_of(c);
	if (s && s->txn != TXN_IDLE && !s->implicit) {
		fail(ctx, c, SQLSTATE_ACTIVE_SQL_TRANSACTION, NULL, "%s cannot run inside a transaction block%s", fn, "");
		return false;
	}
	return true;
}

static const char *name_arg(sqlite3_context *ctx, struct dbconn *c, sqlite3_value *v)
{
	const char *name = (const char *)sqlite3_value_text(v);
	if (!slots_name_valid(name)) {
		fail(ctx, c, SQLSTATE_INVALID_NAME,
		     "Replication slot names may only contain lower case letters, numbers, and the underscore character.",
		     "replication slot name \"%s\" is not valid (1 to 63 of a-z, 0-9 and _)%s", name ? name : "", "");
		return NULL;
	}
	return name;
}

/* For fn on an existing slot: the call may run (slot_call_ok), the name
 * is valid, and the slot is there (into r); its name, or NULL with an
 * error raised (42704 when there is no such slot). */
static const char *existing_slot(sqlite3_context *ctx, struct dbconn *c, const char *fn, sqlite3_value *arg,
				 struct slot_row *r)
{
	if (!slot_call_ok(ctx, c, fn))
		return NULL;
	const char *name = name_arg(ctx, c, arg);
	if (!name)
		return NULL;
	int got = slot_get(c->db, name, r);
	if (got < 0)
		fail_sqlite(ctx, c, -got);
	else if (got == 0)
		fail(ctx, c, SQLSTATE_UNDEFINED_OBJECT, NULL, "replication slot \"%s\" does not exist%s", name, "");
	return got == 1 ? name : NULL;
}

static void retain(struct dbconn *c)
{
	slots_retain_all(c->db, commitlog_replog(c->pool->cl), max_lag_of(c));
}

static void result_lsn(sqlite3_context *ctx, uint64_t lsn)
{
	char at[LSN_TEXT_MAX];
	sqlite3_result_text(ctx, lsn_format(lsn, at), -1, SQLITE_TRANSIENT);
}

static void fn_create(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	if (!slot_call_ok(ctx, c, "sluice_slot_create"))
		return;
	const char *name = name_arg(ctx, c, argv[0]);
	if (!name)
		return;
	const char *plugin = argc > 1 ? (const char *)sqlite3_value_text(argv[1]) : "sluice";
	if (!plugin || (strcmp(plugin, "sluice") != 0 && strcmp(plugin, "test_decoding") != 0 &&
			strcmp(plugin, "wal2json") != 0)) {
		fail(ctx, c, SQLSTATE_UNDEFINED_OBJECT, "The output plugins are sluice, test_decoding and wal2json.",
		     "output plugin \"%s\" does not exist%s", plugin ? plugin : "", "");
		return;
	}
	struct slot_row r;
	int got = slot_get(c->db, name, &r);
	if (got != 0) {
		if (got < 0)
			fail_sqlite(ctx, c, -got);
		else
			fail(ctx, c, SQLSTATE_DUPLICATE_OBJECT, NULL, "replication slot \"%s\" already exists%s", name, "");
		return;
	}
	uint64_t at = commitlog_published_end(c->pool->cl);
	int64_t now = (int64_t)sl_wall_us();
	int rc = table_exists(c->db) ? SQLITE_OK : table_create(c);
	if (rc == SQLITE_OK)
		rc = slot_write(c, "INSERT INTO " SLOTS_TABLE " (" SLOT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?4)", "ssii",
				name, plugin, (int64_t)at, now);
	if (rc != SQLITE_OK) {
		fail_sqlite(ctx, c, rc);
		return;
	}
	retain(c);
	result_lsn(ctx, at);
}

static void fn_drop(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct dbconn *c = sqlite3_user_data(ctx);
	struct slot_row r;
	const char *name = existing_slot(ctx, c, "sluice_slot_drop", argv[0], &r);
	if (!name)
		return;
	int rc = slot_write(c, "DELETE FROM " SLOTS_TABLE " WHERE name = ?1", "s", name);
	if (rc != SQLITE_OK) {
		fail_sqlite(ctx, c, rc);
		return;
	}
	retain(c);
	activity_forget(name);
	sqlite3_result_int(ctx, 1);
}

static void fn_confirm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct dbconn *c = sqlite3_user_data(ctx);
	struct slot_row r;
	const char *name = existing_slot(ctx, c, "sluice_slot_confirm", argv[0], &r);
	if (!name)
		return;
	const char *text = (const char *)sqlite3_value_text(argv[1]);
	uint64_t lsn;
	if (!text || lsn_parse(text, &lsn) != 0) {
		fail(ctx, c, SQLSTATE_INVALID_TEXT, NULL, "invalid input syntax for type pg_lsn: \"%s\"%s",
		     text ? text : "", "");
		return;
	}
	struct replog *log = commitlog_replog(c->pool->cl);
	uint64_t end = commitlog_published_end(c->pool->cl);
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	if (slots_lost(log, r.confirmed, end, max_lag_of(c))) {
		fail(ctx, c, SQLSTATE_OBJECT_NOT_IN_PREREQUISITE_STATE,
		     "Its consumer fell further behind than max_slot_lag, or the log it needs is gone; drop the slot "
		     "and start again from a snapshot.",
		     "replication slot \"%s\" is lost: its changes from %s are no longer kept", name,
		     lsn_format(r.confirmed, a));
		return;
	}
	if (lsn > end) {
		fail(ctx, c, SQLSTATE_INVALID_PARAMETER_VALUE, NULL,
		     "cannot confirm %s: the visible log ends at %s", lsn_format(lsn, a), lsn_format(end, b));
		return;
	}
	slotfuncs_touch(name);
	uint64_t next_ts;
	if (lsn <= r.confirmed || lsn <= slots_skip_quiet(log, r.confirmed, end, &next_ts)) {
		result_lsn(ctx, r.confirmed); /* nothing to write: never back, nor past quiet records only */
		return;
	}
	struct replog_reader *check = NULL;
	if (replog_reader_open(log, lsn, &check) != 0) {
		fail(ctx, c, SQLSTATE_INVALID_PARAMETER_VALUE, "Confirm a next_lsn that sluice_changes gave.",
		     "cannot confirm %s: no transaction starts there%s", lsn_format(lsn, a), "");
		return;
	}
	replog_reader_close(check);
	int rc = slot_write(c, "UPDATE " SLOTS_TABLE " SET confirmed_lsn = ?2, confirmed_at = ?3 WHERE name = ?1",
			    "sii", name, (int64_t)lsn, (int64_t)sl_wall_us());
	if (rc != SQLITE_OK) {
		fail_sqlite(ctx, c, rc);
		return;
	}
	retain(c);
	result_lsn(ctx, lsn);
}

/* -------------------------------------------------------- sluice_slots */

enum {
	COL_NAME,
	COL_PLUGIN,
	COL_CONFIRMED_LSN,
	COL_CONFIRMED_AT,
	COL_LAG_BYTES,
	COL_LAG_SECONDS,
	COL_ACTIVE,
	COL_LOST,
	COL_CREATED_AT,
};

struct slot_view {
	struct slot_row row;
	bool measured; /* on the leader: lag, lost */
	uint64_t lag_bytes;
	double lag_seconds;
	bool lost, active;
};

struct slots_cursor {
	sqlite3_vtab_cursor base;
	struct slot_view *rows;
	int nrows, at;
};

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	(void)argc;
	(void)argv;
	(void)err;
	return changes_vtab_connect(db, aux,
				    "CREATE TABLE x(slot_name TEXT, plugin TEXT, confirmed_lsn TEXT, confirmed_at TEXT, "
				    "lag_bytes INTEGER, lag_seconds REAL, active BOOLEAN, lost BOOLEAN, created_at TEXT)",
				    out);
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	(void)vt;
	info->estimatedCost = 10;
	info->estimatedRows = 10;
	return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	(void)vt;
	struct slots_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
	struct slots_cursor *c = (struct slots_cursor *)cur;
	sqlite3_free(c->rows);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* Lag and loss, measured against the leader's visible log. */
static void measure(struct dbconn *conn, struct slot_view *v)
{
	struct commitlog *cl = conn->pool->cl;
	if (!cl)
		return;
	struct replog *log = commitlog_replog(cl);
	uint64_t end = commitlog_published_end(cl), next_ts = 0;
	v->measured = true;
	v->lost = slots_lost(log, v->row.confirmed, end, max_lag_of(conn));
	uint64_t from = v->lost ? v->row.confirmed : slots_skip_quiet(log, v->row.confirmed, end, &next_ts);
	v->lag_bytes = end > from ? end - from : 0;
	uint64_t now = sl_wall_us();
	v->lag_seconds = next_ts && now > next_ts ? (double)(now - next_ts) / 1e6 : 0.0;
	v->active = activity_recent(v->row.name);
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idxstr, int argc, sqlite3_value **argv)
{
	(void)idx;
	(void)idxstr;
	(void)argc;
	(void)argv;
	struct slots_cursor *c = (struct slots_cursor *)cur;
	struct changes_vtab *t = (struct changes_vtab *)cur->pVtab;
	sqlite3 *db = t->conn->db;
	sqlite3_free(c->rows);
	c->rows = NULL;
	c->nrows = c->at = 0;
	if (!table_exists(db))
		return SQLITE_OK;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT " SLOT_COLUMNS " FROM " SLOTS_TABLE " ORDER BY name", -1, &st, NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		struct slot_view *grown = sqlite3_realloc64(c->rows, (sqlite3_uint64)(c->nrows + 1) * sizeof(*grown));
		if (!grown) {
			rc = SQLITE_NOMEM;
			break;
		}
		c->rows = grown;
		struct slot_view *v = &c->rows[c->nrows++];
		memset(v, 0, sizeof(*v));
		row_read(st, &v->row);
		measure(t->conn, v);
	}
	int done = sqlite3_finalize(st);
	return rc != SQLITE_OK ? rc : done;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	((struct slots_cursor *)cur)->at++;
	return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	struct slots_cursor *c = (struct slots_cursor *)cur;
	return c->at >= c->nrows;
}

/* A time as PostgreSQL prints a timestamptz; NULL when there is none. */
static void result_time(sqlite3_context *ctx, int64_t us)
{
	char out[PGTYPES_TIME_MAX];
	if (us <= 0) {
		sqlite3_result_null(ctx);
		return;
	}
	pgtypes_timestamptz_text((uint64_t)us, out, sizeof(out));
	sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct slots_cursor *c = (struct slots_cursor *)cur;
	const struct slot_view *v = &c->rows[c->at];
	switch (col) {
	case COL_NAME:
		sqlite3_result_text(ctx, v->row.name, -1, SQLITE_TRANSIENT);
		break;
	case COL_PLUGIN:
		sqlite3_result_text(ctx, v->row.plugin, -1, SQLITE_TRANSIENT);
		break;
	case COL_CONFIRMED_LSN:
		result_lsn(ctx, v->row.confirmed);
		break;
	case COL_CONFIRMED_AT:
		result_time(ctx, v->row.confirmed_at);
		break;
	case COL_CREATED_AT:
		result_time(ctx, v->row.created_at);
		break;
	default:
		if (!v->measured)
			sqlite3_result_null(ctx); /* a follower: the leader measures */
		else if (col == COL_LAG_BYTES)
			sqlite3_result_int64(ctx, (sqlite3_int64)v->lag_bytes);
		else if (col == COL_LAG_SECONDS)
			sqlite3_result_double(ctx, v->lag_seconds);
		else
			sqlite3_result_int(ctx, col == COL_ACTIVE ? v->active : v->lost);
		break;
	}
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
	*rowid = ((struct slots_cursor *)cur)->at;
	return SQLITE_OK;
}

static sqlite3_module slots_module = {
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

int slotfuncs_register(sqlite3 *db, struct dbconn *conn)
{
	int rc = sqlite3_create_function_v2(db, "sluice_slot_create", 1, SQLITE_UTF8, conn, fn_create, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_slot_create", 2, SQLITE_UTF8, conn, fn_create, NULL, NULL,
						NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_slot_drop", 1, SQLITE_UTF8, conn, fn_drop, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sluice_slot_confirm", 2, SQLITE_UTF8, conn, fn_confirm, NULL, NULL,
						NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_module_v2(db, "sluice_slots", &slots_module, conn, NULL);
	return rc;
}
