/*
 * decoding.h — PostgreSQL's logical decoding output over sluice's log: the
 * messages an output plugin would write for a transaction record, for
 * START_REPLICATION on a replication connection (walsender.h).
 *
 *   test_decoding: PostgreSQL's text lines, "BEGIN 1234",
 *     "table public.t: INSERT: id[integer]:1 v[text]:'a'", "COMMIT 1234";
 *     options include-xids (on), include-timestamp, skip-empty-xacts,
 *     and the ones that change nothing here (only-local, include-rewrites,
 *     force-binary and stream-changes off);
 *   wal2json: its format-version 2, one JSON object per message, actions
 *     B, I, U, D, C; options format-version (2 is required: version 1 is
 *     not spoken), include-xids, include-timestamp, include-lsn,
 *     include-schemas, include-types, include-typmod, include-type-oids,
 *     include-transaction, add-tables, filter-tables;
 *   sluice: sluice's own JSON events (cdc.h); options format and tables.
 *
 * As in PostgreSQL, DDL is not decoded (the plugins see rows only), an
 * UPDATE's old key is shown only when the key changed, a DELETE shows the
 * key, and a column an UPDATE did not change is not in the record: as
 * PostgreSQL does for a TOASTed value left unchanged, test_decoding prints
 * it as unchanged-toast-datum and wal2json leaves it out. Every table is in
 * schema public. The xid is the transaction record's LSN as a number, as
 * in sluice's own events. Records that hold nothing for a consumer
 * (slots.h: quiet) give no message at all.
 */
#ifndef SL_DECODING_H
#define SL_DECODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdc.h"
#include "record.h"

enum decoding_plugin {
	DECODING_SLUICE,
	DECODING_TEST_DECODING,
	DECODING_WAL2JSON,
};

#define DECODING_MAX_TABLES 64

struct decoding_options {
	enum decoding_plugin plugin;
	bool include_xids, include_timestamp, skip_empty_xacts; /* test_decoding; wal2json has the first two */
	bool include_lsn, include_schemas, include_types, include_typmod, include_type_oids,
		include_transaction; /* wal2json */
	/* wal2json's add-tables / filter-tables, as "schema.table" or "table" */
	int nadd, nfilter;
	char add[DECODING_MAX_TABLES][CDC_NAME_MAX], filter[DECODING_MAX_TABLES][CDC_NAME_MAX];
	struct cdc_options cdc; /* sluice */
};

/* "sluice", "test_decoding" or "wal2json"; 0 or SL_EINVAL. */
int decoding_plugin_parse(const char *name, enum decoding_plugin *out);
const char *decoding_plugin_name(enum decoding_plugin plugin);

/*
 * The plugin's defaults, then START_REPLICATION's options (lines of
 * "name" or "name=value") into o. 0, or SL_EINVAL with err saying which
 * option is unknown or has a value it cannot take.
 */
int decoding_options_parse(enum decoding_plugin plugin, const char *options, struct decoding_options *o, char *err,
			   size_t errlen);

/* The PostgreSQL type declared for a column of table: its OID (0: none)
 * and its type modifier as written, "(10)" or "" (for wal2json's
 * include-typmod). */
struct decoding_type {
	uint32_t oid;
	const char *name; /* PostgreSQL's name of the declared type (NULL: the OID's) */
	uint32_t name_oid; /* and its OID there */
	char typmod[32];
};
typedef void (*decoding_type_fn)(void *arg, const char *table, const char *column, struct decoding_type *out);
/* One message: its LSN (the transaction's record; a commit's is next_lsn)
 * and its bytes. */
typedef void (*decoding_emit_fn)(void *arg, uint64_t lsn, const void *data, size_t len);

struct decoding_output {
	decoding_type_fn type_of;
	decoding_emit_fn emit;
	void *arg;
};

/*
 * The messages of the record at rec, which ends at next_lsn. 0;
 * SL_EINVAL when the record holds no logical section; SL_ECORRUPT;
 * SL_ENOMEM.
 */
int decoding_record(const struct record *rec, uint64_t next_lsn, const struct decoding_options *o,
		    const struct decoding_output *out);

#endif
