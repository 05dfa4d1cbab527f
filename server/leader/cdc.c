/*
 * cdc.c — change events from TXN records (see cdc.h; the schema:
 * docs/CDC.md).
 *
 * A record's logical items come in the order they happened: TABLE items
 * (a table's name, columns and primary key) before each changeset that
 * touches it, changesets, and DDL statements. A changeset gives each row
 * change with the values SQLite's session extension keeps: an INSERT's new
 * row, a DELETE's old row, and for an UPDATE the primary key and the old
 * and new values of the columns that changed (the others are not in it).
 *
 * The transaction's events are built first and framed by begin and commit
 * only when there are any (after the table filter), so a consumer of some
 * tables sees no empty transactions.
 */
#include "cdc.h"

#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "autoconfig.h"
#include "changewalk.h"
#include "json.h"
#include "lsn.h"
#include "sl_error.h"
#include "slots.h"
#include "txnrec.h"

/* Appends a string literal (its length counted by the compiler). */
#define PUT(b, literal) buf_append((b), literal, sizeof(literal) - 1)

/* The tables a transaction described so far, and its events. */
struct txn {
	const struct record *rec;
	const struct cdc_options *o;
	char lsn[LSN_TEXT_MAX];
	char time[40]; /* commit time, ISO 8601 UTC to the microsecond */
	struct buf body;   /* the events between begin and commit */
	uint32_t changes;  /* row change events in body */
	uint32_t events;   /* all events in body */
	/* Debezium's per-table event counts */
	struct table_count {
		char *name; /* a copy: the record's TABLE items are gone by the commit line */
		uint32_t count;
	} *counts;
	int ncounts, counts_cap;
};

int cdc_format_parse(const char *name, enum cdc_format *out)
{
	if (strcmp(name, "json") == 0)
		*out = CDC_FORMAT_JSON;
	else if (strcmp(name, "debezium") == 0)
		*out = CDC_FORMAT_DEBEZIUM;
	else
		return SL_EINVAL;
	return 0;
}

int cdc_tables_parse(const char *list, struct cdc_options *o, char *err, size_t errlen)
{
	o->ntables = 0;
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		size_t len = n;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= CDC_NAME_MAX) {
			snprintf(err, errlen, "a table name in \"%s\" is %s", list, len ? "too long" : "empty");
			return SL_EINVAL;
		}
		if (o->ntables == CDC_MAX_TABLES) {
			snprintf(err, errlen, "more than %d tables", CDC_MAX_TABLES);
			return SL_EINVAL;
		}
		memcpy(o->tables[o->ntables], p, len);
		o->tables[o->ntables++][len] = '\0';
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

bool cdc_wanted(const struct cdc_options *o, const char *table)
{
	if (slots_is_table(table))
		return false; /* sluice's own */
	if (o->ntables == 0)
		return true;
	for (int i = 0; i < o->ntables; i++)
		if (sqlite3_stricmp(o->tables[i], table) == 0)
			return true;
	return false;
}

/* ----------------------------------------------------------------- values */

static void put_base64(struct buf *b, const uint8_t *p, int n)
{
	size_t room = 4 * (((size_t)n + 2) / 3) + 1;
	if (!buf_reserve(b, room + 2))
		return;
	b->data[b->len++] = '"';
	int w = EVP_EncodeBlock(b->data + b->len, p, n);
	b->len += (size_t)w;
	b->data[b->len++] = '"';
}

/* A value as JSON: integers and reals as numbers (a real that is not
 * finite as the string PostgreSQL's JSON gives it), text as a string,
 * a blob as base64, NULL as null. */
static void put_value(struct buf *b, sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		buf_printf(b, "%lld", sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT: {
		double d = sqlite3_value_double(v);
		if (isnan(d))
			json_put_cstr(b, "NaN");
		else if (isinf(d))
			json_put_cstr(b, d > 0 ? "Infinity" : "-Infinity");
		else if (fabs(d) < 1e15 && d == (double)(int64_t)d)
			buf_printf(b, "%.1f", d); /* a real stays a real: 2.0, not 2 */
		else
			buf_put_double(b, d);
		break;
	}
	case SQLITE_TEXT:
		json_put_string(b, sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v));
		break;
	case SQLITE_BLOB:
		put_base64(b, sqlite3_value_blob(v), sqlite3_value_bytes(v));
		break;
	default:
		PUT(b, "null");
	}
}

