/*
 * test_cdc.c — unit tests for server/leader/cdc.c: the change events of a
 * TXN record built from a real sqlite3session, line for line in both
 * formats (every kind of value, update and delete, DDL, Debezium's
 * transaction lines), a snapshot's lines, the table filter, and records
 * that give no events or are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "autoconfig.h"
#include "buf.h"
#include "cdc.h"
#include "record.h"
#include "sl_error.h"
#include "txnrec.h"

#define LSN 0x1234u /* 0/1234 */
#define COMMIT_TS 1796511536372123ull /* 2026-12-05T22:58:56.372123Z */

static const struct txnrec_walpos WALPOS = { 1, 2, 3, 4 };

static const char *const T_COLS[] = { "k", "r", "s", "b", "n" };
static const bool T_PK[] = { true, false, false, false, false };
static const char *const U_COLS[] = { "a", "c" };
static const bool U_PK[] = { true, true };

/* A database with tables t and u, and a session recording both. */
static sqlite3 *open_db(sqlite3_session **session)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE t(k INTEGER PRIMARY KEY, r REAL, s TEXT, b BLOB, n);"
				      "CREATE TABLE u(a INTEGER, c TEXT, PRIMARY KEY (a, c)) WITHOUT ROWID;"
				      "INSERT INTO t VALUES (7, 1.0, 'seven', NULL, NULL);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3session_create(db, "main", session), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(*session, NULL), SQLITE_OK);
	return db;
}

/* The TXN payload of what sql did: a DDL item when ddl is given, both
 * tables described, and the session's changeset. */
