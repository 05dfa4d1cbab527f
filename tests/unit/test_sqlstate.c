/*
 * test_sqlstate.c — unit tests for server/sqlstate.c.
 *
 * Wherever SQLite can be made to fail for real, the error is produced by
 * running statements on a real database (in memory, or a temporary file for
 * locking) and its extended code and message are fed to
 * sqlstate_from_sqlite(), so the tests also catch SQLite changing its
 * wording. Codes that cannot be provoked portably (I/O errors) are passed
 * directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlstate.h"

/* Fixture: a fresh in-memory database, closed even when a check fails. */
static int db_setup(void **state)
{
	sqlite3 *db = NULL;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_extended_result_codes(db, 1);
	*state = db;
	return 0;
}

static int db_teardown(void **state)
{
	sqlite3_close(*state);
	return 0;
}

static void ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	sqlite3_free(err);
}

/*
 * Runs sql, which must fail with extended code want_rc (or any code with
 * the primary code of want_rc if want_rc is primary), and checks the
 * SQLSTATE derived from what SQLite reported.
 */
static void expect_state(sqlite3 *db, const char *sql, int want_rc, const char *want_state)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	int xrc = sqlite3_extended_errcode(db);
	char msg[512];
	bool has_msg = err != NULL;
	snprintf(msg, sizeof(msg), "%s", err ? err : "");
	sqlite3_free(err);
	if (rc == SQLITE_OK)
		fail_msg("%.60s: succeeded", sql);
	if (want_rc > 0xff ? xrc != want_rc : (xrc & 0xff) != want_rc)
		fail_msg("%.60s: code %d (%s), want %d", sql, xrc, msg, want_rc);
	const char *got = sqlstate_from_sqlite(xrc, has_msg ? msg : NULL);
	if (strcmp(got, want_state) != 0)
		fail_msg("%.60s: \"%s\" (code %d) gave %s, want %s", sql, msg, xrc, got, want_state);
}

/* ---------------------------------------------------------------- constraints */

static void test_constraints(void **state)
{
	sqlite3 *db = *state;
	ok(db, "PRAGMA foreign_keys = ON;"
	       "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE, n INT NOT NULL CHECK (n > 0));"
	       "CREATE TABLE child (pid INT REFERENCES parent(id));"
	       "CREATE TABLE keyed (a INT, b INT, PRIMARY KEY (a, b)) WITHOUT ROWID;"
	       "CREATE TABLE strict_t (i INTEGER) STRICT;"
	       "INSERT INTO parent VALUES (1, 'x', 1);"
	       "INSERT INTO keyed VALUES (1, 1);");
	expect_state(db, "INSERT INTO parent VALUES (2, 'x', 1)", SQLITE_CONSTRAINT_UNIQUE, SQLSTATE_UNIQUE);
	expect_state(db, "INSERT INTO parent VALUES (1, 'y', 1)", SQLITE_CONSTRAINT_PRIMARYKEY, SQLSTATE_UNIQUE);
	expect_state(db, "INSERT INTO keyed VALUES (1, 1)", SQLITE_CONSTRAINT_PRIMARYKEY, SQLSTATE_UNIQUE);
	expect_state(db, "INSERT INTO parent VALUES (3, 'z', NULL)", SQLITE_CONSTRAINT_NOTNULL, SQLSTATE_NOT_NULL);
	expect_state(db, "INSERT INTO parent VALUES (4, 'w', 0)", SQLITE_CONSTRAINT_CHECK, SQLSTATE_CHECK);
	expect_state(db, "INSERT INTO child VALUES (99)", SQLITE_CONSTRAINT_FOREIGNKEY, SQLSTATE_FOREIGN_KEY);
	ok(db, "INSERT INTO child VALUES (1)");
	expect_state(db, "DELETE FROM parent", SQLITE_CONSTRAINT_FOREIGNKEY, SQLSTATE_FOREIGN_KEY);
	expect_state(db, "INSERT INTO strict_t VALUES ('abc')", SQLITE_CONSTRAINT_DATATYPE,
		     SQLSTATE_DATATYPE_MISMATCH);
	/* A trigger's RAISE(ABORT): a constraint with no more specific class. */
	ok(db, "CREATE TRIGGER no_b BEFORE INSERT ON keyed WHEN NEW.b = 2 BEGIN SELECT RAISE(ABORT, 'no'); END");
	expect_state(db, "INSERT INTO keyed VALUES (5, 2)", SQLITE_CONSTRAINT_TRIGGER, SQLSTATE_INTEGRITY);

	/* The codes themselves, message or not. */
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_UNIQUE, NULL), "23505");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_PRIMARYKEY, NULL), "23505");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_ROWID, NULL), "23505");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_NOTNULL, "no such table: t"), "23502");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_FOREIGNKEY, NULL), "23503");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT_CHECK, NULL), "23514");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CONSTRAINT, NULL), "23000");
}