/* A row's value of column i, or NULL when the source does not hold it. */
typedef sqlite3_value *(*value_at_fn)(void *src, int i);

/* A changeset's old values. */
static sqlite3_value *old_value(void *it, int i) { return change_old(it, i); }

/* A changeset's new values (changewalk.h). */
struct new_values {
	sqlite3_changeset_iter *it;
	const struct txnrec_table *t;
};

static sqlite3_value *new_value(void *arg, int i)
{
	struct new_values *n = arg;
	return change_new(n->it, n->t, i);
}

/* A row read by a statement. */
static sqlite3_value *column_value(void *stmt, int i) { return sqlite3_column_value(stmt, i); }

/*
 * A row as an object by column name, only the primary key's with
 * key_only. Columns the source does not hold (an UPDATE's unchanged ones)
 * are left out.
 */
static void put_row(struct buf *b, const struct txnrec_table *t, int ncol, value_at_fn at, void *src, bool key_only)
{
	buf_put_u8(b, '{');
	bool first = true;
	for (int i = 0; i < ncol; i++) {
		if (key_only && !t->pk[i])
			continue;
		sqlite3_value *v = at(src, i);
		if (!v)
			continue;
		if (!first)
			buf_put_u8(b, ',');
		first = false;
		json_put_cstr(b, t->cols[i]);
		buf_put_u8(b, ':');
		put_value(b, v);
	}
	buf_put_u8(b, '}');
}

static void format_time(uint64_t us, char *out, size_t outlen)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%06" PRIu64 "Z", day, us % 1000000);
}

/* ---------------------------------------------------------------- events */

/* Fields every sluice event has; a snapshot's have no transaction. */
static void put_head(struct buf *b, const char *event, const struct txn *x, const char *lsn)
{
	if (x)
		buf_printf(b, "{\"event\":\"%s\",\"xid\":%" PRIu64 ",\"lsn\":\"%s\",\"commit_time\":\"%s\"", event,
			   x->rec->lsn, lsn, x->time);
	else
		buf_printf(b, "{\"event\":\"%s\",\"xid\":null,\"lsn\":\"%s\",\"commit_time\":null", event, lsn);
}

/* Debezium's source block: of a transaction, or of a snapshot at lsn. */
static void put_source(struct buf *b, const struct cdc_options *o, const struct txn *x, const char *lsn,
		       const char *table)
{
	buf_printf(b, "\"source\":{\"version\":\"%s\",\"connector\":\"sluice\",\"name\":", PACKAGE_VERSION);
	json_put_cstr(b, o->connector ? o->connector : "sluice");
	buf_printf(b, ",\"ts_ms\":%" PRId64 ",\"snapshot\":\"%s\",\"db\":\"main\",\"table\":",
		   x ? (int64_t)(x->rec->commit_ts / 1000) : o->now_ms, x ? "false" : "true");
	if (table)
		json_put_cstr(b, table);
	else
		PUT(b, "null");
	buf_printf(b, ",\"lsn\":\"%s\",\"txId\":", lsn);
	if (x)
		buf_printf(b, "%" PRIu64 "}", x->rec->lsn);
	else
		PUT(b, "null}");
}

static uint32_t count_table(struct txn *x, const char *table)
{
	for (int i = 0; i < x->ncounts; i++)
		if (strcmp(x->counts[i].name, table) == 0)
			return ++x->counts[i].count;
	if (x->ncounts == x->counts_cap) {
		int cap = x->counts_cap ? 2 * x->counts_cap : 4;
		struct table_count *v = realloc(x->counts, (size_t)cap * sizeof(*v));
		if (!v)
			return 0;
		x->counts = v;
		x->counts_cap = cap;
	}
	char *copy = strdup(table);
	if (!copy)
		return 0;
	x->counts[x->ncounts++] = (struct table_count){ copy, 1 };
	return 1;
}

/* Where a row event's key, before and after come from (at NULL: none). */
struct row_sources {
	value_at_fn key_at, before_at, after_at;
	void *key_src, *before_src, *after_src;
};

/*
 * A row event up to Debezium's transaction block and the closing brace:
 * of a transaction x, or of a snapshot at lsn (x NULL). op is sluice's
 * name of it, dbz_op Debezium's letter.
 */
