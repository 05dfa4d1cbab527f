/*
 * changes_snapshot.c — sluice_changes_snapshot([format [, tables]]): every
 * row of the leader's database as read events, all from one read
 * transaction, with the LSN where the change stream goes on (see
 * changes.h; the events: cdc.h, docs/CDC.md).
 *
 * The rows are read on a connection of the scan's own, in the read
 * transaction a follower's snapshot is taken in (snapshot.h: opened while
 * no commit is between its record and its publication): every transaction before that LSN is in
 * it, none after, so sluice_changes from the LSN follows with no gap and
 * no duplicate. Events are made one row at a time as the query steps (a
 * client reading through a cursor keeps memory bounded); the read
 * transaction holds back checkpoints while it lasts, as any long read
 * does in WAL mode.
 *
 * The rows come out in this order (enum snap_step): begin; for each table
 * (in the schema's order) its CREATE statement, then its rows if the
 * table is asked for; the other schema objects' DDL (indexes, views,
 * triggers); end, the one row whose next_lsn is set.
 */
#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdc.h"
#include "commitlog.h"
#include "dbpool.h"
#include "lsn.h"
#include "sl_time.h"
#include "slots.h"
#include "snapshot.h"
#include "sqlstate.h"

enum { COL_LSN, COL_DATA, COL_NEXT, COL_FORMAT, COL_TABLES, NCOLS };

enum snap_step {
	SNAP_BEGIN,
	SNAP_TABLE, /* the next table's DDL */
	SNAP_ROWS,  /* its rows */
	SNAP_OTHER, /* the next index's, view's or trigger's DDL */
	SNAP_END,
	SNAP_DONE,
};


/* A schema object: its DDL, and for a table its name. */
struct object {
	char *sql, *table;
};

struct snap_cursor {
	sqlite3_vtab_cursor base;
	struct cdc_options o;
	sqlite3 *db; /* the scan's own connection, in its read transaction */
	uint64_t lsn, rows;
	enum snap_step step;
	struct object *objects; /* the tables first, then the rest */
	int nobjects, ntables, at;
	struct txnrec_table *table; /* the columns of the table being read */
	sqlite3_stmt *st;
	struct buf line; /* the current row's event ("" for none) */
	bool eof;        /* past the end row (the one row at SNAP_DONE) */
	sqlite3_int64 rowid;
};

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	return changes_vtab_connect(db, aux, "CREATE TABLE x(lsn TEXT, data TEXT, next_lsn TEXT, format HIDDEN, tables HIDDEN)",
				    out);
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	return changes_best_index(info, COL_FORMAT, NCOLS);
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct snap_cursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	buf_init(&c->line);
	c->step = SNAP_DONE;
	c->eof = true;
	*out = &c->base;
	return SQLITE_OK;
}

static void release(struct snap_cursor *c)
{
	sqlite3_finalize(c->st);
	c->st = NULL;
	snapshot_read_end(c->db);
	c->db = NULL;
	for (int i = 0; i < c->nobjects; i++) {
		free(c->objects[i].sql);
		free(c->objects[i].table);
	}
	free(c->objects);
	c->objects = NULL;
	c->nobjects = c->ntables = c->at = 0;
	free(c->table);
	c->table = NULL;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
	struct snap_cursor *c = (struct snap_cursor *)cur;
	release(c);
	buf_free(&c->line);
	sqlite3_free(c);
	return SQLITE_OK;
}

/* The schema's objects with DDL, tables first, each group in the schema's
 * order (a table before the indexes and triggers on it). */