/* ---------------------------------------------------------------- run-time failures */

static void test_readonly(void **state)
{
	sqlite3 *db = *state;
	ok(db, "CREATE TABLE t (x); PRAGMA query_only = 1");
	expect_state(db, "INSERT INTO t VALUES (1)", SQLITE_READONLY, SQLSTATE_READ_ONLY_TRANSACTION);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_READONLY, NULL), "25006");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_READONLY_DBMOVED, NULL), "25006");
}

static void test_busy_locked(void **state)
{
	(void)state;
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/sluice-test-sqlstate-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	sqlite3 *a = NULL, *b = NULL;
	assert_int_equal(sqlite3_open(path, &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(path, &b), SQLITE_OK);
	sqlite3_extended_result_codes(a, 1);
	sqlite3_extended_result_codes(b, 1);
	sqlite3_busy_timeout(b, 0);
	ok(a, "CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
	expect_state(b, "BEGIN IMMEDIATE", SQLITE_BUSY, SQLSTATE_SERIALIZATION_FAILURE);
	ok(a, "COMMIT");
	sqlite3_close(a);
	sqlite3_close(b);
	unlink(path);

	/* Shared-cache table lock: SQLITE_LOCKED_SHAREDCACHE. */
	const char *uri = "file:sluice_sqlstate_locked?mode=memory&cache=shared";
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
	assert_int_equal(sqlite3_open_v2(uri, &a, flags, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_open_v2(uri, &b, flags, NULL), SQLITE_OK);
	sqlite3_extended_result_codes(b, 1);
	ok(a, "CREATE TABLE t (x); BEGIN; INSERT INTO t VALUES (1)");
	expect_state(b, "SELECT * FROM t", SQLITE_LOCKED, SQLSTATE_SERIALIZATION_FAILURE);
	ok(a, "COMMIT");
	sqlite3_close(b);
	sqlite3_close(a);

	assert_string_equal(sqlstate_from_sqlite(SQLITE_BUSY, NULL), "40001");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_BUSY_SNAPSHOT, NULL), "40001");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_BUSY_RECOVERY, NULL), "40001");
}

static int stop_now(void *arg)
{
	(void)arg;
	return 1;
}

static void test_interrupt(void **state)
{
	sqlite3 *db = *state;
	sqlite3_progress_handler(db, 1, stop_now, NULL);
	expect_state(db, "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c",
		     SQLITE_INTERRUPT, SQLSTATE_QUERY_CANCELED);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_INTERRUPT, NULL), "57014");
}

static void test_full(void **state)
{
	sqlite3 *db = *state;
	ok(db, "CREATE TABLE t (x); PRAGMA max_page_count = 3");
	expect_state(db, "INSERT INTO t SELECT zeroblob(100000)", SQLITE_FULL, SQLSTATE_DISK_FULL);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_FULL, NULL), "53100");
}

static void test_ioerr(void **state)
{
	(void)state;
	static const int codes[] = { SQLITE_IOERR,         SQLITE_IOERR_READ,       SQLITE_IOERR_SHORT_READ,
				     SQLITE_IOERR_WRITE,   SQLITE_IOERR_FSYNC,      SQLITE_IOERR_TRUNCATE,
				     SQLITE_IOERR_FSTAT,   SQLITE_IOERR_DELETE,     SQLITE_IOERR_LOCK,
				     SQLITE_IOERR_SHMMAP,  SQLITE_IOERR_CORRUPTFS,  SQLITE_CANTOPEN,
				     SQLITE_CANTOPEN_ISDIR };
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(sqlstate_from_sqlite(codes[i], "disk I/O error"), SQLSTATE_IO_ERROR) != 0)
			fail_msg("code %d", codes[i]);
	/* Out of memory reported as an I/O error is still out of memory. */
	assert_string_equal(sqlstate_from_sqlite(SQLITE_IOERR_NOMEM, NULL), "53200");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_NOMEM, NULL), "53200");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_CORRUPT, NULL), "XX001");
	assert_string_equal(sqlstate_from_sqlite(SQLITE_NOTADB, NULL), "XX001");
}

/* ---------------------------------------------------------------- SQLITE_ERROR by message */

