/*
 * decoding.c — test_decoding's and wal2json's messages for a transaction
 * record (see decoding.h).
 */
#include "decoding.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "changewalk.h"
#include "json.h"
#include "lsn.h"
#include "pgtypes.h"
#include "sl_error.h"
#include "slots.h"

/* --------------------------------------------------------------- options */

static const char *const plugin_names[] = { "sluice", "test_decoding", "wal2json" };

int decoding_plugin_parse(const char *name, enum decoding_plugin *out)
{
	for (size_t i = 0; i < sizeof(plugin_names) / sizeof(plugin_names[0]); i++) {
		if (name && strcmp(name, plugin_names[i]) == 0) {
			*out = (enum decoding_plugin)i;
			return 0;
		}
	}
	return SL_EINVAL;
}

const char *decoding_plugin_name(enum decoding_plugin plugin) { return plugin_names[plugin]; }

/* PostgreSQL's parse_bool; a bare option is true. */
static int parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "1", "t", "true", "on", "y", "yes" };
	static const char *const no[] = { "0", "f", "false", "off", "n", "no" };
	if (!value) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
			*out = strcasecmp(value, yes[i]) == 0;
			return 0;
		}
	}
	return SL_EINVAL;
}

/* wal2json's table list: "schema.table" names, comma-separated; "*" is any
 * schema, "\," a comma in a name. Only schema public (or *) holds tables. */
static int parse_tables(const char *value, char (*names)[CDC_NAME_MAX], int *n)
{
	*n = 0;
	const char *p = value ? value : "";
	while (*p) {
		char name[CDC_NAME_MAX];
		size_t len = 0;
		for (; *p && *p != ','; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (len + 1 >= sizeof(name))
				return SL_EINVAL;
			name[len++] = *p;
		}
		name[len] = '\0';
		if (*p == ',')
			p++;
		const char *dot = strchr(name, '.');
		if (!dot || *n == DECODING_MAX_TABLES)
			return SL_EINVAL;
		if (strncmp(name, "public.", 7) != 0 && strncmp(name, "*.", 2) != 0)
			continue; /* another schema: no table of sluice's is there */
		snprintf(names[(*n)++], CDC_NAME_MAX, "%s", dot + 1);
	}
	return 0;
}

/* The boolean options of test_decoding and wal2json, and the field each sets. */
static const struct {
	enum decoding_plugin plugin;
	const char *name;
	size_t field; /* offsetof a bool in struct decoding_options */
} bool_options[] = {
	{ DECODING_TEST_DECODING, "include-xids", offsetof(struct decoding_options, include_xids) },
	{ DECODING_TEST_DECODING, "include-timestamp", offsetof(struct decoding_options, include_timestamp) },
	{ DECODING_TEST_DECODING, "skip-empty-xacts", offsetof(struct decoding_options, skip_empty_xacts) },
	{ DECODING_WAL2JSON, "include-xids", offsetof(struct decoding_options, include_xids) },
	{ DECODING_WAL2JSON, "include-timestamp", offsetof(struct decoding_options, include_timestamp) },
	{ DECODING_WAL2JSON, "include-lsn", offsetof(struct decoding_options, include_lsn) },
	{ DECODING_WAL2JSON, "include-schemas", offsetof(struct decoding_options, include_schemas) },
	{ DECODING_WAL2JSON, "include-types", offsetof(struct decoding_options, include_types) },
	{ DECODING_WAL2JSON, "include-typmod", offsetof(struct decoding_options, include_typmod) },
	{ DECODING_WAL2JSON, "include-type-oids", offsetof(struct decoding_options, include_type_oids) },
	{ DECODING_WAL2JSON, "include-transaction", offsetof(struct decoding_options, include_transaction) },
};