static int load_schema(struct snap_cursor *c)
{
	static const char sql[] = "SELECT sql, CASE type WHEN 'table' THEN name END FROM sqlite_schema "
				  "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
				  "AND tbl_name <> '" SLOTS_TABLE "' "
				  "ORDER BY type <> 'table', rowid";
	sqlite3_stmt *st;
	int step = SQLITE_DONE;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct object *v = realloc(c->objects, (size_t)(c->nobjects + 1) * sizeof(*v));
		if (!v) {
			rc = SQLITE_NOMEM;
			break;
		}
		c->objects = v;
		const char *table = (const char *)sqlite3_column_text(st, 1);
		struct object *o = &c->objects[c->nobjects++];
		o->sql = strdup((const char *)sqlite3_column_text(st, 0));
		o->table = table ? strdup(table) : NULL;
		if (!o->sql || (table && !o->table))
			rc = SQLITE_NOMEM;
		c->ntables += table != NULL;
	}
	if (rc == SQLITE_OK && step != SQLITE_DONE)
		rc = step;
	sqlite3_finalize(st);
	return rc;
}

/* A quoted SQL identifier. */
static void put_ident(struct buf *b, const char *name)
{
	buf_put_u8(b, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			buf_put_u8(b, '"');
		buf_put_u8(b, (uint8_t)*p);
	}
	buf_put_u8(b, '"');
}

/* Prepares the read of a table's stored columns (its generated ones are
 * computed again wherever the rows go) and learns their names and key. */
static int open_rows(struct snap_cursor *c, const char *table)
{
	if (!c->table && !(c->table = malloc(sizeof(*c->table))))
		return SQLITE_NOMEM;
	struct txnrec_table *t = c->table;
	t->name = table;
	t->ncols = 0;
	sqlite3_stmt *info;
	int rc = sqlite3_prepare_v2(c->db, "SELECT name, pk FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid",
				    -1, &info, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(info, 1, table, -1, SQLITE_STATIC);
	struct buf sql;
	buf_init(&sql);
	buf_printf(&sql, "SELECT ");
	while (rc == SQLITE_OK && sqlite3_step(info) == SQLITE_ROW && t->ncols < TXNREC_MAX_COLUMNS) {
		if (t->ncols)
			buf_put_u8(&sql, ',');
		put_ident(&sql, (const char *)sqlite3_column_text(info, 0));
		t->pk[t->ncols++] = sqlite3_column_int(info, 1) > 0;
	}
	sqlite3_finalize(info);
	buf_printf(&sql, " FROM ");
	put_ident(&sql, table);
	buf_put_u8(&sql, '\0');
	if (rc == SQLITE_OK && sql.oom)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &c->st, NULL);
	buf_free(&sql);
	for (int i = 0; rc == SQLITE_OK && i < t->ncols; i++)
		t->cols[i] = sqlite3_column_name(c->st, i); /* valid while the statement is */
	return rc;
}

