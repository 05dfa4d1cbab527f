/*
 * test_slots.c — unit tests for server/leader/slots.c: slot names, the
 * guard on the slot table, which records are quiet (built from a real
 * sqlite3session), skipping quiet records in a real log, lost slots, and
 * retention following the table as slots come and go.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "record.h"
#include "replog.h"
#include "slots.h"
#include "txnrec.h"

static void test_names(void **state)
{
	(void)state;
	assert_true(slots_name_valid("s1"));
	assert_true(slots_name_valid("a_b_9"));
	char longest[SLOTS_NAME_MAX + 2];
	memset(longest, 'x', SLOTS_NAME_MAX);
	longest[SLOTS_NAME_MAX] = '\0';
	assert_true(slots_name_valid(longest));
	longest[SLOTS_NAME_MAX] = 'x';
	longest[SLOTS_NAME_MAX + 1] = '\0';
	assert_false(slots_name_valid(longest));
	assert_false(slots_name_valid(""));
	assert_false(slots_name_valid(NULL));
	assert_false(slots_name_valid("S1"));
	assert_false(slots_name_valid("a-b"));
	assert_false(slots_name_valid("a b"));
	assert_false(slots_name_valid("slot\xc3\xa9"));
}

static void test_guard(void **state)
{
	(void)state;
	assert_true(slots_guarded(SQLITE_INSERT, SLOTS_TABLE, NULL));
	assert_true(slots_guarded(SQLITE_UPDATE, "SLUICE_SLOT_STATE", "confirmed_lsn"));
	assert_true(slots_guarded(SQLITE_DELETE, SLOTS_TABLE, NULL));
	assert_true(slots_guarded(SQLITE_DROP_TABLE, SLOTS_TABLE, NULL));
	assert_true(slots_guarded(SQLITE_CREATE_TABLE, SLOTS_TABLE, NULL));
	assert_true(slots_guarded(SQLITE_ALTER_TABLE, "main", SLOTS_TABLE));
	assert_true(slots_guarded(SQLITE_CREATE_INDEX, "i", SLOTS_TABLE));
	assert_true(slots_guarded(SQLITE_CREATE_TRIGGER, "tr", SLOTS_TABLE));
	assert_false(slots_guarded(SQLITE_READ, SLOTS_TABLE, "name"));
	assert_false(slots_guarded(SQLITE_INSERT, "t", NULL));
	assert_false(slots_guarded(SQLITE_ALTER_TABLE, "main", "t"));
	assert_true(slots_is_own_ddl(SLOTS_CREATE_SQL, strlen(SLOTS_CREATE_SQL)));
	assert_false(slots_is_own_ddl(SLOTS_CREATE_SQL, strlen(SLOTS_CREATE_SQL) - 1));
	assert_false(slots_is_own_ddl("CREATE TABLE t(k INTEGER PRIMARY KEY)", 37));
}

/* The TXN payload of what sql did on a database with table t and the slot
 * table, with a DDL item first when ddl is given. */
