/*
 * cdc.h — change events from the replication log: each TXN record's
 * logical section (txnrec.h: changesets, the tables' columns, DDL) as one
 * JSON object per line, in sluice's own form or in Debezium's change-event
 * envelope. The schema, with an example of every event: docs/CDC.md.
 *
 * A transaction gives a begin line, its row changes and DDL statements in
 * the order they happened, and a commit line carrying the LSN to resume
 * from. A snapshot gives every row as a read event. Pure: a record or a
 * row in, lines out; no I/O, no clock (the caller passes the time
 * Debezium's envelope stamps).
 */
#ifndef SL_CDC_H
#define SL_CDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "buf.h"
#include "record.h"
#include "txnrec.h"

#define CDC_MAX_TABLES 64
#define CDC_NAME_MAX 256

enum cdc_format {
	CDC_FORMAT_JSON,     /* sluice's events: begin, change, ddl, commit */
	CDC_FORMAT_DEBEZIUM, /* Debezium's envelope; transaction and schema-change lines */
};

struct cdc_options {
	enum cdc_format format;
	int ntables; /* 0: every table */
	char tables[CDC_MAX_TABLES][CDC_NAME_MAX];
	const char *connector; /* Debezium's source.name */
	int64_t now_ms;        /* Debezium's envelope ts_ms */
};

/* "json" or "debezium"; 0 or SL_EINVAL. */
int cdc_format_parse(const char *name, enum cdc_format *out);
/* A comma-separated list of table names into o->tables ("" keeps every
 * table); 0, or SL_EINVAL with err. */
int cdc_tables_parse(const char *list, struct cdc_options *o, char *err, size_t errlen);

/*
 * Appends the events of the record at rec (begin, its row changes and DDL,
 * commit; nothing for an EPOCH record or a transaction with nothing of the
 * tables asked for), each a line of JSON ending in '\n'; *nevents gets how
 * many. 0; SL_EINVAL when the record holds no logical section (the log
 * was written with log_mode = physical); SL_ECORRUPT; SL_ENOMEM.
 */
int cdc_record_events(const struct record *rec, uint64_t next_lsn, const struct cdc_options *o, struct buf *out,
		      uint32_t *nevents);

/* True if o keeps the row events of table (its list is empty or names it). */
bool cdc_wanted(const struct cdc_options *o, const char *table);

/*
 * A snapshot's events (`sluice cdc --snapshot`): every row one read
 * transaction sees, at the LSN that transaction stands at. In sluice's
 * form: snapshot_begin; then for each table its CREATE statement as a ddl
 * event and its rows as change events with op "read"; the other schema
 * objects' DDL; snapshot_end with the row count and next_lsn (the LSN,
 * where the stream goes on). In Debezium's: the DDL as schema change
 * events and the rows with op "r", source.snapshot "true"; no begin or
 * end lines. Each call appends its line(s) to out.
 */
void cdc_snapshot_begin(const struct cdc_options *o, uint64_t lsn, struct buf *out);
void cdc_snapshot_ddl(const struct cdc_options *o, uint64_t lsn, const char *sql, struct buf *out);
/* The row the statement stands on, its columns those of t in order. */
void cdc_snapshot_row(const struct cdc_options *o, uint64_t lsn, const struct txnrec_table *t, sqlite3_stmt *row,
		      struct buf *out);
void cdc_snapshot_end(const struct cdc_options *o, uint64_t lsn, uint64_t rows, struct buf *out);

#endif