/* Makes the next row's event; c->step moves on. */
static int produce(struct snap_cursor *c)
{
	buf_reset(&c->line);
	for (;;) {
		switch (c->step) {
		case SNAP_BEGIN:
			cdc_snapshot_begin(&c->o, c->lsn, &c->line);
			c->step = SNAP_TABLE;
			if (c->line.len)
				return SQLITE_OK;
			break;
		case SNAP_TABLE: {
			if (c->at == c->ntables) {
				c->step = SNAP_OTHER;
				break;
			}
			const struct object *o = &c->objects[c->at];
			cdc_snapshot_ddl(&c->o, c->lsn, o->sql, &c->line);
			if (cdc_wanted(&c->o, o->table)) {
				int rc = open_rows(c, o->table);
				if (rc != SQLITE_OK)
					return rc;
				c->step = SNAP_ROWS;
			} else {
				c->at++;
			}
			return SQLITE_OK;
		}
		case SNAP_ROWS: {
			int rc = sqlite3_step(c->st);
			if (rc == SQLITE_ROW) {
				cdc_snapshot_row(&c->o, c->lsn, c->table, c->st, &c->line);
				c->rows++;
				return SQLITE_OK;
			}
			sqlite3_finalize(c->st);
			c->st = NULL;
			if (rc != SQLITE_DONE)
				return rc;
			c->at++;
			c->step = SNAP_TABLE;
			break;
		}
		case SNAP_OTHER:
			if (c->at == c->nobjects) {
				c->step = SNAP_END;
				break;
			}
			cdc_snapshot_ddl(&c->o, c->lsn, c->objects[c->at++].sql, &c->line);
			return SQLITE_OK;
		case SNAP_END:
			cdc_snapshot_end(&c->o, c->lsn, c->rows, &c->line);
			c->step = SNAP_DONE;
			return SQLITE_OK;
		case SNAP_DONE:
			return SQLITE_OK;
		}
	}
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
	struct snap_cursor *c = (struct snap_cursor *)cur;
	struct changes_vtab *t = (struct changes_vtab *)cur->pVtab;
	release(c);
	c->rows = 0;
	c->rowid = 0;
	c->step = SNAP_DONE;
	c->eof = true;
	memset(&c->o, 0, sizeof(c->o));
	int k = 0;
	const char *format = idx & (1 << COL_FORMAT) ? (const char *)sqlite3_value_text(argv[k++]) : NULL;
	const char *tables = idx & (1 << COL_TABLES) ? (const char *)sqlite3_value_text(argv[k++]) : NULL;
	int rc = changes_options(t->conn, &t->base, format, tables, &c->o);
	if (rc != SQLITE_OK)
		return rc;
	if ((rc = changes_source_check(t->conn, &t->base)) != SQLITE_OK)
		return rc;
	struct commitlog *cl = t->conn->pool->cl;
	c->o.now_ms = (int64_t)(sl_wall_us() / 1000);
	rc = snapshot_read_begin(cl, t->conn->pool->path, &c->db, &c->lsn);
	if (rc == SQLITE_OK)
		rc = load_schema(c);
	if (rc == SQLITE_OK) {
		c->step = SNAP_BEGIN;
		c->eof = false;
		rc = produce(c);
	}
	if (rc != SQLITE_OK) {
		int code = rc;
		rc = dbconn_vtab_error(t->conn, &t->base, code == SQLITE_NOMEM ? SQLSTATE_OUT_OF_MEMORY : SQLSTATE_IO_ERROR,
				       "could not read the snapshot: %s",
				       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(code));
		release(c);
		c->step = SNAP_DONE;
		c->eof = true;
	}
	return rc;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	struct snap_cursor *c = (struct snap_cursor *)cur;
	c->rowid++;
	if (c->step == SNAP_DONE) {
		c->eof = true;
		release(c);
		return SQLITE_OK;
	}
	int rc = produce(c);
	if (rc != SQLITE_OK) {
		struct changes_vtab *t = (struct changes_vtab *)cur->pVtab;
		rc = dbconn_vtab_error(t->conn, &t->base, rc == SQLITE_NOMEM ? SQLSTATE_OUT_OF_MEMORY : SQLSTATE_IO_ERROR,
				       "could not read the snapshot: %s", sqlite3_errmsg(c->db));
		c->eof = true;
		release(c);
	}
	return rc;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	return ((struct snap_cursor *)cur)->eof;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct snap_cursor *c = (struct snap_cursor *)cur;
	char t[LSN_TEXT_MAX];
	size_t len = c->line.len;
	if (len && c->line.data[len - 1] == '\n')
		len--;
	if (col == COL_LSN)
		sqlite3_result_text(ctx, lsn_format(c->lsn, t), -1, SQLITE_TRANSIENT);
	else if (col == COL_DATA && len)
		sqlite3_result_text(ctx, (const char *)c->line.data, (int)len, SQLITE_TRANSIENT);
	else if (col == COL_NEXT && c->step == SNAP_DONE)
		sqlite3_result_text(ctx, lsn_format(c->lsn, t), -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
	*rowid = ((struct snap_cursor *)cur)->rowid + 1;
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

int changes_snapshot_register(sqlite3 *db, struct dbconn *conn)
{
	return sqlite3_create_module(db, "sluice_changes_snapshot", &module, conn);
}
