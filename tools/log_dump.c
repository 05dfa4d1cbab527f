/*
 * log_dump.c — `sluice log dump`: every record of a data directory's
 * replication log, one line each, like PostgreSQL's pg_waldump.
 *
 * A TXN line gives the record's place and size, its commit time, its page
 * images (physical section) and a summary of its logical items: how many
 * DDL statements and changesets, how many row changes the changesets hold
 * and which tables they touch. An EPOCH line names the epoch's leader.
 * With --json each line is instead one JSON object with the same fields,
 * plus the DDL statements and, for each row change, its table and
 * operation.
 *
 * The dump stops at the first record it cannot read or decode, with a
 * message on stderr and exit status 1: what follows a corrupt record can
 * not be trusted to be where the log says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "buf.h"
#include "epochrec.h"
#include "json.h"
#include "lsn.h"
#include "record.h"
#include "replay.h"
#include "replog.h"
#include "sl_error.h"
#include "sluice.h"
#include "txnrec.h"

#define TIME_TEXT_MAX 64

/* What a record's logical section holds. */
struct summary {
	unsigned ddl, changesets;
	uint64_t rows;
	char **tables; /* distinct, in order of first appearance */
	size_t ntables, tables_cap;
	struct buf statements; /* JSON array elements, comma-separated */
	struct buf changes;    /* JSON array elements, comma-separated */
};

static void summary_init(struct summary *s) { memset(s, 0, sizeof(*s)); }

static void summary_free(struct summary *s)
{
	for (size_t i = 0; i < s->ntables; i++)
		free(s->tables[i]);
	free(s->tables);
	buf_free(&s->statements);
	buf_free(&s->changes);
}

/* "2026-11-23 13:00:00.123456 UTC" */
static void time_format(uint64_t us, char *out)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm)) {
		snprintf(out, TIME_TEXT_MAX, "(invalid time %llu)", (unsigned long long)us);
		return;
	}
	size_t n = strftime(out, TIME_TEXT_MAX, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + n, TIME_TEXT_MAX - n, ".%06u UTC", (unsigned)(us % 1000000));
}

static int summary_add_table(struct summary *s, const char *name)
{
	for (size_t i = s->ntables; i-- > 0;)
		if (strcmp(s->tables[i], name) == 0)
			return 0;
	if (s->ntables == s->tables_cap) {
		size_t cap = s->tables_cap ? s->tables_cap * 2 : 8;
		char **more = realloc(s->tables, cap * sizeof(*more));
		if (!more)
			return SL_ENOMEM;
		s->tables = more;
		s->tables_cap = cap;
	}
	if (!(s->tables[s->ntables] = strdup(name)))
		return SL_ENOMEM;
	s->ntables++;
	return 0;
}

static void json_sep(struct buf *b)
{
	if (b->len > 0)
		buf_put_u8(b, ',');
}