/* One option of the plugin; SL_EINVAL when unknown or wrong. */
static int set_option(struct decoding_options *o, const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof(bool_options) / sizeof(bool_options[0]); i++)
		if (bool_options[i].plugin == o->plugin && strcmp(bool_options[i].name, name) == 0)
			return parse_bool(value, (bool *)((char *)o + bool_options[i].field));
	bool off = false;
	switch (o->plugin) {
	case DECODING_TEST_DECODING:
		if (strcmp(name, "only-local") == 0 || strcmp(name, "include-rewrites") == 0)
			return parse_bool(value, &off); /* no origins, no rewrites here */
		if (strcmp(name, "force-binary") == 0 || strcmp(name, "stream-changes") == 0)
			return parse_bool(value, &off) != 0 || off ? SL_EINVAL : 0;
		return SL_EINVAL;
	case DECODING_WAL2JSON:
		if (strcmp(name, "format-version") == 0)
			return value && strcmp(value, "2") == 0 ? 0 : SL_EINVAL;
		if (strcmp(name, "add-tables") == 0)
			return parse_tables(value, o->add, &o->nadd);
		if (strcmp(name, "filter-tables") == 0)
			return parse_tables(value, o->filter, &o->nfilter);
		return SL_EINVAL;
	case DECODING_SLUICE:
		if (strcmp(name, "format") == 0)
			return value ? cdc_format_parse(value, &o->cdc.format) : SL_EINVAL;
		if (strcmp(name, "tables") == 0) {
			char err[256];
			return value ? cdc_tables_parse(value, &o->cdc, err, sizeof(err)) : SL_EINVAL;
		}
		return SL_EINVAL;
	}
	return SL_EINVAL;
}

int decoding_options_parse(enum decoding_plugin plugin, const char *options, struct decoding_options *o, char *err,
			   size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->plugin = plugin;
	o->include_xids = plugin == DECODING_TEST_DECODING;
	o->include_schemas = o->include_types = o->include_typmod = o->include_transaction = true;
	bool version_given = false;
	const char *p = options ? options : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		char line[CDC_NAME_MAX * 2];
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
		char *eq = strchr(line, '=');
		const char *value = NULL;
		if (eq) {
			*eq = '\0';
			value = eq + 1;
		}
		version_given = version_given || strcmp(line, "format-version") == 0;
		if (set_option(o, line, value) != 0) {
			if (plugin == DECODING_WAL2JSON && strcmp(line, "format-version") == 0)
				snprintf(err, errlen, "wal2json's format-version %s is not spoken here: only 2",
					 value ? value : "(none)");
			else
				snprintf(err, errlen, "option \"%s\" = \"%s\" is unknown", line, value ? value : "(null)");
			return SL_EINVAL;
		}
	}
	if (plugin == DECODING_WAL2JSON && !version_given) {
		snprintf(err, errlen, "wal2json's format-version 1 is not spoken here: add the option format-version '2' "
				      "(pg_recvlogical -o format-version=2)");
		return SL_EINVAL;
	}
	return 0;
}

/* -------------------------------------------------------------- messages */

struct decode {
	const struct record *rec;
	uint64_t next_lsn;
	const struct decoding_options *o;
	const struct decoding_output *out;
	char time[PGTYPES_TIME_MAX]; /* commit time as PostgreSQL prints a timestamptz */
	struct buf msg;  /* the message being made */
	bool begun;      /* BEGIN went out */
	bool shown;      /* the record holds something not quiet (slots.h): it has a BEGIN and COMMIT */
	bool failed;     /* out of memory */
};

static void emit(struct decode *d, uint64_t lsn)
{
	if (d->msg.oom)
		d->failed = true;
	else
		d->out->emit(d->out->arg, lsn, d->msg.data, d->msg.len);
	buf_reset(&d->msg);
}

/* wal2json's opening of a message: the action, and the transaction's
 * xid and commit time when asked for. */
static void w2j_head(struct decode *d, char action)
{
	buf_printf(&d->msg, "{\"action\":\"%c\"", action);
	if (d->o->include_xids)
		buf_printf(&d->msg, ",\"xid\":%" PRIu64, d->rec->lsn);
	if (d->o->include_timestamp)
		buf_printf(&d->msg, ",\"timestamp\":\"%s\"", d->time);
}

/* wal2json's include-lsn on B and C: the transaction's record and where
 * the next one starts. */
static void put_txn_lsns(struct decode *d)
{
	if (d->o->include_lsn)
		buf_printf(&d->msg, ",\"lsn\":\"%s\",\"nextlsn\":\"%s\"",
			   lsn_format(d->rec->lsn, (char[LSN_TEXT_MAX]){ 0 }),
			   lsn_format(d->next_lsn, (char[LSN_TEXT_MAX]){ 0 }));
}

