/*
 * nodestatus.c — sluice_status, sluice_replication, sluice_members and
 * sluice_current_lsn() (see nodestatus.h).
 *
 * The tables are read-only eponymous virtual tables: each scan copies
 * the current state into rows first (xFilter), so a scan is one
 * consistent picture. LSNs are text in the PostgreSQL form, X/Y.
 */
#include "nodestatus.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lsn.h"
#include "peers.h"

#define MAX_COLS 24
#define MAX_ROWS 64

static struct nodestatus_source source;

void nodestatus_set(const struct nodestatus_source *src)
{
	if (src)
		source = *src;
	else
		memset(&source, 0, sizeof(source));
}

/* One value of a row: text (NULL when null), an integer or a real. */
struct cell {
	enum { CELL_TEXT, CELL_INT, CELL_REAL } kind;
	int64_t i;
	double d;
	char *s;
};

struct table_def {
	const char *name;
	const char *schema;
	int ncols;
	/* fills rows (each MAX_COLS cells), returns how many */
	int (*fill)(struct cell (*rows)[MAX_COLS], int max);
};

struct vtab {
	sqlite3_vtab base;
	const struct table_def *def;
};

struct vcursor {
	sqlite3_vtab_cursor base;
	struct cell rows[MAX_ROWS][MAX_COLS];
	int nrows, at;
};

static void text(struct cell *c, const char *s)
{
	c->kind = CELL_TEXT;
	c->s = s ? strdup(s) : NULL;
}

static void lsn(struct cell *c, uint64_t v)
{
	char t[LSN_TEXT_MAX];
	text(c, lsn_format(v, t));
}

static void integer(struct cell *c, int64_t v)
{
	c->kind = CELL_INT;
	c->i = v;
	c->s = NULL;
}

/* Milliseconds, to the microsecond. */
static void millis(struct cell *c, double v)
{
	c->kind = CELL_REAL;
	c->d = (double)(int64_t)(v * 1000.0 + 0.5) / 1000.0;
	c->s = NULL;
}

void nodestatus_node(struct node_info *out)
{
	memset(out, 0, sizeof(*out));
	if (source.node)
		source.node(source.arg, out);
}

static int fill_status(struct cell (*rows)[MAX_COLS], int max)
{
	if (max < 1 || !source.node)
		return 0;
	struct node_info n;
	nodestatus_node(&n);
	struct cell *r = rows[0];
	text(&r[0], n.role);
	text(&r[1], n.node_name);
	integer(&r[2], (int64_t)n.epoch);
	text(&r[3], n.log_mode);
	lsn(&r[4], n.current_lsn);
	lsn(&r[5], n.applied_lsn);
	integer(&r[6], n.lag_bytes);
	millis(&r[7], n.lag_ms);
	text(&r[8], n.state);
	text(&r[9], n.leader[0] ? n.leader : NULL);
	text(&r[10], n.leader_client[0] ? n.leader_client : NULL);
	text(&r[11], n.client_address);
	text(&r[12], n.last_error[0] ? n.last_error : NULL);
	text(&r[13], n.synchronous);
	text(&r[14], n.election[0] ? n.election : "off");
	text(&r[15], n.lease[0] ? n.lease : NULL);
	if (n.heartbeat_age_ms >= 0 && n.election[0])
		integer(&r[16], n.heartbeat_age_ms);
	else
		text(&r[16], NULL);
	text(&r[17], n.voted_for[0] ? n.voted_for : NULL);
	if (n.voted_for[0])
		integer(&r[18], (int64_t)n.vote_epoch);
	else
		text(&r[18], NULL);
	text(&r[19], n.last_election[0] ? n.last_election : NULL);
	if (n.last_election[0])
		integer(&r[20], n.last_election_ms);
	else
		text(&r[20], NULL);
	text(&r[21], n.failover_warning[0] ? n.failover_warning : NULL);
	return 1;
}

static int fill_replication(struct cell (*rows)[MAX_COLS], int max)
{
	if (!source.peers)
		return 0;
	struct follower_info f[MAX_ROWS];
	int n = peers_followers(source.peers, f, max < MAX_ROWS ? max : MAX_ROWS);
	for (int i = 0; i < n; i++) {
		struct cell *r = rows[i];
		text(&r[0], f[i].name);
		text(&r[1], f[i].address);
		text(&r[2], follower_state_name(f[i].state));
		lsn(&r[3], f[i].sent_lsn);
		lsn(&r[4], f[i].write_lsn);
		lsn(&r[5], f[i].flush_lsn);
		lsn(&r[6], f[i].replay_lsn);
		integer(&r[7], f[i].lag_bytes);
		millis(&r[8], f[i].lag_ms);
		text(&r[9], f[i].sync_state);
		integer(&r[10], f[i].retained_bytes);
	}
	return n;
}

static const struct table_def status_def = {
	"sluice_status",
	"CREATE TABLE x(role TEXT, node_name TEXT, epoch INTEGER, log_mode TEXT, current_lsn TEXT, "
	"applied_lsn TEXT, lag_bytes INTEGER, lag_ms REAL, state TEXT, leader TEXT, leader_client TEXT, "
	"client_address TEXT, last_error TEXT, synchronous TEXT, election TEXT, lease TEXT, "
	"heartbeat_age_ms INTEGER, voted_for TEXT, vote_epoch INTEGER, last_election TEXT, "
	"last_election_ms INTEGER, failover_warning TEXT)",
	22, fill_status,
};