/* Counts the row changes of a changeset and notes their tables. */
static int summary_changeset(struct summary *s, const uint8_t *data, uint32_t len)
{
	sqlite3_changeset_iter *it = NULL;
	s->changesets++;
	if (len == 0)
		return 0;
	int rc = sqlite3changeset_start(&it, (int)len, (void *)data);
	if (rc != SQLITE_OK)
		return rc == SQLITE_NOMEM ? SL_ENOMEM : SL_ECORRUPT;
	while ((rc = sqlite3changeset_next(it)) == SQLITE_ROW) {
		const char *table;
		int ncol, op, indirect;
		sqlite3changeset_op(it, &table, &ncol, &op, &indirect);
		s->rows++;
		if (summary_add_table(s, table) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		json_sep(&s->changes);
		buf_append(&s->changes, "{\"table\":", 9);
		json_put_cstr(&s->changes, table);
		buf_printf(&s->changes, ",\"op\":\"%s\"}", replay_op_name(op));
	}
	sqlite3changeset_finalize(it);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_NOMEM ? SL_ENOMEM : SL_ECORRUPT;
}

static int summary_items(struct summary *s, const struct txnrec *t)
{
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	txnrec_items(t, &it);
	while (txnrec_next_item(&it, &kind, &data, &len)) {
		if (kind == TXNREC_DDL) {
			s->ddl++;
			json_sep(&s->statements);
			json_put_string(&s->statements, data, len);
		} else if (kind == TXNREC_CHANGESET) {
			int rc = summary_changeset(s, data, len);
			if (rc != 0)
				return rc;
		}
	}
	return s->statements.oom || s->changes.oom ? SL_ENOMEM : 0;
}

/* The fields every record has. */
static void put_common(struct buf *o, const struct record *rec, bool json)
{
	char lsn[LSN_TEXT_MAX], when[TIME_TEXT_MAX];
	lsn_format(rec->lsn, lsn);
	time_format(rec->commit_ts, when);
	bool compressed = (rec->flags & RECORD_F_COMPRESSED) != 0;
	unsigned long long size = (unsigned long long)record_size(rec);
	if (json)
		buf_printf(o,
			   "{\"lsn\":\"%s\",\"epoch\":%llu,\"type\":\"%s\",\"size\":%llu,\"raw_size\":%u,"
			   "\"compressed\":%s,\"time\":\"%s\",\"commit_ts\":%llu",
			   lsn, (unsigned long long)rec->epoch, record_type_name(rec->type), size, rec->raw_len,
			   compressed ? "true" : "false", when, (unsigned long long)rec->commit_ts);
	else
		buf_printf(o, "lsn: %s, epoch: %llu, type: %s, size: %llu (raw %u%s), time: %s", lsn,
			   (unsigned long long)rec->epoch, record_type_name(rec->type), size, rec->raw_len,
			   compressed ? ", compressed" : "", when);
}

static void put_txn_text(struct buf *o, const struct txnrec *t, const struct summary *s)
{
	if (t->sections & TXNREC_PHYSICAL)
		buf_printf(o, ", pages: %u (db %u pages, page size %u)", t->npages, t->db_pages, t->page_size);
	if (!(t->sections & TXNREC_LOGICAL))
		return;
	buf_printf(o, ", items: ddl %u, changesets %u, rows %llu", s->ddl, s->changesets,
		   (unsigned long long)s->rows);
	for (size_t i = 0; i < s->ntables; i++)
		buf_printf(o, "%s%s", i == 0 ? ", tables " : ",", s->tables[i]);
}

static void put_txn_json(struct buf *o, const struct txnrec *t, const struct summary *s)
{
	if (t->sections & TXNREC_PHYSICAL)
		buf_printf(o, ",\"pages\":%u,\"db_pages\":%u,\"page_size\":%u", t->npages, t->db_pages, t->page_size);
	if (t->sections & TXNREC_LOGICAL) {
		buf_printf(o, ",\"ddl\":%u,\"changesets\":%u,\"rows\":%llu,\"tables\":[", s->ddl, s->changesets,
			   (unsigned long long)s->rows);
		for (size_t i = 0; i < s->ntables; i++) {
			if (i > 0)
				buf_put_u8(o, ',');
			json_put_cstr(o, s->tables[i]);
		}
		buf_append(o, "],\"statements\":[", 16);
		buf_append(o, s->statements.data, s->statements.len);
		buf_append(o, "],\"changes\":[", 13);
		buf_append(o, s->changes.data, s->changes.len);
		buf_put_u8(o, ']');
	}
	buf_put_u8(o, '}');
}

static int dump_txn(struct buf *o, const struct record *rec, const struct buf *payload, bool json)
{
	struct txnrec t;
	struct summary s;
	char at[LSN_TEXT_MAX];
	lsn_format(rec->lsn, at);
	if (txnrec_decode(payload->data, payload->len, &t) != 0)
		return tool_error("corrupt TXN payload in the record at LSN %s", at);
	summary_init(&s);
	int rc = (t.sections & TXNREC_LOGICAL) ? summary_items(&s, &t) : 0;
	if (rc == 0) {
		put_common(o, rec, json);
		if (json)
			put_txn_json(o, &t, &s);
		else
			put_txn_text(o, &t, &s);
	}
	summary_free(&s);
	if (rc == SL_ENOMEM)
		return tool_error("out of memory reading the record at LSN %s", at);
	if (rc != 0)
		return tool_error("corrupt changeset in the record at LSN %s", at);
	return TOOL_EXIT_OK;
}

static int dump_epoch(struct buf *o, const struct record *rec, const struct buf *payload, bool json)
{
	struct epochrec e;
	char at[LSN_TEXT_MAX];
	lsn_format(rec->lsn, at);
	if (epochrec_decode(payload->data, payload->len, &e) != 0)
		return tool_error("corrupt EPOCH payload in the record at LSN %s", at);
	if (e.epoch != rec->epoch)
		return tool_error("the EPOCH record at LSN %s names epoch %llu in a record of epoch %llu", at,
				  (unsigned long long)e.epoch, (unsigned long long)rec->epoch);
	put_common(o, rec, json);
	if (json) {
		buf_append(o, ",\"leader\":", 10);
		json_put_cstr(o, e.leader);
		buf_put_u8(o, '}');
	} else {
		buf_printf(o, ", leader: %s", e.leader);
	}
	return TOOL_EXIT_OK;
}

/* Appends one record's line to o. */
static int dump_record(struct buf *o, const struct record *rec, struct buf *payload, bool json)
{
	char at[LSN_TEXT_MAX];
	lsn_format(rec->lsn, at);
	int rc = record_payload(rec, payload);
	if (rc == 0 && payload->oom)
		rc = SL_ENOMEM;
	if (rc != 0)
		return tool_error("could not read the payload of the record at LSN %s: %s", at, sl_strerror(rc));
	if (rec->type == RECORD_TXN)
		rc = dump_txn(o, rec, payload, json);
	else if (rec->type == RECORD_EPOCH)
		rc = dump_epoch(o, rec, payload, json);
	else
		rc = tool_error("record at LSN %s has unknown type %u", at, rec->type);
	if (rc == TOOL_EXIT_OK)
		buf_put_u8(o, '\n');
	return rc;
}

static int reader_open(struct replog *log, uint64_t from_lsn, struct replog_reader **r)
{
	if (from_lsn == 0)
		from_lsn = replog_start_lsn(log);
	if (replog_reader_open(log, from_lsn, r) == 0)
		return TOOL_EXIT_OK;
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX], c[LSN_TEXT_MAX];
	return tool_error("LSN %s is not the start of a record in the log, which holds %s to %s",
			  lsn_format(from_lsn, a), lsn_format(replog_start_lsn(log), b),
			  lsn_format(replog_end_lsn(log), c));
}