static void begin(struct decode *d)
{
	if (d->begun)
		return;
	d->begun = true;
	struct buf *b = &d->msg;
	if (d->o->plugin == DECODING_TEST_DECODING) {
		buf_printf(b, "BEGIN");
		if (d->o->include_xids)
			buf_printf(b, " %" PRIu64, d->rec->lsn);
	} else {
		if (!d->o->include_transaction)
			return;
		w2j_head(d, 'B');
		put_txn_lsns(d);
		buf_put_u8(b, '}');
	}
	emit(d, d->rec->lsn);
}

static void commit(struct decode *d)
{
	struct buf *b = &d->msg;
	if (d->o->plugin == DECODING_TEST_DECODING) {
		buf_printf(b, "COMMIT");
		if (d->o->include_xids)
			buf_printf(b, " %" PRIu64, d->rec->lsn);
		if (d->o->include_timestamp)
			buf_printf(b, " (at %s)", d->time);
	} else {
		if (!d->o->include_transaction)
			return;
		w2j_head(d, 'C');
		put_txn_lsns(d);
		buf_put_u8(b, '}');
	}
	emit(d, d->next_lsn);
}

static bool numeric_oid(uint32_t oid)
{
	return oid == OID_INT2 || oid == OID_INT4 || oid == OID_INT8 || oid == OID_OID || oid == OID_FLOAT4 ||
	       oid == OID_FLOAT8 || oid == OID_NUMERIC;
}

/* The type of column col: as declared, else the value's storage class. */
static struct decoding_type column_type(struct decode *d, const struct txnrec_table *t, int col, sqlite3_value *v)
{
	struct decoding_type ty = { 0, NULL, 0, "" };
	d->out->type_of(d->out->arg, t->name, t->cols[col], &ty);
	if (ty.oid == 0 && v && sqlite3_value_type(v) != SQLITE_NULL)
		ty.oid = pgtypes_from_storage(sqlite3_value_type(v));
	if (ty.oid == 0)
		ty.oid = OID_TEXT;
	if (!ty.name) {
		ty.name = pgtypes_name(ty.oid);
		ty.name_oid = ty.oid;
	}
	return ty;
}

/* Whether a value prints bare: a finite number of a numeric type. */
static bool bare_number(sqlite3_value *v, uint32_t oid)
{
	int t = sqlite3_value_type(v);
	return numeric_oid(oid) && (t == SQLITE_INTEGER || (t == SQLITE_FLOAT && isfinite(sqlite3_value_double(v))));
}

/* PostgreSQL's quote_identifier, keywords aside. */
static void put_ident(struct buf *b, const char *name)
{
	bool plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
	for (const char *c = name; plain && *c; c++)
		plain = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
	if (plain) {
		buf_append(b, name, strlen(name));
		return;
	}
	buf_put_u8(b, '"');
	for (const char *c = name; *c; c++) {
		if (*c == '"')
			buf_put_u8(b, '"');
		buf_put_u8(b, (uint8_t)*c);
	}
	buf_put_u8(b, '"');
}

/* A value both plugins write bare: null, true or false, a finite number
 * of a numeric type. True when it was written. */
static bool put_bare(struct buf *b, sqlite3_value *v, uint32_t oid)
{
	if (sqlite3_value_type(v) == SQLITE_NULL) {
		buf_printf(b, "null");
	} else if (oid == OID_BOOL) {
		struct buf t;
		buf_init(&t);
		pgtypes_put_text(&t, v, oid);
		buf_printf(b, "%s", t.len && t.data[0] == 't' ? "true" : "false");
		buf_free(&t);
	} else if (bare_number(v, oid)) {
		pgtypes_put_text(b, v, oid);
	} else {
		return false;
	}
	return true;
}

/* test_decoding's " name[type]:value"; v NULL: a column the record does
 * not hold. Other values are quoted as literals ('' for '). */
