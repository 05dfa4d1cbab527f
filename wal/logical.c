/*
 * logical.c — sessions, DDL and table descriptions for logical capture
 * (see logical.h).
 *
 * Items of the transaction in progress are kept encoded in one buffer;
 * each savepoint remembers how long it was, so ROLLBACK TO cuts it back.
 * Table descriptions are cached until the next DDL.
 */
#include "logical.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "log.h"
#include "sl_error.h"
#include "txnrec.h"

#define DENIED_MAX 300

struct mark {
	char *name;
	size_t items_len;
	uint32_t nitems;
};

struct table_desc {
	char *name;
	struct buf item; /* an encoded TXNREC_TABLE body */
};

struct names {
	char **v;
	int n;
};

struct logical {
	sqlite3 *db;
	sqlite3_session *session;
	struct buf items;
	uint32_t nitems;
	struct mark *marks;
	int nmarks, marks_cap;
	/* tables of the main database the session extension cannot record:
	 * without a PRIMARY KEY, or with generated columns (its changeset
	 * then fails with SQLITE_SCHEMA and holds nothing) */
	struct names no_pk, generated;
	char **null_key_checks; /* per table whose key may hold NULL: a query finding such rows */
	char **null_key_tables;
	int nnull_key;
	bool schema_dirty; /* no_pk, generated and the table cache need rebuilding */
	struct table_desc *tables;
	int ntables;
	bool prep_ddl;
	const char *prep_sql; /* the text being prepared, for the authorizer */
	char denied[DENIED_MAX];
};

/* ------------------------------------------------------------ schema */

static void names_free(struct names *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The first column of every row sql gives, into l. 0, SL_EIO, SL_ENOMEM. */
static int names_load(sqlite3 *db, const char *sql, struct names *l)
{
	names_free(l);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return SL_EIO;
	int rc = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **grown = realloc(l->v, (size_t)(l->n + 1) * sizeof(char *));
		char *name = grown ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
		if (grown)
			l->v = grown;
		if (!name) {
			rc = SL_ENOMEM;
			break;
		}
		l->v[l->n++] = name;
	}
	sqlite3_finalize(st);
	return rc;
}

static bool names_have(const struct names *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], name) == 0)
			return true;
	return false;
}

static void free_null_keys(struct logical *lg)
{
	for (int i = 0; i < lg->nnull_key; i++) {
		free(lg->null_key_checks[i]);
		free(lg->null_key_tables[i]);
	}
	free(lg->null_key_checks);
	free(lg->null_key_tables);
	lg->null_key_checks = lg->null_key_tables = NULL;
	lg->nnull_key = 0;
}

/*
 * SQLite lets a rowid table's PRIMARY KEY hold NULL unless it is an INTEGER
 * PRIMARY KEY or declared NOT NULL, and the session extension leaves such
 * rows out of changesets. For each table where that can happen, a query
 * that finds such rows; logical_finish refuses a commit that leaves one.
 */
static int load_null_keys(struct logical *lg)
{
	static const char sql[] =
		"SELECT m.name, 'SELECT 1 FROM main.\"' || replace(m.name, '\"', '\"\"') || '\" WHERE ' || "
		"(SELECT group_concat('\"' || replace(p.name, '\"', '\"\"') || '\" IS NULL', ' OR ') "
		"FROM pragma_table_info(m.name, 'main') p WHERE p.pk > 0) || ' LIMIT 1' "
		"FROM main.sqlite_schema m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
		"AND (SELECT wr FROM pragma_table_list(m.name) WHERE schema = 'main') = 0 "
		"AND EXISTS (SELECT 1 FROM pragma_table_info(m.name, 'main') WHERE pk > 0 AND \"notnull\" = 0) "
		"AND NOT ((SELECT count(*) FROM pragma_table_info(m.name, 'main') WHERE pk > 0) = 1 AND "
		"(SELECT upper(type) FROM pragma_table_info(m.name, 'main') WHERE pk > 0) = 'INTEGER')";
	free_null_keys(lg);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(lg->db, sql, -1, &st, NULL) != SQLITE_OK)
		return SL_EIO;
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		int n = lg->nnull_key + 1;
		char **c = realloc(lg->null_key_checks, (size_t)n * sizeof(char *));
		if (c)
			lg->null_key_checks = c;
		char **t = c ? realloc(lg->null_key_tables, (size_t)n * sizeof(char *)) : NULL;
		if (t)
			lg->null_key_tables = t;
		char *name = t ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
		char *check = name ? strdup((const char *)sqlite3_column_text(st, 1)) : NULL;
		if (!check) {
			free(name);
			rc = SL_ENOMEM;
			break;
		}
		lg->null_key_tables[lg->nnull_key] = name;
		lg->null_key_checks[lg->nnull_key++] = check;
	}
	sqlite3_finalize(st);
	return rc;
}