/* Hands o to stdout's buffer and empties it. */
static int put_out(struct buf *o)
{
	int rc = TOOL_EXIT_OK;
	if (o->oom)
		rc = tool_error("out of memory");
	else if (o->len > 0 && fwrite(o->data, 1, o->len, stdout) != o->len)
		rc = tool_error("could not write the output");
	buf_reset(o);
	return rc;
}

int log_dump(const char *data_dir, uint64_t from_lsn, bool json)
{
	struct replog *log = NULL;
	struct replog_reader *r = NULL;
	struct buf out, payload;
	struct record rec;
	int next;
	buf_init(&out);
	buf_init(&payload);
	int rc = tool_log_open(data_dir, &log);
	if (rc != TOOL_EXIT_OK)
		goto fail;
	if ((rc = reader_open(log, from_lsn, &r)) != TOOL_EXIT_OK)
		goto fail;
	while ((next = replog_reader_next(r, &rec, 0)) == 0) {
		if ((rc = dump_record(&out, &rec, &payload, json)) != TOOL_EXIT_OK)
			goto fail;
		if ((rc = put_out(&out)) != TOOL_EXIT_OK)
			goto fail;
	}
	if (next != SL_ETIMEDOUT) {
		char at[LSN_TEXT_MAX];
		rc = tool_error("could not read the record at LSN %s: %s", lsn_format(replog_reader_position(r), at),
				sl_strerror(next));
		goto fail;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = tool_error("could not write the output");
fail:
	buf_free(&out);
	buf_free(&payload);
	if (r)
		replog_reader_close(r);
	if (log)
		replog_close(log);
	return rc;
}