static void td_column(struct buf *b, const char *name, struct decoding_type ty, sqlite3_value *v)
{
	buf_put_u8(b, ' ');
	put_ident(b, name);
	buf_printf(b, "[%s]:", ty.name);
	if (!v) {
		buf_printf(b, "unchanged-toast-datum");
		return;
	}
	if (put_bare(b, v, ty.oid))
		return;
	struct buf t;
	buf_init(&t);
	pgtypes_put_text(&t, v, ty.oid);
	buf_put_u8(b, '\'');
	for (size_t i = 0; i < t.len; i++) {
		if (t.data[i] == '\'')
			buf_put_u8(b, '\'');
		buf_put_u8(b, t.data[i]);
	}
	buf_put_u8(b, '\'');
	if (t.oom)
		b->oom = true;
	buf_free(&t);
}

/* wal2json's {"name":…,"type":…,"value":…}; other values are JSON
 * strings, a bytea's hex digits without the \x, as wal2json writes them. */
static void w2j_column(struct decode *d, const char *name, struct decoding_type ty, sqlite3_value *v, bool first)
{
	struct buf *b = &d->msg;
	if (!first)
		buf_put_u8(b, ',');
	buf_printf(b, "{\"name\":");
	json_put_cstr(b, name);
	if (d->o->include_types)
		buf_printf(b, ",\"type\":\"%s%s\"", ty.name, d->o->include_typmod ? ty.typmod : "");
	if (d->o->include_type_oids)
		buf_printf(b, ",\"typeoid\":%" PRIu32, ty.name_oid);
	buf_printf(b, ",\"value\":");
	if (!put_bare(b, v, ty.oid)) {
		struct buf t;
		buf_init(&t);
		pgtypes_put_text(&t, v, ty.oid);
		size_t skip = ty.oid == OID_BYTEA && t.len >= 2 && t.data[0] == '\\' && t.data[1] == 'x' ? 2 : 0;
		json_put_string(b, t.data + skip, t.len - skip);
		if (t.oom)
			b->oom = true;
		buf_free(&t);
	}
	buf_put_u8(b, '}');
}

/* The columns of a row: all of them (v NULL where the record has none),
 * or only the key's. */
typedef sqlite3_value *(*row_value_fn)(sqlite3_changeset_iter *it, const struct txnrec_table *t, int i);

static sqlite3_value *old_at(sqlite3_changeset_iter *it, const struct txnrec_table *t, int i)
{
	(void)t;
	return change_old(it, i);
}

static void td_row(struct decode *d, const struct txnrec_table *t, int ncol, sqlite3_changeset_iter *it,
		   row_value_fn at, bool key_only)
{
	for (int i = 0; i < ncol; i++) {
		if (key_only && !t->pk[i])
			continue;
		sqlite3_value *v = at(it, t, i);
		td_column(&d->msg, t->cols[i], column_type(d, t, i, v), v);
	}
}

static void w2j_row(struct decode *d, const char *field, const struct txnrec_table *t, int ncol,
		    sqlite3_changeset_iter *it, row_value_fn at, bool key_only)
{
	buf_printf(&d->msg, ",\"%s\":[", field);
	bool first = true;
	for (int i = 0; i < ncol; i++) {
		if (key_only && !t->pk[i])
			continue;
		sqlite3_value *v = at(it, t, i);
		if (!v)
			continue; /* not in the record: as wal2json leaves out an unchanged TOASTed value */
		w2j_column(d, t->cols[i], column_type(d, t, i, v), v, first);
		first = false;
	}
	buf_put_u8(&d->msg, ']');
}

static bool w2j_wanted(const struct decoding_options *o, const char *table)
{
	bool listed = o->nadd == 0;
	for (int i = 0; i < o->nadd && !listed; i++)
		listed = strcmp(o->add[i], table) == 0 || strcmp(o->add[i], "*") == 0;
	for (int i = 0; i < o->nfilter && listed; i++)
		listed = !(strcmp(o->filter[i], table) == 0 || strcmp(o->filter[i], "*") == 0);
	return listed;
}

/* Whether an UPDATE changed a key column. */
static bool key_changed(const struct txnrec_table *t, int ncol, sqlite3_changeset_iter *it)
{
	for (int i = 0; i < ncol; i++) {
		sqlite3_value *v = NULL;
		if (t->pk[i] && sqlite3changeset_new(it, i, &v) == SQLITE_OK && v)
			return true;
	}
	return false;
}