/* 0, or SL_EINVAL with denied set when a table's key holds NULL. */
static int check_null_keys(struct logical *lg)
{
	for (int i = 0; i < lg->nnull_key; i++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(lg->db, lg->null_key_checks[i], -1, &st, NULL) != SQLITE_OK)
			return SL_EIO;
		bool found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		if (found) {
			snprintf(lg->denied, sizeof(lg->denied),
				 "cannot commit: table \"%s\" has a row whose PRIMARY KEY is NULL, which "
				 "log_mode=logical cannot carry; declare the key NOT NULL",
				 lg->null_key_tables[i]);
			return SL_EINVAL;
		}
	}
	return 0;
}

static void free_tables(struct logical *lg)
{
	for (int i = 0; i < lg->ntables; i++) {
		free(lg->tables[i].name);
		buf_free(&lg->tables[i].item);
	}
	free(lg->tables);
	lg->tables = NULL;
	lg->ntables = 0;
}

/* Rebuilds the lists of tables the session cannot record. Not from a
 * callback. */
static int load_schema(struct logical *lg)
{
#define USER_TABLES                                                                                          \
	"SELECT m.name FROM main.sqlite_schema m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' " \
	"ESCAPE '\\' AND "
	static const char no_pk[] =
		USER_TABLES "NOT EXISTS (SELECT 1 FROM pragma_table_info(m.name, 'main') WHERE pk > 0)";
	static const char generated[] =
		USER_TABLES "EXISTS (SELECT 1 FROM pragma_table_xinfo(m.name, 'main') WHERE hidden IN (2, 3))";
#undef USER_TABLES
	free_tables(lg);
	int rc = names_load(lg->db, no_pk, &lg->no_pk);
	if (rc == 0)
		rc = names_load(lg->db, generated, &lg->generated);
	if (rc == 0)
		rc = load_null_keys(lg);
	if (rc == 0)
		lg->schema_dirty = false;
	return rc;
}

/* The next word of SQL text at *p (quotes and punctuation skipped), into
 * word; false at the end. */
static bool next_word(const char **p, char *word, size_t len)
{
	const char *s = *p;
	for (;;) {
		while (*s && !isalnum((unsigned char)*s) && *s != '_' && *s != '\'' && *s != '"' && *s != '`' && *s != '[')
			s++;
		if (!*s)
			return false;
		if (*s == '\'' || *s == '"' || *s == '`' || *s == '[') { /* a quoted literal or name: skip it */
			char close = *s == '[' ? ']' : *s;
			s = strchr(s + 1, close);
			if (!s)
				return false;
			s++;
			continue;
		}
		size_t n = 0;
		while (isalnum((unsigned char)*s) || *s == '_') {
			if (n + 1 < len)
				word[n++] = *s;
			s++;
		}
		word[n] = '\0';
		*p = s;
		return true;
	}
}

/*
 * ALTER TABLE … ADD COLUMN … DEFAULT x (x not NULL). SQLite 3.40's session
 * extension records such a column's old value in rows older than the ALTER
 * as NULL rather than x, so their later updates and deletes could not be
 * applied anywhere else; logical mode refuses the ALTER instead.
 */