static void build_payload(const char *sql, const char *ddl, struct buf *out)
{
	sqlite3 *db;
	sqlite3_session *session;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);" SLOTS_CREATE_SQL ";", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3session_create(db, "main", &session), SQLITE_OK);
	assert_int_equal(sqlite3session_attach(session, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	int n = 0;
	void *cs = NULL;
	assert_int_equal(sqlite3session_changeset(session, &n, &cs), SQLITE_OK);
	txnrec_put_header(out, TXNREC_LOGICAL, NULL);
	txnrec_put_logical(out, ddl ? 2 : 1);
	if (ddl)
		txnrec_put_item(out, TXNREC_DDL, ddl, (uint32_t)strlen(ddl));
	txnrec_put_item(out, TXNREC_CHANGESET, cs, (uint32_t)n);
	assert_false(out->oom);
	sqlite3_free(cs);
	sqlite3session_delete(session);
	sqlite3_close(db);
}

static bool quiet(const char *sql, const char *ddl)
{
	struct buf payload, enc;
	buf_init(&payload);
	buf_init(&enc);
	build_payload(sql, ddl, &payload);
	assert_int_equal(record_encode(&enc, 0, 1, 1, RECORD_TXN, payload.data, payload.len, false), 0);
	struct record rec;
	size_t used;
	assert_int_equal(record_decode(enc.data, enc.len, 0, &rec, &used), 0);
	bool q = slots_record_quiet(&rec);
	buf_free(&payload);
	buf_free(&enc);
	return q;
}

#define SLOT_INSERT "INSERT INTO sluice_slot_state VALUES ('s', 'sluice', 1, 2, 3)"

static void test_quiet_records(void **state)
{
	(void)state;
	assert_true(quiet(SLOT_INSERT, NULL));
	assert_true(quiet(SLOT_INSERT, SLOTS_CREATE_SQL));
	assert_true(quiet("SELECT 1", NULL)); /* an empty transaction */
	assert_false(quiet("INSERT INTO t VALUES (1, 'a')", NULL));
	assert_false(quiet(SLOT_INSERT "; INSERT INTO t VALUES (1, 'a')", NULL)); /* a batch of both */
	assert_false(quiet(SLOT_INSERT, "CREATE TABLE x(k INTEGER PRIMARY KEY)"));
	/* an EPOCH record holds nothing for consumers */
	struct buf enc;
	buf_init(&enc);
	assert_int_equal(record_encode(&enc, 0, 1, 1, RECORD_EPOCH, "n1", 2, false), 0);
	struct record rec;
	size_t used;
	assert_int_equal(record_decode(enc.data, enc.len, 0, &rec, &used), 0);
	assert_true(slots_record_quiet(&rec));
	buf_free(&enc);
}

struct logdir {
	char path[64];
	struct replog *log;
};

static void log_open(struct logdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/test_slots.XXXXXX");
	assert_non_null(mkdtemp(d->path));
	struct replog_options opt = { .segment_size = 1 << 20 };
	char err[256];
	assert_int_equal(replog_open(&d->log, d->path, 0, &opt, err, sizeof(err)), 0);
}

static void log_close(struct logdir *d)
{
	replog_close(d->log);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
	assert_int_equal(system(cmd), 0);
}

static uint64_t append(struct logdir *d, const char *sql, uint64_t commit_ts)
{
	struct buf payload;
	buf_init(&payload);
	build_payload(sql, NULL, &payload);
	uint64_t lsn;
	assert_int_equal(replog_append(d->log, 1, commit_ts, RECORD_TXN, payload.data, payload.len, &lsn), 0);
	assert_int_equal(replog_sync(d->log), 0);
	buf_free(&payload);
	return lsn;
}

static void test_skip_quiet(void **state)
{
	(void)state;
	struct logdir d;
	log_open(&d);
	uint64_t a = append(&d, SLOT_INSERT, 10);
	uint64_t b = append(&d, "UPDATE sluice_slot_state SET confirmed_lsn = 9", 11);
	uint64_t c = append(&d, "INSERT INTO t VALUES (1, 'a')", 12);
	uint64_t e = replog_end_lsn(d.log);
	uint64_t ts;
	/* from a, over two quiet records to the row change at c */
	assert_int_equal(slots_skip_quiet(d.log, a, e, &ts), c);
	assert_int_equal(ts, 12);
	assert_int_equal(slots_skip_quiet(d.log, b, e, &ts), c);
	assert_int_equal(slots_skip_quiet(d.log, c, e, &ts), c);
	/* limit before the row change: all quiet up to there */
	assert_int_equal(slots_skip_quiet(d.log, a, c, &ts), c);
	assert_int_equal(ts, 0);
	uint64_t f = append(&d, SLOT_INSERT, 13);
	e = replog_end_lsn(d.log);
	assert_int_equal(slots_skip_quiet(d.log, f, e, &ts), e);
	assert_int_equal(ts, 0);
	/* not a record boundary: stays */
	assert_int_equal(slots_skip_quiet(d.log, a + 1, e, &ts), a + 1);
	/* lost: further behind than max_lag, or older than the log */
	assert_false(slots_lost(d.log, a, e, 0));
	assert_false(slots_lost(d.log, a, e, e - a));
	assert_true(slots_lost(d.log, a, e, e - a - 1));
	log_close(&d);
}

/* The log's retention from the slot table, with no max_slot_lag. */
static void retain(sqlite3 *db, struct replog *log) { assert_int_equal(slots_retain_all(db, log, 0), SQLITE_OK); }

static void test_retain_all(void **state)
{
	(void)state;
	struct logdir d;
	log_open(&d);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)", NULL, NULL, NULL), SQLITE_OK);
	/* no table yet: no slot, no error */
	retain(db, d.log);
	assert_int_equal(sqlite3_exec(db, SLOTS_CREATE_SQL ";" SLOT_INSERT ";", NULL, NULL, NULL), SQLITE_OK);
	retain(db, d.log);
	/* the slot at LSN 1 holds back a trim of a log of several segments */
	for (int i = 0; i < 40; i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, hex(zeroblob(20000)))", i);
		append(&d, sql, 1);
	}
	replog_retain(d.log, "local", replog_end_lsn(d.log));
	assert_int_equal(replog_trim(d.log), 0);
	/* a lagging slot gives up */
	assert_int_equal(slots_retain_all(db, d.log, 1000), SQLITE_OK);
	assert_true(replog_trim(d.log) > 0);
	uint64_t start = replog_start_lsn(d.log);
	assert_true(start > 1);
	/* confirmed further: holds from there */
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE sluice_slot_state SET confirmed_lsn = %llu", (unsigned long long)start);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	retain(db, d.log);
	for (int i = 40; i < 80; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, hex(zeroblob(20000)))", i);
		append(&d, sql, 1);
	}
	replog_retain(d.log, "local", replog_end_lsn(d.log));
	assert_int_equal(replog_trim(d.log), 0); /* the slot at start holds it */
	/* dropped: forgotten */
	assert_int_equal(sqlite3_exec(db, "DELETE FROM sluice_slot_state", NULL, NULL, NULL), SQLITE_OK);
	retain(db, d.log);
	assert_true(replog_trim(d.log) > 0);
	sqlite3_close(db);
	log_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),	     cmocka_unit_test(test_guard),
		cmocka_unit_test(test_quiet_records), cmocka_unit_test(test_skip_quiet),
		cmocka_unit_test(test_retain_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