static void build_payload(const char *sql, const char *ddl, struct buf *out)
{
	sqlite3_session *session;
	sqlite3 *db = open_db(&session);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	int n = 0;
	void *cs = NULL;
	assert_int_equal(sqlite3session_changeset(session, &n, &cs), SQLITE_OK);
	struct buf t, u;
	buf_init(&t);
	buf_init(&u);
	txnrec_put_table(&t, "t", 5, T_COLS, T_PK);
	txnrec_put_table(&u, "u", 2, U_COLS, U_PK);
	txnrec_put_header(out, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(out, ddl ? 4 : 3);
	if (ddl)
		txnrec_put_item(out, TXNREC_DDL, ddl, (uint32_t)strlen(ddl));
	txnrec_put_item(out, TXNREC_TABLE, t.data, (uint32_t)t.len);
	txnrec_put_item(out, TXNREC_TABLE, u.data, (uint32_t)u.len);
	txnrec_put_item(out, TXNREC_CHANGESET, cs, (uint32_t)n);
	assert_false(out->oom);
	buf_free(&t);
	buf_free(&u);
	sqlite3_free(cs);
	sqlite3session_delete(session);
	sqlite3_close(db);
}

static struct record txn_record(const struct buf *payload)
{
	return (struct record){ .lsn = LSN,
				.epoch = 1,
				.commit_ts = COMMIT_TS,
				.type = RECORD_TXN,
				.raw_len = (uint32_t)payload->len,
				.payload = payload->data,
				.payload_len = (uint32_t)payload->len };
}

/* The events of sql's transaction as one NUL-terminated string. */
static char *events_of(const char *sql, const char *ddl, const struct cdc_options *o, uint32_t *nevents)
{
	struct buf payload, out;
	buf_init(&payload);
	buf_init(&out);
	build_payload(sql, ddl, &payload);
	struct record rec = txn_record(&payload);
	assert_int_equal(cdc_record_events(&rec, 0x1300, o, &out, nevents), 0);
	buf_put_u8(&out, '\0');
	assert_false(out.oom);
	char *s = strdup((const char *)out.data);
	buf_free(&out);
	buf_free(&payload);
	return s;
}

#define HEAD "\"xid\":4660,\"lsn\":\"0/1234\",\"commit_time\":\"2026-12-05T22:58:56.372123Z\""

static void test_values(void **state)
{
	(void)state;
	struct cdc_options o = { .format = CDC_FORMAT_JSON };
	uint32_t n;
	char *s = events_of("INSERT INTO t VALUES (1, 0.1, 'a \"q\" \\ ' || char(10) || char(1) || 'é', x'00ff10', "
			    "4611686018427387904);"
			    "INSERT INTO t VALUES (2, 1e300, CAST(x'ff41' AS TEXT), x'', -9223372036854775808);"
			    "INSERT INTO t VALUES (3, 2.0, '', NULL, 9e999);"
			    "INSERT INTO t VALUES (4, -0.5, NULL, NULL, -9e999)",
			    "CREATE TABLE t(...)", &o, &n);
	const char *want =
		"{\"event\":\"begin\"," HEAD "}\n"
		"{\"event\":\"ddl\"," HEAD ",\"sql\":\"CREATE TABLE t(...)\"}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"t\",\"op\":\"insert\",\"key\":{\"k\":1},\"before\":null,"
		"\"after\":{\"k\":1,\"r\":0.1,\"s\":\"a \\\"q\\\" \\\\ \\n\\u0001é\",\"b\":\"AP8Q\",\"n\":4611686018427387904}}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"t\",\"op\":\"insert\",\"key\":{\"k\":2},\"before\":null,"
		"\"after\":{\"k\":2,\"r\":1e+300,\"s\":\"\\ufffdA\",\"b\":\"\",\"n\":-9223372036854775808}}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"t\",\"op\":\"insert\",\"key\":{\"k\":3},\"before\":null,"
		"\"after\":{\"k\":3,\"r\":2.0,\"s\":\"\",\"b\":null,\"n\":\"Infinity\"}}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"t\",\"op\":\"insert\",\"key\":{\"k\":4},\"before\":null,"
		"\"after\":{\"k\":4,\"r\":-0.5,\"s\":null,\"b\":null,\"n\":\"-Infinity\"}}\n"
		"{\"event\":\"commit\"," HEAD ",\"rows\":4,\"next_lsn\":\"0/1300\"}\n";
	assert_string_equal(s, want);
	assert_int_equal(n, 7);
	free(s);
}

static void test_update_delete(void **state)
{
	(void)state;
	struct cdc_options o = { .format = CDC_FORMAT_JSON };
	uint32_t n;
	char *s = events_of("UPDATE t SET s = 'siete' WHERE k = 7; INSERT INTO u VALUES (1, 'x');"
			    "DELETE FROM t WHERE k = 7",
			    NULL, &o, &n);
	/* updated then deleted: one delete with the row as it was before */
	const char *want =
		"{\"event\":\"begin\"," HEAD "}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"t\",\"op\":\"delete\",\"key\":{\"k\":7},"
		"\"before\":{\"k\":7,\"r\":1.0,\"s\":\"seven\",\"b\":null,\"n\":null},\"after\":null}\n"
		"{\"event\":\"change\"," HEAD ",\"table\":\"u\",\"op\":\"insert\",\"key\":{\"a\":1,\"c\":\"x\"},"
		"\"before\":null,\"after\":{\"a\":1,\"c\":\"x\"}}\n"
		"{\"event\":\"commit\"," HEAD ",\"rows\":2,\"next_lsn\":\"0/1300\"}\n";
	assert_string_equal(s, want);
	free(s);
	s = events_of("UPDATE t SET s = 'siete', n = 1 WHERE k = 7", NULL, &o, &n);
	assert_non_null(strstr(s, "\"op\":\"update\",\"key\":{\"k\":7},\"before\":{\"k\":7,\"s\":\"seven\",\"n\":null},"
				  "\"after\":{\"k\":7,\"s\":\"siete\",\"n\":1}}\n"));
	free(s);
}

static void test_debezium(void **state)
{
	(void)state;
	struct cdc_options o = { .format = CDC_FORMAT_DEBEZIUM, .now_ms = 42 };
	uint32_t n;
	char *s = events_of("INSERT INTO u VALUES (1, 'x'); UPDATE t SET r = 3.5 WHERE k = 7;"
			    "INSERT INTO u VALUES (2, 'y')",
			    "CREATE INDEX i ON u(c)", &o, &n);
#define SOURCE(table)                                                                                        \
	"\"source\":{\"version\":\"" PACKAGE_VERSION "\",\"connector\":\"sluice\",\"name\":\"sluice\","    \
	"\"ts_ms\":1796511536372,\"snapshot\":\"false\",\"db\":\"main\",\"table\":" table                   \
	",\"lsn\":\"0/1234\",\"txId\":4660}"
	const char *want =
		"{\"status\":\"BEGIN\",\"id\":\"4660\",\"ts_ms\":1796511536372,\"event_count\":null,"
		"\"data_collections\":null}\n"
		"{" SOURCE("null") ",\"ts_ms\":42,\"databaseName\":\"main\",\"ddl\":\"CREATE INDEX i ON u(c)\","
		"\"tableChanges\":[]}\n"
		"{\"before\":null,\"after\":{\"a\":1,\"c\":\"x\"}," SOURCE("\"u\"")
		",\"op\":\"c\",\"ts_ms\":42,\"transaction\":{\"id\":\"4660\",\"total_order\":2,"
		"\"data_collection_order\":1}}\n"
		"{\"before\":null,\"after\":{\"a\":2,\"c\":\"y\"}," SOURCE("\"u\"")
		",\"op\":\"c\",\"ts_ms\":42,\"transaction\":{\"id\":\"4660\",\"total_order\":3,"
		"\"data_collection_order\":2}}\n"
		"{\"before\":{\"k\":7,\"r\":1.0},\"after\":{\"k\":7,\"r\":3.5}," SOURCE("\"t\"")
		",\"op\":\"u\",\"ts_ms\":42,\"transaction\":{\"id\":\"4660\",\"total_order\":4,"
		"\"data_collection_order\":1}}\n"
		"{\"status\":\"END\",\"id\":\"4660\",\"ts_ms\":1796511536372,\"event_count\":3,\"data_collections\":["
		"{\"data_collection\":\"main.u\",\"event_count\":2},{\"data_collection\":\"main.t\",\"event_count\":1}],"
		"\"next_lsn\":\"0/1300\"}\n";
	assert_string_equal(s, want);
	free(s);
}

static void test_table_filter(void **state)
{
	(void)state;
	struct cdc_options o = { .format = CDC_FORMAT_JSON };
	char err[256];
	uint32_t n;
	assert_int_equal(cdc_tables_parse(" U , other ", &o, err, sizeof(err)), 0);
	assert_int_equal(o.ntables, 2);
	assert_string_equal(o.tables[0], "U");
	assert_string_equal(o.tables[1], "other");
	char *s = events_of("INSERT INTO u VALUES (1, 'x'); UPDATE t SET r = 3.5 WHERE k = 7", NULL, &o, &n);
	assert_null(strstr(s, "\"table\":\"t\""));
	assert_non_null(strstr(s, "\"table\":\"u\""));
	assert_non_null(strstr(s, "\"rows\":1,"));
	free(s);
	/* nothing of the tables asked for: no events, not even begin and commit */
	assert_int_equal(cdc_tables_parse("other", &o, err, sizeof(err)), 0);
	s = events_of("INSERT INTO u VALUES (1, 'x')", NULL, &o, &n);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);

	assert_int_equal(cdc_tables_parse("a,,b", &o, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "empty"));
	char many[CDC_MAX_TABLES * 3 + 8] = "";
	for (int i = 0; i <= CDC_MAX_TABLES; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%st%d", i ? "," : "", i % 10);
	assert_int_equal(cdc_tables_parse(many, &o, err, sizeof(err)), SL_EINVAL);
	char longname[CDC_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(cdc_tables_parse(longname, &o, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(cdc_tables_parse("", &o, err, sizeof(err)), 0);
	assert_int_equal(o.ntables, 0);
}

static void test_refused(void **state)
{
	(void)state;
	struct cdc_options o = { .format = CDC_FORMAT_JSON };
	struct buf payload, out;
	uint32_t n;
	buf_init(&payload);
	buf_init(&out);

	/* an EPOCH record: no events */
	struct record rec = { .lsn = LSN, .type = RECORD_EPOCH };
	assert_int_equal(cdc_record_events(&rec, 0x1300, &o, &out, &n), 0);
	assert_int_equal(n, 0);

	/* a physical-only record */
	txnrec_put_header(&payload, TXNREC_PHYSICAL, &WALPOS);
	txnrec_put_physical(&payload, 512, 1, 1);
	uint8_t page[512] = "SQLite format 3";
	page[16] = 2;
	txnrec_put_page(&payload, 1, page, sizeof(page));
	rec = txn_record(&payload);
	assert_int_equal(cdc_record_events(&rec, 0x1300, &o, &out, &n), SL_EINVAL);

	/* a changeset whose table was not described */
	buf_reset(&payload);
	txnrec_put_header(&payload, TXNREC_LOGICAL, &WALPOS);
	struct buf full;
	buf_init(&full);
	build_payload("INSERT INTO u VALUES (1, 'x')", NULL, &full);
	struct txnrec tr;
	assert_int_equal(txnrec_decode(full.data, full.len, &tr), 0);
	struct txnrec_iter it;
	uint8_t kind;
	const uint8_t *data;
	uint32_t len;
	txnrec_items(&tr, &it);
	txnrec_put_logical(&payload, 1);
	while (txnrec_next_item(&it, &kind, &data, &len) == 1)
		if (kind == TXNREC_CHANGESET)
			txnrec_put_item(&payload, kind, data, len);
	rec = txn_record(&payload);
	assert_int_equal(cdc_record_events(&rec, 0x1300, &o, &out, &n), SL_ECORRUPT);

	/* a changeset that is not one */
	buf_reset(&payload);
	txnrec_put_header(&payload, TXNREC_LOGICAL, &WALPOS);
	txnrec_put_logical(&payload, 1);
	txnrec_put_item(&payload, TXNREC_CHANGESET, "\x54\x01\x01t\x00\x17\xff", 7);
	rec = txn_record(&payload);
	assert_int_equal(cdc_record_events(&rec, 0x1300, &o, &out, &n), SL_ECORRUPT);
	assert_int_equal(out.len, 0);

	buf_free(&full);
	buf_free(&payload);
	buf_free(&out);
}

/* A snapshot's lines from a statement's rows. */
static void test_snapshot(void **state)
{
	(void)state;
	sqlite3_session *session;
	sqlite3 *db = open_db(&session);
	sqlite3session_delete(session);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT k, r, s, b, n FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	struct txnrec_table *t = malloc(sizeof(*t));
	assert_non_null(t);
	t->name = "t";
	t->ncols = 5;
	for (int i = 0; i < 5; i++) {
		t->cols[i] = T_COLS[i];
		t->pk[i] = T_PK[i];
	}
	struct buf out;
	buf_init(&out);
	struct cdc_options o = { .format = CDC_FORMAT_JSON, .now_ms = 42 };
	cdc_snapshot_begin(&o, LSN, &out);
	cdc_snapshot_ddl(&o, LSN, "CREATE TABLE t(k)", &out);
	cdc_snapshot_row(&o, LSN, t, st, &out);
	cdc_snapshot_end(&o, LSN, 1, &out);
	buf_put_u8(&out, '\0');
#define SNAP_HEAD "\"xid\":null,\"lsn\":\"0/1234\",\"commit_time\":null"
	assert_string_equal((const char *)out.data,
			    "{\"event\":\"snapshot_begin\",\"lsn\":\"0/1234\"}\n"
			    "{\"event\":\"ddl\"," SNAP_HEAD ",\"sql\":\"CREATE TABLE t(k)\"}\n"
			    "{\"event\":\"change\"," SNAP_HEAD ",\"table\":\"t\",\"op\":\"read\",\"key\":{\"k\":7},"
			    "\"before\":null,\"after\":{\"k\":7,\"r\":1.0,\"s\":\"seven\",\"b\":null,\"n\":null}}\n"
			    "{\"event\":\"snapshot_end\",\"lsn\":\"0/1234\",\"rows\":1,\"next_lsn\":\"0/1234\"}\n");
	buf_reset(&out);
	o.format = CDC_FORMAT_DEBEZIUM;
	cdc_snapshot_begin(&o, LSN, &out);
	cdc_snapshot_row(&o, LSN, t, st, &out);
	cdc_snapshot_end(&o, LSN, 1, &out);
	buf_put_u8(&out, '\0');
	assert_string_equal((const char *)out.data,
			    "{\"before\":null,\"after\":{\"k\":7,\"r\":1.0,\"s\":\"seven\",\"b\":null,\"n\":null},"
			    "\"source\":{\"version\":\"" PACKAGE_VERSION "\",\"connector\":\"sluice\",\"name\":\"sluice\","
			    "\"ts_ms\":42,\"snapshot\":\"true\",\"db\":\"main\",\"table\":\"t\",\"lsn\":\"0/1234\","
			    "\"txId\":null},\"op\":\"r\",\"ts_ms\":42,\"transaction\":null}\n");
	assert_false(out.oom);
	buf_free(&out);
	free(t);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_format_names(void **state)
{
	(void)state;
	enum cdc_format f;
	assert_int_equal(cdc_format_parse("json", &f), 0);
	assert_int_equal(f, CDC_FORMAT_JSON);
	assert_int_equal(cdc_format_parse("debezium", &f), 0);
	assert_int_equal(f, CDC_FORMAT_DEBEZIUM);
	assert_int_equal(cdc_format_parse("avro", &f), SL_EINVAL);
	assert_int_equal(cdc_format_parse("JSON", &f), SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),	     cmocka_unit_test(test_update_delete),
		cmocka_unit_test(test_debezium),     cmocka_unit_test(test_table_filter),
		cmocka_unit_test(test_refused),	     cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_format_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