static bool adds_column_with_default(const char *sql)
{
	char w[16];
	bool add = false;
	while (sql && next_word(&sql, w, sizeof(w))) {
		if (strcasecmp(w, "add") == 0)
			add = true;
		else if (add && strcasecmp(w, "default") == 0)
			return !next_word(&sql, w, sizeof(w)) || strcasecmp(w, "null") != 0;
	}
	return false;
}

int logical_authorize(void *arg, int action, const char *a1, const char *a2, const char *db, const char *trigger)
{
	struct logical *lg = arg;
	(void)a2;
	(void)trigger;
	bool main_db = !db || strcmp(db, "temp") != 0;
	switch (action) {
	case SQLITE_CREATE_INDEX:
	case SQLITE_CREATE_TABLE:
	case SQLITE_CREATE_TRIGGER:
	case SQLITE_CREATE_VIEW:
	case SQLITE_CREATE_VTABLE:
	case SQLITE_DROP_INDEX:
	case SQLITE_DROP_TABLE:
	case SQLITE_DROP_TRIGGER:
	case SQLITE_DROP_VIEW:
	case SQLITE_DROP_VTABLE:
	case SQLITE_ANALYZE:
		if (main_db)
			lg->prep_ddl = true;
		break;
	case SQLITE_ALTER_TABLE: /* a1 is the database, a2 the table */
		if (a1 && strcmp(a1, "temp") == 0)
			break;
		lg->prep_ddl = true;
		if (adds_column_with_default(lg->prep_sql)) {
			snprintf(lg->denied, sizeof(lg->denied),
				 "cannot add a column with a DEFAULT to table \"%s\" in log_mode=logical: "
				 "SQLite's session extension would record its old values wrongly; add it without "
				 "a DEFAULT and UPDATE the rows",
				 a2 ? a2 : "?");
			return SQLITE_DENY;
		}
		break;
	case SQLITE_INSERT:
	case SQLITE_UPDATE:
	case SQLITE_DELETE:
		if (db && strcmp(db, "main") == 0 && a1 && names_have(&lg->no_pk, a1)) {
			snprintf(lg->denied, sizeof(lg->denied),
				 "cannot write to table \"%s\": it has no PRIMARY KEY, which log_mode=logical needs", a1);
			return SQLITE_DENY;
		}
		if (db && strcmp(db, "main") == 0 && a1 && names_have(&lg->generated, a1)) {
			snprintf(lg->denied, sizeof(lg->denied),
				 "cannot write to table \"%s\": it has generated columns, whose rows SQLite's "
				 "session extension does not record (log_mode=logical)",
				 a1);
			return SQLITE_DENY;
		}
		break;
	default:
		break;
	}
	return SQLITE_OK;
}