static void test_error_messages(void **state)
{
	sqlite3 *db = *state;
	ok(db, "CREATE TABLE t (a INT)");
	expect_state(db, "SELECT * FROM nope", SQLITE_ERROR, SQLSTATE_UNDEFINED_TABLE);
	expect_state(db, "INSERT INTO nope VALUES (1)", SQLITE_ERROR, SQLSTATE_UNDEFINED_TABLE);
	expect_state(db, "DROP TABLE nope", SQLITE_ERROR, SQLSTATE_UNDEFINED_TABLE);
	expect_state(db, "DROP VIEW nope", SQLITE_ERROR, SQLSTATE_UNDEFINED_TABLE);
	expect_state(db, "SELECT b FROM t", SQLITE_ERROR, SQLSTATE_UNDEFINED_COLUMN);
	expect_state(db, "SELECT t.b FROM t", SQLITE_ERROR, SQLSTATE_UNDEFINED_COLUMN);
	expect_state(db, "INSERT INTO t (b) VALUES (1)", SQLITE_ERROR, SQLSTATE_UNDEFINED_COLUMN);
	expect_state(db, "UPDATE t SET b = 1", SQLITE_ERROR, SQLSTATE_UNDEFINED_COLUMN);
	expect_state(db, "SELEC 1", SQLITE_ERROR, SQLSTATE_SYNTAX_ERROR);
	expect_state(db, "SELECT FROM t WHERE", SQLITE_ERROR, SQLSTATE_SYNTAX_ERROR);
	expect_state(db, "SELECT (1", SQLITE_ERROR, SQLSTATE_SYNTAX_ERROR);
	expect_state(db, "SELECT 'abc", SQLITE_ERROR, SQLSTATE_SYNTAX_ERROR);
	expect_state(db, "CREATE TABLE t (x)", SQLITE_ERROR, SQLSTATE_DUPLICATE_TABLE);
	ok(db, "CREATE INDEX t_a ON t (a)");
	expect_state(db, "CREATE INDEX t_a ON t (a)", SQLITE_ERROR, SQLSTATE_DUPLICATE_TABLE);
	expect_state(db, "SELECT no_such_fn(1)", SQLITE_ERROR, SQLSTATE_UNDEFINED_FUNCTION);
	expect_state(db, "SELECT abs(1, 2)", SQLITE_ERROR, SQLSTATE_UNDEFINED_FUNCTION);
	expect_state(db, "DROP INDEX nope", SQLITE_ERROR, SQLSTATE_UNDEFINED_OBJECT);
	expect_state(db, "RELEASE nope", SQLITE_ERROR, SQLSTATE_SAVEPOINT_EXCEPTION);
	expect_state(db, "COMMIT", SQLITE_ERROR, SQLSTATE_NO_ACTIVE_SQL_TRANSACTION);
	expect_state(db, "ROLLBACK", SQLITE_ERROR, SQLSTATE_NO_ACTIVE_SQL_TRANSACTION);
	ok(db, "BEGIN");
	expect_state(db, "BEGIN", SQLITE_ERROR, SQLSTATE_ACTIVE_SQL_TRANSACTION);
	ok(db, "ROLLBACK");

	/* More columns than SQLITE_MAX_COLUMN (2000). */
	char sql[32 + 2001 * 8];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE wide (c0");
	for (int i = 1; i <= 2000; i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", c%d", i);
	snprintf(sql + n, sizeof(sql) - n, ")");
	expect_state(db, sql, SQLITE_ERROR, SQLSTATE_PROGRAM_LIMIT);
}

static void test_unknown(void **state)
{
	(void)state;
	/* Codes with no entry, and SQLITE_ERROR with no message or an unknown one. */
	assert_string_equal(sqlstate_from_sqlite(0xfe, NULL), SQLSTATE_INTERNAL);
	assert_string_equal(sqlstate_from_sqlite(0xfe, "no such table: t"), SQLSTATE_INTERNAL);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_INTERNAL, NULL), SQLSTATE_INTERNAL);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_ERROR, NULL), SQLSTATE_INTERNAL);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_ERROR, ""), SQLSTATE_INTERNAL);
	assert_string_equal(sqlstate_from_sqlite(SQLITE_ERROR, "something new went wrong"), SQLSTATE_INTERNAL);
	/* An extended SQLITE_ERROR code is still refined by its message. */
	assert_string_equal(sqlstate_from_sqlite(SQLITE_ERROR_MISSING_COLLSEQ, "no such table: t"),
			    SQLSTATE_UNDEFINED_TABLE);
	/* The message only refines SQLITE_ERROR. */
	assert_string_equal(sqlstate_from_sqlite(SQLITE_MISUSE, "syntax error"), SQLSTATE_INTERNAL);
	/* Every SQLSTATE is five characters. */
	static const int any[] = { 0, SQLITE_ERROR, SQLITE_BUSY, SQLITE_CONSTRAINT_UNIQUE, -1, 0x7fffffff };
	for (size_t i = 0; i < sizeof(any) / sizeof(any[0]); i++)
		assert_int_equal(strlen(sqlstate_from_sqlite(any[i], "x")), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_constraints, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_readonly, db_setup, db_teardown),
		cmocka_unit_test(test_busy_locked),
		cmocka_unit_test_setup_teardown(test_interrupt, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(test_full, db_setup, db_teardown),
		cmocka_unit_test(test_ioerr),
		cmocka_unit_test_setup_teardown(test_error_messages, db_setup, db_teardown),
		cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