static void put_row_event(struct buf *b, const struct cdc_options *o, const struct txn *x, const char *lsn,
			  const struct txnrec_table *t, int ncol, const char *op, char dbz_op,
			  const struct row_sources *src)
{
	if (o->format == CDC_FORMAT_JSON) {
		put_head(b, "change", x, lsn);
		PUT(b, ",\"table\":");
		json_put_cstr(b, t->name);
		buf_printf(b, ",\"op\":\"%s\",\"key\":", op);
		put_row(b, t, ncol, src->key_at, src->key_src, true);
		buf_put_u8(b, ',');
	} else {
		buf_put_u8(b, '{');
	}
	PUT(b, "\"before\":");
	if (src->before_at)
		put_row(b, t, ncol, src->before_at, src->before_src, false);
	else
		PUT(b, "null");
	PUT(b, ",\"after\":");
	if (src->after_at)
		put_row(b, t, ncol, src->after_at, src->after_src, false);
	else
		PUT(b, "null");
	if (o->format == CDC_FORMAT_DEBEZIUM) {
		buf_put_u8(b, ',');
		put_source(b, o, x, lsn, t->name);
		buf_printf(b, ",\"op\":\"%c\",\"ts_ms\":%" PRId64, dbz_op, o->now_ms);
	}
}

static void change_event(struct txn *x, const struct txnrec_table *t, sqlite3_changeset_iter *it, int ncol, int op)
{
	struct buf *b = &x->body;
	x->changes++;
	x->events++;
	struct new_values nv = { it, t };
	struct row_sources src = { old_value, NULL, NULL, it, it, &nv };
	if (op == SQLITE_INSERT)
		src.key_at = new_value, src.key_src = &nv;
	if (op != SQLITE_INSERT)
		src.before_at = old_value;
	if (op != SQLITE_DELETE)
		src.after_at = new_value;
	put_row_event(b, x->o, x, x->lsn, t, ncol,
		      op == SQLITE_INSERT ? "insert" : op == SQLITE_UPDATE ? "update" : "delete",
		      op == SQLITE_INSERT ? 'c' : op == SQLITE_UPDATE ? 'u' : 'd', &src);
	if (x->o->format == CDC_FORMAT_DEBEZIUM) {
		uint32_t in_table = count_table(x, t->name);
		if (in_table == 0)
			b->oom = true;
		buf_printf(b,
			   ",\"transaction\":{\"id\":\"%" PRIu64 "\",\"total_order\":%" PRIu32
			   ",\"data_collection_order\":%" PRIu32 "}",
			   x->rec->lsn, x->events, in_table);
	}
	PUT(b, "}\n");
}

/* A DDL event: of a transaction x, or of a snapshot at lsn (x NULL). */
static void put_ddl(struct buf *b, const struct cdc_options *o, const struct txn *x, const char *lsn, const void *sql,
		    size_t len)
{
	if (o->format == CDC_FORMAT_JSON) {
		put_head(b, "ddl", x, lsn);
		PUT(b, ",\"sql\":");
	} else {
		buf_put_u8(b, '{');
		put_source(b, o, x, lsn, NULL);
		buf_printf(b, ",\"ts_ms\":%" PRId64 ",\"databaseName\":\"main\",\"ddl\":", o->now_ms);
	}
	json_put_string(b, sql, len);
	if (o->format == CDC_FORMAT_DEBEZIUM)
		PUT(b, ",\"tableChanges\":[]");
	PUT(b, "}\n");
}

static void ddl_event(struct txn *x, const uint8_t *sql, uint32_t len)
{
	x->events++;
	put_ddl(&x->body, x->o, x, x->lsn, sql, len);
}

static void begin_event(struct txn *x, struct buf *b)
{
	if (x->o->format == CDC_FORMAT_JSON) {
		put_head(b, "begin", x, x->lsn);
		PUT(b, "}\n");
	} else {
		buf_printf(b,
			   "{\"status\":\"BEGIN\",\"id\":\"%" PRIu64 "\",\"ts_ms\":%" PRIu64
			   ",\"event_count\":null,\"data_collections\":null}\n",
			   x->rec->lsn, x->rec->commit_ts / 1000);
	}
}