static void on_change(void *arg, const struct txnrec_table *t, sqlite3_changeset_iter *it, int ncol, int op)
{
	struct decode *d = arg;
	if (slots_is_table(t->name))
		return;
	d->shown = true;
	if (d->o->plugin == DECODING_WAL2JSON && !w2j_wanted(d->o, t->name))
		return;
	begin(d);
	struct buf *b = &d->msg;
	bool moved = op == SQLITE_UPDATE && key_changed(t, ncol, it);
	if (d->o->plugin == DECODING_TEST_DECODING) {
		buf_printf(b, "table public.");
		put_ident(b, t->name);
		buf_printf(b, ": %s:", op == SQLITE_INSERT ? "INSERT" : op == SQLITE_UPDATE ? "UPDATE" : "DELETE");
		if (op == SQLITE_DELETE) {
			td_row(d, t, ncol, it, old_at, true);
		} else {
			if (moved) {
				buf_printf(b, " old-key:");
				td_row(d, t, ncol, it, old_at, true);
				buf_printf(b, " new-tuple:");
			}
			td_row(d, t, ncol, it, change_new, false);
		}
	} else {
		w2j_head(d, op == SQLITE_INSERT ? 'I' : op == SQLITE_UPDATE ? 'U' : 'D');
		if (d->o->include_lsn)
			buf_printf(b, ",\"lsn\":\"%s\"", lsn_format(d->rec->lsn, (char[LSN_TEXT_MAX]){ 0 }));
		if (d->o->include_schemas)
			buf_printf(b, ",\"schema\":\"public\"");
		buf_printf(b, ",\"table\":");
		json_put_cstr(b, t->name);
		if (op != SQLITE_DELETE)
			w2j_row(d, "columns", t, ncol, it, change_new, false);
		if (op != SQLITE_INSERT)
			w2j_row(d, "identity", t, ncol, it, moved || op == SQLITE_DELETE ? old_at : change_new, true);
		buf_put_u8(b, '}');
	}
	emit(d, d->rec->lsn);
}

/* sluice's own events, one message per line. */
static int sluice_events(const struct record *rec, uint64_t next_lsn, const struct decoding_options *o,
			 const struct decoding_output *out)
{
	struct buf lines;
	buf_init(&lines);
	uint32_t n = 0;
	int rc = cdc_record_events(rec, next_lsn, &o->cdc, &lines, &n);
	for (size_t at = 0; rc == 0 && at < lines.len;) {
		const uint8_t *nl = memchr(lines.data + at, '\n', lines.len - at);
		size_t len = nl ? (size_t)(nl - (lines.data + at)) : lines.len - at;
		bool last = at + len + 1 >= lines.len;
		out->emit(out->arg, last ? next_lsn : rec->lsn, lines.data + at, len);
		at += len + 1;
	}
	buf_free(&lines);
	return rc;
}

/* DDL is not decoded, but a transaction of other DDL than the slot
 * table's own still shows as BEGIN and COMMIT (as in PostgreSQL). */
static void on_ddl(void *arg, const uint8_t *sql, uint32_t len)
{
	struct decode *d = arg;
	if (!slots_is_own_ddl(sql, len))
		d->shown = true;
}

int decoding_record(const struct record *rec, uint64_t next_lsn, const struct decoding_options *o,
		    const struct decoding_output *out)
{
	if (o->plugin == DECODING_SLUICE)
		return sluice_events(rec, next_lsn, o, out);
	struct decode d = { .rec = rec, .next_lsn = next_lsn, .o = o, .out = out };
	pgtypes_timestamptz_text(rec->commit_ts, d.time, sizeof(d.time));
	buf_init(&d.msg);
	/* one walk: BEGIN goes out with the first change shown, or at the end
	 * when the record was not quiet (skip-empty-xacts aside) */
	struct change_walk_ops ops = { on_ddl, on_change, &d };
	int rc = change_walk(rec, &ops);
	if (rc == 0 && d.shown && !d.begun && !(o->plugin == DECODING_TEST_DECODING && o->skip_empty_xacts))
		begin(&d);
	if (rc == 0 && d.begun)
		commit(&d);
	if (rc == 0 && (d.failed || d.msg.oom))
		rc = SL_ENOMEM;
	buf_free(&d.msg);
	return rc;
}