static const struct table_def replication_def = {
	"sluice_replication",
	"CREATE TABLE x(name TEXT, address TEXT, state TEXT, sent_lsn TEXT, write_lsn TEXT, flush_lsn TEXT, "
	"replay_lsn TEXT, lag_bytes INTEGER, lag_ms REAL, sync_state TEXT, retained_bytes INTEGER)",
	11, fill_replication,
};

static int fill_members(struct cell (*rows)[MAX_COLS], int max)
{
	if (!source.members)
		return 0;
	struct member_info m[MAX_ROWS];
	int n = source.members(source.arg, m, max < MAX_ROWS ? max : MAX_ROWS);
	bool leads_here = false; /* only the leader knows who answers its heartbeats */
	for (int i = 0; i < n; i++)
		leads_here = leads_here || (m[i].self && m[i].leading);
	for (int i = 0; i < n; i++) {
		struct cell *r = rows[i];
		text(&r[0], m[i].name);
		text(&r[1], m[i].peer_address);
		text(&r[2], m[i].self ? "self" : m[i].linked ? "up" : "down");
		integer(&r[3], m[i].leading);
		text(&r[4], !leads_here ? NULL : m[i].answering ? "answering" : "silent");
		if (m[i].answered_age_ms >= 0)
			integer(&r[5], m[i].answered_age_ms);
		else
			text(&r[5], NULL);
	}
	return n;
}

static const struct table_def members_def = {
	"sluice_members",
	"CREATE TABLE x(name TEXT, peer_address TEXT, link TEXT, leading BOOLEAN, heartbeat TEXT, "
	"heartbeat_answered_ms INTEGER)",
	6, fill_members,
};

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
	const struct table_def *def = aux;
	int rc = sqlite3_declare_vtab(db, def->schema);
	if (rc != SQLITE_OK)
		return rc;
	struct vtab *t = sqlite3_malloc(sizeof(*t));
	if (!t)
		return SQLITE_NOMEM;
	memset(t, 0, sizeof(*t));
	t->def = def;
	*out = &t->base;
	return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt)
{
	sqlite3_free(vt);
	return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
	info->estimatedCost = 10;
	info->estimatedRows = 10;
	return SQLITE_OK;
}

static void clear_rows(struct vcursor *c)
{
	for (int i = 0; i < c->nrows; i++)
		for (int j = 0; j < MAX_COLS; j++)
			free(c->rows[i][j].s);
	c->nrows = c->at = 0;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
	struct vcursor *c = sqlite3_malloc(sizeof(*c));
	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur)
{
	clear_rows((struct vcursor *)cur);
	sqlite3_free(cur);
	return SQLITE_OK;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
	struct vcursor *c = (struct vcursor *)cur;
	clear_rows(c);
	memset(c->rows, 0, sizeof(c->rows));
	c->nrows = ((struct vtab *)cur->pVtab)->def->fill(c->rows, MAX_ROWS);
	return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur)
{
	((struct vcursor *)cur)->at++;
	return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur)
{
	struct vcursor *c = (struct vcursor *)cur;
	return c->at >= c->nrows;
}

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
	struct vcursor *c = (struct vcursor *)cur;
	const struct cell *v = &c->rows[c->at][col];
	if (v->kind == CELL_INT)
		sqlite3_result_int64(ctx, v->i);
	else if (v->kind == CELL_REAL)
		sqlite3_result_double(ctx, v->d);
	else if (v->s)
		sqlite3_result_text(ctx, v->s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
	return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
	*rowid = ((struct vcursor *)cur)->at + 1;
	return SQLITE_OK;
}

static const sqlite3_module module = {
	.iVersion = 0,
	.xCreate = NULL, /* eponymous only */
	.xConnect = vt_connect,
	.xBestIndex = vt_best_index,
	.xDisconnect = vt_disconnect,
	.xDestroy = vt_disconnect,
	.xOpen = vt_open,
	.xClose = vt_close,
	.xFilter = vt_filter,
	.xNext = vt_next,
	.xEof = vt_eof,
	.xColumn = vt_column,
	.xRowid = vt_rowid,
};

static void fn_current_lsn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct node_info n;
	nodestatus_node(&n);
	char t[LSN_TEXT_MAX];
	sqlite3_result_text(ctx, lsn_format(n.current_lsn, t), -1, SQLITE_TRANSIENT);
}

int nodestatus_register(sqlite3 *db)
{
	int rc = sqlite3_create_module(db, status_def.name, &module, (void *)&status_def);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_module(db, replication_def.name, &module, (void *)&replication_def);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_module(db, members_def.name, &module, (void *)&members_def);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sluice_current_lsn", 0, SQLITE_UTF8, NULL, fn_current_lsn, NULL, NULL);
	return rc;
}

bool nodestatus_is_table(const char *name)
{
	return strcasecmp(name, status_def.name) == 0 || strcasecmp(name, replication_def.name) == 0 ||
	       strcasecmp(name, members_def.name) == 0;
}