/* The TXNREC_TABLE body for a table, cached until the next DDL. */
static const struct buf *table_item(struct logical *lg, const char *table)
{
	for (int i = 0; i < lg->ntables; i++)
		if (strcmp(lg->tables[i].name, table) == 0)
			return &lg->tables[i].item;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(lg->db, "SELECT name, pk FROM pragma_table_info(?1, 'main') ORDER BY cid", -1, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	const char **cols = NULL;
	bool *pk = NULL;
	int n = 0;
	bool oom = false;
	while (!oom && sqlite3_step(st) == SQLITE_ROW && n < TXNREC_MAX_COLUMNS) {
		const char **c2 = realloc(cols, (size_t)(n + 1) * sizeof(*cols));
		bool *p2 = c2 ? realloc(pk, (size_t)(n + 1) * sizeof(*pk)) : NULL;
		if (c2)
			cols = c2;
		if (p2)
			pk = p2;
		char *name = p2 ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
		if (!name) {
			oom = true;
			break;
		}
		cols[n] = name;
		pk[n] = sqlite3_column_int(st, 1) > 0;
		n++;
	}
	sqlite3_finalize(st);
	const struct buf *out = NULL;
	struct table_desc *grown = oom || n == 0 ? NULL
						 : realloc(lg->tables, (size_t)(lg->ntables + 1) * sizeof(*grown));
	if (grown) {
		lg->tables = grown;
		struct table_desc *d = &grown[lg->ntables];
		buf_init(&d->item);
		d->name = strdup(table);
		txnrec_put_table(&d->item, table, n, cols, pk);
		if (d->name && !d->item.oom) {
			lg->ntables++;
			out = &d->item;
		} else {
			free(d->name);
			buf_free(&d->item);
		}
	}
	for (int i = 0; i < n; i++)
		free((char *)cols[i]);
	free(cols);
	free(pk);
	return out;
}

/* ----------------------------------------------------------- sessions */

static int session_new(struct logical *lg)
{
	if (lg->session) {
		sqlite3session_delete(lg->session);
		lg->session = NULL;
	}
	if (sqlite3session_create(lg->db, "main", &lg->session) != SQLITE_OK)
		return SL_ENOMEM;
	if (sqlite3session_attach(lg->session, NULL) != SQLITE_OK) {
		sqlite3session_delete(lg->session);
		lg->session = NULL;
		return SL_ENOMEM;
	}
	return 0;
}

static void put_item(struct logical *lg, uint8_t kind, const void *data, uint32_t len)
{
	txnrec_put_item(&lg->items, kind, data, len);
	lg->nitems++;
}

/* Adds a TABLE item for each table a changeset touches, once per changeset. */
static int describe_tables(struct logical *lg, void *cs, int n)
{
	sqlite3_changeset_iter *it;
	if (sqlite3changeset_start(&it, n, cs) != SQLITE_OK)
		return SL_ENOMEM;
	const char *last = NULL;
	char **seen = NULL;
	int nseen = 0, rc = 0;
	while (rc == 0 && sqlite3changeset_next(it) == SQLITE_ROW) {
		const char *table;
		int ncol, op, indirect;
		sqlite3changeset_op(it, &table, &ncol, &op, &indirect);
		if (last && strcmp(last, table) == 0)
			continue;
		last = table;
		bool known = false;
		for (int i = 0; i < nseen && !known; i++)
			known = strcmp(seen[i], table) == 0;
		if (known)
			continue;
		char **grown = realloc(seen, (size_t)(nseen + 1) * sizeof(char *));
		if (!grown || !(grown[nseen] = strdup(table))) {
			seen = grown ? grown : seen;
			rc = SL_ENOMEM;
			break;
		}
		seen = grown;
		nseen++;
		const struct buf *item = table_item(lg, table);
		if (!item) {
			rc = SL_EIO;
			break;
		}
		put_item(lg, TXNREC_TABLE, item->data, (uint32_t)item->len);
	}
	sqlite3changeset_finalize(it);
	for (int i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	return rc;
}

/*
 * The session's changes so far become items; a fresh session follows.
 * A change the session could not record (its table changed under it, or
 * one it cannot describe) leaves it seemingly empty and fails its
 * changeset: the transaction is then refused (SL_EINVAL, denied set),
 * never logged without its rows.
 */
static int materialize(struct logical *lg)
{
	if (!lg->session)
		return session_new(lg);
	int n = 0;
	void *cs = NULL;
	int src = sqlite3session_changeset(lg->session, &n, &cs);
	if (src != SQLITE_OK) {
		sqlite3_free(cs);
		snprintf(lg->denied, sizeof(lg->denied),
			 "cannot commit: SQLite's session extension could not record this transaction's row "
			 "changes (%s), which log_mode=logical needs",
			 sqlite3_errstr(src));
		log_error("logical", "%s", lg->denied);
		return src == SQLITE_NOMEM ? SL_ENOMEM : SL_EINVAL;
	}
	int rc = 0;
	if (n > 0) {
		rc = describe_tables(lg, cs, n);
		if (rc == 0)
			put_item(lg, TXNREC_CHANGESET, cs, (uint32_t)n);
	}
	sqlite3_free(cs);
	if (rc == 0)
		rc = session_new(lg);
	return rc != 0 ? rc : lg->items.oom ? SL_ENOMEM : 0;
}

/* --------------------------------------------------------------- API */

int logical_open(struct logical **out, sqlite3 *db, char *err, size_t errlen)
{
	struct logical *lg = calloc(1, sizeof(*lg));
	if (!lg) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	lg->db = db;
	buf_init(&lg->items);
	int rc = load_schema(lg);
	if (rc == 0)
		rc = session_new(lg);
	if (rc != 0) {
		snprintf(err, errlen, "could not start logical capture: %s", sqlite3_errmsg(db));
		logical_close(lg);
		return rc;
	}
	*out = lg;
	return 0;
}

void logical_close(struct logical *lg)
{
	if (!lg)
		return;
	if (lg->session)
		sqlite3session_delete(lg->session);
	for (int i = 0; i < lg->nmarks; i++)
		free(lg->marks[i].name);
	free(lg->marks);
	names_free(&lg->no_pk);
	names_free(&lg->generated);
	free_null_keys(lg);
	free_tables(lg);
	buf_free(&lg->items);
	free(lg);
}

void logical_prepare_start(struct logical *lg, const char *sql)
{
	lg->prep_sql = sql;
	lg->prep_ddl = false;
	lg->denied[0] = '\0';
	if (lg->schema_dirty)
		load_schema(lg);
}

bool logical_prepare_was_ddl(struct logical *lg) { return lg->prep_ddl; }

const char *logical_denied(struct logical *lg) { return lg->denied[0] ? lg->denied : NULL; }

int logical_before_ddl(struct logical *lg) { return materialize(lg); }

int logical_after_ddl(struct logical *lg, const char *sql)
{
	put_item(lg, TXNREC_DDL, sql, (uint32_t)strlen(sql));
	int rc = load_schema(lg); /* also drops cached table descriptions */
	if (rc == 0)
		rc = session_new(lg);
	return rc != 0 ? rc : lg->items.oom ? SL_ENOMEM : 0;
}

int logical_savepoint(struct logical *lg, const char *name)
{
	int rc = materialize(lg);
	if (rc != 0)
		return rc;
	if (lg->nmarks == lg->marks_cap) {
		int cap = lg->marks_cap ? lg->marks_cap * 2 : 8;
		struct mark *grown = realloc(lg->marks, (size_t)cap * sizeof(*grown));
		if (!grown)
			return SL_ENOMEM;
		lg->marks = grown;
		lg->marks_cap = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return SL_ENOMEM;
	lg->marks[lg->nmarks++] = (struct mark){ copy, lg->items.len, lg->nitems };
	return 0;
}

static int find_mark(struct logical *lg, const char *name)
{
	for (int i = lg->nmarks - 1; i >= 0; i--)
		if (strcasecmp(lg->marks[i].name, name) == 0)
			return i;
	return -1;
}

void logical_release(struct logical *lg, const char *name)
{
	int i = find_mark(lg, name);
	if (i < 0)
		return;
	while (lg->nmarks > i)
		free(lg->marks[--lg->nmarks].name);
}

int logical_rollback_to(struct logical *lg, const char *name)
{
	int i = find_mark(lg, name);
	if (i < 0)
		return 0;
	while (lg->nmarks > i + 1)
		free(lg->marks[--lg->nmarks].name);
	struct mark *m = &lg->marks[i];
	if (lg->nitems != m->nitems) {
		lg->items.len = m->items_len;
		lg->nitems = m->nitems;
		lg->schema_dirty = true; /* a DDL may have been undone */
	}
	return session_new(lg);
}

static void clear(struct logical *lg)
{
	buf_reset(&lg->items);
	lg->items.oom = false;
	lg->nitems = 0;
	while (lg->nmarks > 0)
		free(lg->marks[--lg->nmarks].name);
}

int logical_finish(struct logical *lg, struct buf *items, uint32_t *nitems)
{
	lg->denied[0] = '\0';
	if (lg->schema_dirty)
		load_schema(lg);
	int rc = check_null_keys(lg);
	if (rc != 0)
		return rc; /* the caller rolls back */
	rc = materialize(lg);
	if (rc == 0) {
		buf_append(items, lg->items.data, lg->items.len);
		*nitems += lg->nitems;
		if (items->oom)
			rc = SL_ENOMEM;
	}
	clear(lg);
	return rc;
}

void logical_rollback(struct logical *lg)
{
	if (lg->nitems > 0)
		lg->schema_dirty = true;
	clear(lg);
	session_new(lg);
}