static void commit_event(struct txn *x, struct buf *b, uint64_t next_lsn)
{
	char next[LSN_TEXT_MAX];
	lsn_format(next_lsn, next);
	if (x->o->format == CDC_FORMAT_JSON) {
		put_head(b, "commit", x, x->lsn);
		buf_printf(b, ",\"rows\":%" PRIu32 ",\"next_lsn\":\"%s\"}\n", x->changes, next);
		return;
	}
	buf_printf(b, "{\"status\":\"END\",\"id\":\"%" PRIu64 "\",\"ts_ms\":%" PRIu64 ",\"event_count\":%" PRIu32
		   ",\"data_collections\":[",
		   x->rec->lsn, x->rec->commit_ts / 1000, x->changes);
	for (int i = 0; i < x->ncounts; i++) {
		struct buf name;
		buf_init(&name);
		buf_printf(&name, "main.%s", x->counts[i].name);
		if (i)
			buf_put_u8(b, ',');
		PUT(b, "{\"data_collection\":");
		if (name.oom)
			b->oom = true;
		else
			json_put_string(b, name.data, name.len);
		buf_free(&name);
		buf_printf(b, ",\"event_count\":%" PRIu32 "}", x->counts[i].count);
	}
	buf_printf(b, "],\"next_lsn\":\"%s\"}\n", next);
}

/* ---------------------------------------------------------------- records */

static void on_ddl(void *arg, const uint8_t *sql, uint32_t len)
{
	if (!slots_is_own_ddl(sql, len))
		ddl_event(arg, sql, len);
}

static void on_change(void *arg, const struct txnrec_table *t, sqlite3_changeset_iter *it, int ncol, int op)
{
	struct txn *x = arg;
	if (cdc_wanted(x->o, t->name))
		change_event(x, t, it, ncol, op);
}

int cdc_record_events(const struct record *rec, uint64_t next_lsn, const struct cdc_options *o, struct buf *out,
		      uint32_t *nevents)
{
	*nevents = 0;
	struct txn x = { .rec = rec, .o = o };
	lsn_format(rec->lsn, x.lsn);
	format_time(rec->commit_ts, x.time, sizeof(x.time));
	buf_init(&x.body);
	struct change_walk_ops ops = { on_ddl, on_change, &x };
	int rc = change_walk(rec, &ops);
	if (rc == 0 && x.body.oom)
		rc = SL_ENOMEM;
	if (rc == 0 && x.events > 0) {
		begin_event(&x, out);
		buf_append(out, x.body.data, x.body.len);
		commit_event(&x, out, next_lsn);
		rc = out->oom ? SL_ENOMEM : 0;
		*nevents = x.events + 2;
	}
	for (int i = 0; i < x.ncounts; i++)
		free(x.counts[i].name);
	free(x.counts);
	buf_free(&x.body);
	return rc;
}

/* -------------------------------------------------------------- snapshots */

void cdc_snapshot_begin(const struct cdc_options *o, uint64_t lsn, struct buf *out)
{
	char at[LSN_TEXT_MAX];
	if (o->format == CDC_FORMAT_JSON)
		buf_printf(out, "{\"event\":\"snapshot_begin\",\"lsn\":\"%s\"}\n", lsn_format(lsn, at));
}

void cdc_snapshot_ddl(const struct cdc_options *o, uint64_t lsn, const char *sql, struct buf *out)
{
	char at[LSN_TEXT_MAX];
	put_ddl(out, o, NULL, lsn_format(lsn, at), sql, strlen(sql));
}

void cdc_snapshot_row(const struct cdc_options *o, uint64_t lsn, const struct txnrec_table *t, sqlite3_stmt *row,
		      struct buf *out)
{
	char at[LSN_TEXT_MAX];
	struct row_sources src = { column_value, NULL, column_value, row, NULL, row };
	put_row_event(out, o, NULL, lsn_format(lsn, at), t, t->ncols, "read", 'r', &src);
	if (o->format == CDC_FORMAT_DEBEZIUM)
		PUT(out, ",\"transaction\":null");
	PUT(out, "}\n");
}

void cdc_snapshot_end(const struct cdc_options *o, uint64_t lsn, uint64_t rows, struct buf *out)
{
	char at[LSN_TEXT_MAX];
	if (o->format == CDC_FORMAT_JSON)
		buf_printf(out, "{\"event\":\"snapshot_end\",\"lsn\":\"%s\",\"rows\":%" PRIu64 ",\"next_lsn\":\"%s\"}\n",
			   lsn_format(lsn, at), rows, at);
}
