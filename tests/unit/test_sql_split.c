/*
 * test_sql_split.c — unit tests for server/sql_split.c: splitting (quotes,
 * comments, dollar quotes, empty statements, trigger bodies), blank text,
 * first words and the write guess, every kind sql_classify knows with its
 * fields and errors, a seeded random check that splitting never loses a
 * non-blank byte, and every prefix of every input read from an exact-size
 * heap copy so ASan catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_split.h"

/* ---------------------------------------------------------------- split */

struct split_case {
	const char *sql;
	const char *want[6]; /* the spans' text, NULL-terminated */
};

static const struct split_case split_cases[] = {
	{ "", { NULL } },
	{ "   \n\t ", { NULL } },
	{ ";", { NULL } },
	{ ";;  ; \n;", { NULL } },
	{ "-- only a comment", { NULL } },
	{ "/* only */ /* comments /* nested */ */ -- x\n", { NULL } },
	{ "/* unterminated", { NULL } },
	{ "SELECT 1", { "SELECT 1", NULL } },
	{ "  SELECT 1  ;  ", { "SELECT 1", NULL } },
	{ "SELECT 1;SELECT 2", { "SELECT 1", "SELECT 2", NULL } },
	{ "SELECT 1;; ;SELECT 2;", { "SELECT 1", "SELECT 2", NULL } },
	{ "SELECT 'a;b'; SELECT 2", { "SELECT 'a;b'", "SELECT 2", NULL } },
	{ "SELECT 'it''s;'; x", { "SELECT 'it''s;'", "x", NULL } },
	{ "SELECT E'\\';'; x", { "SELECT E'\\';'", "x", NULL } },
	{ "SELECT e'\\\\'; x", { "SELECT e'\\\\'", "x", NULL } },
	{ "SELECT '\\'; x", { "SELECT '\\'", "x", NULL } }, /* standard: no escape */
	{ "SELECT somee'\\'; x'", { "SELECT somee'\\'", "x'", NULL } },
	{ "SELECT \"a;\"\"b\"; x", { "SELECT \"a;\"\"b\"", "x", NULL } },
	{ "SELECT $$a;b$$; x", { "SELECT $$a;b$$", "x", NULL } },
	{ "SELECT $t$ $$; $t$; x", { "SELECT $t$ $$; $t$", "x", NULL } },
	{ "SELECT $1; x", { "SELECT $1", "x", NULL } },
	{ "SELECT $1$;$1$", { "SELECT $1$", "$1$", NULL } },   /* $1 is a parameter */
	{ "SELECT a$b$; x$b$", { "SELECT a$b$", "x$b$", NULL } }, /* $ inside a word */
	{ "SELECT 1 -- c;\n; x", { "SELECT 1 -- c;", "x", NULL } },
	{ "SELECT 1 /* ; /* ; */ ; */; x", { "SELECT 1 /* ; /* ; */ ; */", "x", NULL } },
	{ "x; -- trailing comment", { "x", NULL } },
	{ "-- lead\nSELECT 1", { "-- lead\nSELECT 1", NULL } },
	{ "SELECT 'unterminated; x; y", { "SELECT 'unterminated; x; y", NULL } },
	{ "SELECT \"unterminated; x", { "SELECT \"unterminated; x", NULL } },
	{ "SELECT $$unterminated; x", { "SELECT $$unterminated; x", NULL } },
	{ "SELECT 1 /* unterminated; x", { "SELECT 1 /* unterminated; x", NULL } },
	{ "a;b;c;d;e;f;g", { "a", "b", "c", "d", "e", NULL } }, /* more than max */
	{ "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (1); "
	  "UPDATE z SET a = CASE WHEN 1 THEN 2 END; END; SELECT 1",
	  { "CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (1); "
	    "UPDATE z SET a = CASE WHEN 1 THEN 2 END; END",
	    "SELECT 1", NULL } },
	{ "create temp trigger t before delete on x begin select 1; end;x",
	  { "create temp trigger t before delete on x begin select 1; end", "x", NULL } },
	{ "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f(); SELECT 1",
	  { "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()", "SELECT 1", NULL } },
	{ "BEGIN; SELECT 1; END;", { "BEGIN", "SELECT 1", "END", NULL } },
};

static void test_split(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(split_cases) / sizeof(split_cases[0]); c++) {
		const struct split_case *sc = &split_cases[c];
		struct sql_span spans[5];
		size_t total = 99, want = 0;
		while (want < 6 && sc->want[want])
			want++;
		size_t n = sql_split(sc->sql, strlen(sc->sql), spans, 5, &total);
		if (n != (want < 5 ? want : 5))
			fail_msg("case %zu (%s): %zu spans", c, sc->sql, n);
		for (size_t k = 0; k < n; k++) {
			char got[256];
			snprintf(got, sizeof(got), "%.*s", (int)spans[k].len, sc->sql + spans[k].off);
			if (strcmp(got, sc->want[k]) != 0)
				fail_msg("case %zu span %zu: got [%s] want [%s]", c, k, got, sc->want[k]);
		}
		if (want < 5) /* the five-span case has more; see test_split_counts */
			assert_int_equal(total, want);
	}
}

static void test_split_counts(void **state)
{
	(void)state;
	const char *sql = "a;b;c;d;e;f;g";
	struct sql_span spans[3];
	size_t total = 0;
	assert_int_equal(sql_split(sql, strlen(sql), spans, 3, &total), 3);
	assert_int_equal(total, 7);
	assert_int_equal(sql_split(sql, strlen(sql), NULL, 0, &total), 0);
	assert_int_equal(total, 7);
	assert_int_equal(sql_split(sql, strlen(sql), spans, 3, NULL), 3); /* total is optional */
	assert_int_equal(spans[2].off, 4);
	assert_int_equal(spans[2].len, 1);
	/* The length bounds the text: a ';' past it is not seen. */
	assert_int_equal(sql_split("ab;cd", 2, spans, 3, &total), 1);
	assert_int_equal(spans[0].len, 2);
	assert_int_equal(total, 1);
}

static void test_blank(void **state)
{
	(void)state;
	static const char *const blank[] = { "", " ", "\t\r\n\f\v", "-- x", "--", "/**/", "/* /* */ */",
		                             "/* a */ -- b\n /* c", "/*" };
	static const char *const not_blank[] = { ";", "x", "-", "/", "/* */ x", "-- a\nb", "/* /* */ x */ y",
		                                 "'", "$$", "\"\"" };
	for (size_t k = 0; k < sizeof(blank) / sizeof(blank[0]); k++)
		assert_true(sql_is_blank(blank[k], strlen(blank[k])));
	for (size_t k = 0; k < sizeof(not_blank) / sizeof(not_blank[0]); k++)
		assert_false(sql_is_blank(not_blank[k], strlen(not_blank[k])));
	assert_true(sql_is_blank("  x", 2));
}

static void test_first_word(void **state)
{
	(void)state;
	char w[16];
	sql_first_word("  /* c */ SeLeCt 1", 18, w, sizeof(w));
	assert_string_equal(w, "select");
	sql_first_word("-- x\nWITH a AS (SELECT 1) SELECT 1", 34, w, sizeof(w));
	assert_string_equal(w, "with");
	sql_first_word("(SELECT 1)", 10, w, sizeof(w));
	assert_string_equal(w, "");
	sql_first_word("'x'", 3, w, sizeof(w));
	assert_string_equal(w, "");
	sql_first_word("E'x'", 4, w, sizeof(w));
	assert_string_equal(w, "");
	sql_first_word("", 0, w, sizeof(w));
	assert_string_equal(w, "");
	sql_first_word("abcdefghijklmno x", 17, w, sizeof(w)); /* 15 letters fit */
	assert_string_equal(w, "abcdefghijklmno");
	sql_first_word("abcdefghijklmnop x", 18, w, sizeof(w)); /* 16 do not */
	assert_string_equal(w, "");
	sql_first_word("insert", 3, w, sizeof(w));
	assert_string_equal(w, "ins");
	w[0] = 'z';
	sql_first_word("select", 6, w, 0); /* no room: untouched */
	assert_int_equal(w[0], 'z');
}

static void test_guess_write(void **state)
{
	(void)state;
	static const char *const writes[] = { "INSERT INTO t VALUES (1)", "update t set a = 1", "DELETE FROM t",
		                              "REPLACE INTO t VALUES (1)", "CREATE TABLE t (a)", "DROP TABLE t",
		                              "ALTER TABLE t ADD b", "UPSERT x", "VACUUM", "REINDEX",
		                              "TRUNCATE t", "ANALYZE", "PRAGMA user_version = 1",
		                              "ATTACH 'x' AS y", "DETACH y", " /* c */ insert into t default values" };
	static const char *const reads[] = { "SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "EXPLAIN SELECT 1",
		                             "VALUES (1)", "BEGIN", "", "(INSERT)", "'insert'", "inserts" };
	for (size_t k = 0; k < sizeof(writes) / sizeof(writes[0]); k++)
		assert_true(sql_guess_write(writes[k], strlen(writes[k])));
	for (size_t k = 0; k < sizeof(reads) / sizeof(reads[0]); k++)
		assert_false(sql_guess_write(reads[k], strlen(reads[k])));
}

/* ------------------------------------------------------------- classify */

static struct sql_command cmd;
static char err[256];

static int classify(const char *sql)
{
	err[0] = 'X';
	err[1] = '\0';
	return sql_classify(sql, strlen(sql), &cmd, err, sizeof(err));
}

static void expect_kind(const char *sql, enum sql_kind kind)
{
	if (classify(sql) != 0)
		fail_msg("%s: error %s", sql, err);
	if (cmd.kind != kind)
		fail_msg("%s: kind %d, want %d", sql, (int)cmd.kind, (int)kind);
	assert_string_equal(err, "");
}

static void expect_error(const char *sql, enum sql_kind kind, const char *msg)
{
	if (classify(sql) != -1)
		fail_msg("%s: no error", sql);
	if (cmd.kind != kind)
		fail_msg("%s: kind %d, want %d", sql, (int)cmd.kind, (int)kind);
	if (strcmp(err, msg) != 0)
		fail_msg("%s: error [%s], want [%s]", sql, err, msg);
}

static void test_other(void **state)
{
	(void)state;
	static const char *const other[] = {
		"SELECT 1", "INSERT INTO t VALUES (1)", "WITH x AS (SELECT 1) SELECT 1", "CREATE TABLE begin (a)",
		"PRAGMA journal_mode", "REINDEX", "EXPLAIN SELECT 1", "", "   ", "-- only", "(BEGIN)",
		"'BEGIN'", "\"BEGIN\"", "START", "START x",
		"LOCK TABLE t", "PREPARE p AS SELECT 1", "EXECUTE p", "sets", "beginning",
		"averyveryverylongwordthatisnokeyword",
	};
	for (size_t k = 0; k < sizeof(other) / sizeof(other[0]); k++)
		expect_kind(other[k], SQL_OTHER);
	assert_int_equal(cmd.read_only, -1);
	/* A NULL or empty error buffer is fine. */
	assert_int_equal(sql_classify("FETCH", 5, &cmd, NULL, 0), -1);
	err[0] = 'k';
	assert_int_equal(sql_classify("FETCH", 5, &cmd, err, 0), -1);
	assert_int_equal(err[0], 'k');
	char small[8];
	assert_int_equal(sql_classify("FETCH 1 2 3", 11, &cmd, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), 7);
}

static void test_begin(void **state)
{
	(void)state;
	static const char *const plain[] = { "BEGIN", "begin work", "BEGIN TRANSACTION;", "START TRANSACTION",
		                             "BEGIN ISOLATION LEVEL SERIALIZABLE",
		                             "begin isolation level read committed",
		                             "BEGIN ISOLATION LEVEL READ UNCOMMITTED NOT DEFERRABLE",
		                             "BEGIN /* c */ -- d\n TRANSACTION" };
	for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
		expect_kind(plain[k], SQL_BEGIN);
		assert_int_equal(cmd.read_only, -1);
		assert_string_equal(cmd.name, "");
	}
	expect_kind("BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE, DEFERRABLE", SQL_BEGIN);
	assert_int_equal(cmd.read_only, 0);
	expect_kind("START TRANSACTION READ ONLY", SQL_BEGIN);
	assert_int_equal(cmd.read_only, 1);
	expect_kind("BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE DEFERRABLE", SQL_BEGIN);
	assert_int_equal(cmd.read_only, 1);
	expect_kind("start transaction read write, read only", SQL_BEGIN);
	assert_int_equal(cmd.read_only, 1);
	expect_kind("BEGIN IMMEDIATE", SQL_BEGIN);
	assert_string_equal(cmd.name, "immediate");
	expect_kind("BEGIN EXCLUSIVE TRANSACTION", SQL_BEGIN);
	assert_string_equal(cmd.name, "exclusive");
	expect_kind("begin deferred", SQL_BEGIN);
	assert_string_equal(cmd.name, "deferred");

	expect_error("BEGIN foo", SQL_BEGIN, "syntax error at or near \"foo\"");
	expect_error("BEGIN ISOLATION", SQL_BEGIN, "syntax error at end of input");
	expect_error("BEGIN ISOLATION LEVEL READ", SQL_BEGIN, "syntax error at end of input");
	expect_error("BEGIN ISOLATION LEVEL CHAOS", SQL_BEGIN, "syntax error at or near \"CHAOS\"");
	expect_error("BEGIN READ ONLY,", SQL_BEGIN, "syntax error at end of input");
	expect_error("BEGIN , READ ONLY", SQL_BEGIN, "syntax error at or near \",\"");
	expect_error("BEGIN NOT", SQL_BEGIN, "syntax error at end of input");
	expect_error("START TRANSACTION READ", SQL_BEGIN, "syntax error at end of input");
	expect_error("BEGIN; SELECT 1", SQL_BEGIN, "syntax error at or near \";\"");
}

static void test_commit_rollback(void **state)
{
	(void)state;
	static const char *const commits[] = { "COMMIT", "commit work", "COMMIT TRANSACTION", "END", "end transaction",
		                               "END WORK", "COMMIT AND NO CHAIN", "COMMIT; ;", "commit ; -- x" };
	for (size_t k = 0; k < sizeof(commits) / sizeof(commits[0]); k++)
		expect_kind(commits[k], SQL_COMMIT);
	static const char *const rollbacks[] = { "ROLLBACK", "rollback work", "ROLLBACK TRANSACTION", "ABORT",
		                                 "abort transaction", "ROLLBACK AND NO CHAIN" };
	for (size_t k = 0; k < sizeof(rollbacks) / sizeof(rollbacks[0]); k++)
		expect_kind(rollbacks[k], SQL_ROLLBACK);
	expect_error("COMMIT AND CHAIN", SQL_COMMIT, "COMMIT AND CHAIN is not supported");
	expect_error("ROLLBACK AND CHAIN", SQL_ROLLBACK, "ROLLBACK AND CHAIN is not supported");
	expect_error("ABORT AND CHAIN", SQL_ROLLBACK, "ROLLBACK AND CHAIN is not supported");
	expect_error("COMMIT PREPARED 'x'", SQL_COMMIT, "prepared transactions are not supported");
	expect_error("ROLLBACK PREPARED 'x'", SQL_ROLLBACK, "prepared transactions are not supported");
	expect_error("COMMIT AND", SQL_COMMIT, "syntax error at end of input");
	expect_error("END x", SQL_COMMIT, "syntax error at or near \"x\"");
}

static void test_savepoints(void **state)
{
	(void)state;
	expect_kind("SAVEPOINT sp1", SQL_SAVEPOINT);
	assert_string_equal(cmd.name, "sp1");
	expect_kind("savepoint \"My\"\"Sp\"", SQL_SAVEPOINT);
	assert_string_equal(cmd.name, "My\"Sp");
	expect_kind("SAVEPOINT MixedCase", SQL_SAVEPOINT);
	assert_string_equal(cmd.name, "mixedcase");
	expect_kind("RELEASE SAVEPOINT a", SQL_RELEASE);
	assert_string_equal(cmd.name, "a");
	expect_kind("RELEASE b", SQL_RELEASE);
	assert_string_equal(cmd.name, "b");
	expect_kind("RELEASE savepoint", SQL_RELEASE); /* a savepoint named savepoint */
	assert_string_equal(cmd.name, "savepoint");
	expect_kind("ROLLBACK TO SAVEPOINT c", SQL_ROLLBACK_TO);
	assert_string_equal(cmd.name, "c");
	expect_kind("ROLLBACK WORK TO d", SQL_ROLLBACK_TO);
	assert_string_equal(cmd.name, "d");
	expect_kind("rollback transaction to savepoint \"E\"", SQL_ROLLBACK_TO);
	assert_string_equal(cmd.name, "E");
	expect_kind("ROLLBACK TO savepoint", SQL_ROLLBACK_TO);
	assert_string_equal(cmd.name, "savepoint");

	expect_error("SAVEPOINT", SQL_SAVEPOINT, "syntax error at end of input");
	expect_error("SAVEPOINT a b", SQL_SAVEPOINT, "syntax error at or near \"b\"");
	expect_error("SAVEPOINT 'a'", SQL_SAVEPOINT, "syntax error at or near \"'a'\"");
	expect_error("SAVEPOINT \"\"", SQL_SAVEPOINT, "zero-length delimited identifier");
	expect_error("RELEASE", SQL_RELEASE, "syntax error at end of input");
	expect_error("ROLLBACK TO", SQL_ROLLBACK_TO, "syntax error at end of input");

	/* Names: SQL_NAME_MAX - 1 bytes fit, one more is an error. */
	char sql[300], name[SQL_NAME_MAX + 1];
	memset(name, 'a', sizeof(name));
	name[SQL_NAME_MAX - 1] = '\0';
	snprintf(sql, sizeof(sql), "SAVEPOINT %s", name);
	expect_kind(sql, SQL_SAVEPOINT);
	assert_string_equal(cmd.name, name);
	name[SQL_NAME_MAX - 1] = 'a';
	name[SQL_NAME_MAX] = '\0';
	snprintf(sql, sizeof(sql), "SAVEPOINT %s", name);
	expect_error(sql, SQL_SAVEPOINT, "name is too long");
}

static void expect_set(const char *sql, const char *name, const char *value, bool is_default, bool is_local)
{
	expect_kind(sql, SQL_SET);
	if (strcmp(cmd.name, name) != 0 || strcmp(cmd.value, value) != 0)
		fail_msg("%s: name [%s] value [%s]", sql, cmd.name, cmd.value);
	assert_int_equal(cmd.is_default, is_default);
	assert_int_equal(cmd.is_local, is_local);
}

static void test_set(void **state)
{
	(void)state;
	expect_set("SET search_path TO public, \"$user\"", "search_path", "public, $user", false, false);
	expect_set("SET TIME ZONE 'UTC'", "timezone", "UTC", false, false);
	expect_set("set time zone local", "timezone", "", true, false);
	expect_set("SET TIME ZONE DEFAULT", "timezone", "", true, false);
	expect_set("SET TIME ZONE -8", "timezone", "-8", false, false);
	expect_set("SET statement_timeout = '5s'", "statement_timeout", "5s", false, false);
	expect_set("SET LOCAL x = 1", "x", "1", false, true);
	expect_set("SET SESSION DateStyle TO ISO, MDY", "datestyle", "iso, mdy", false, false);
	expect_set("SET extra_float_digits = -3", "extra_float_digits", "-3", false, false);
	expect_set("SET x = +1.5", "x", "1.5", false, false);
	expect_set("SET application_name = 'it''s'", "application_name", "it's", false, false);
	expect_set("SET application_name = E'a\\tb\\x41\\101\\''", "application_name", "a\tbAA'", false, false);
	expect_set("SET application_name = $$x y$$", "application_name", "x y", false, false);
	expect_set("SET client_min_messages TO warning", "client_min_messages", "warning", false, false);
	expect_set("SET x TO DEFAULT", "x", "", true, false);
	expect_set("SET x = default", "x", "", true, false);
	expect_set("SET x = 'default'", "x", "default", false, false);
	expect_set("SET myapp.user_id = 42", "myapp.user_id", "42", false, false);
	expect_set("SET \"MyApp\".\"Key\" = on", "MyApp.Key", "on", false, false);
	expect_set("SET LOCAL TIME ZONE 'Europe/Paris'", "timezone", "Europe/Paris", false, true);
	expect_set("SET NAMES 'UTF8'", "client_encoding", "UTF8", false, false);
	expect_set("SET NAMES", "client_encoding", "", true, false);
	expect_set("SET SESSION AUTHORIZATION bob", "session_authorization", "bob", false, false);
	expect_set("SET SESSION SESSION AUTHORIZATION DEFAULT", "session_authorization", "", true, false);
	expect_set("SET ROLE admin", "role", "admin", false, false);
	expect_set("SET ROLE NONE", "role", "none", false, false);
	expect_set("SET role = 'admin'", "role", "admin", false, false);
	expect_set("SET role TO DEFAULT", "role", "", true, false);
	expect_set("SET constraints = x", "constraints", "x", false, false);
	expect_set("SET SCHEMA 'public'", "search_path", "public", false, false);
	expect_set("SET XML OPTION CONTENT", "xmloption", "content", false, false);
	expect_set("SET CONSTRAINTS ALL DEFERRED", "constraints", "all deferred", false, false);
	expect_set("SET CONSTRAINTS a, b IMMEDIATE", "constraints", "a, b immediate", false, false);
	expect_set("SET constraints TO x", "constraints", "x", false, false);
	expect_set("SET TRANSACTION READ ONLY", "transaction", "", false, false);
	assert_int_equal(cmd.read_only, 1);
	expect_set("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "transaction", "", false, false);
	assert_int_equal(cmd.read_only, -1);
	expect_set("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "session_characteristics", "", false,
		   false);
	assert_int_equal(cmd.read_only, 0);
	expect_set("SET LOCAL TRANSACTION READ ONLY", "transaction", "", false, true);

	expect_error("SET", SQL_SET, "syntax error at end of input");
	expect_error("SET x", SQL_SET, "syntax error at end of input");
	expect_error("SET x 1", SQL_SET, "syntax error at or near \"1\"");
	expect_error("SET x =", SQL_SET, "syntax error at end of input");
	expect_error("SET x = 1,", SQL_SET, "syntax error at end of input");
	expect_error("SET x = (1)", SQL_SET, "syntax error at or near \"(\"");
	expect_error("SET x = - a", SQL_SET, "syntax error at or near \"a\"");
	expect_error("SET TIME ZONE 'a', 'b'", SQL_SET, "syntax error at or near \",\"");
	expect_error("SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE", SQL_SET,
		     "SET TIME ZONE INTERVAL is not supported");
	expect_error("SET TRANSACTION SNAPSHOT '0001'", SQL_SET, "SET TRANSACTION SNAPSHOT is not supported");
	expect_error("SET TRANSACTION READ", SQL_SET, "syntax error at end of input");
	expect_error("SET SESSION CHARACTERISTICS TRANSACTION", SQL_SET, "syntax error at or near \"TRANSACTION\"");

	/* Values: SQL_VALUE_MAX - 1 bytes fit, one more is an error. */
	static char sql[SQL_VALUE_MAX + 64], value[SQL_VALUE_MAX + 1];
	memset(value, 'v', sizeof(value));
	value[SQL_VALUE_MAX - 1] = '\0';
	snprintf(sql, sizeof(sql), "SET x = '%s'", value);
	expect_set(sql, "x", value, false, false);
	value[SQL_VALUE_MAX - 1] = 'v';
	value[SQL_VALUE_MAX] = '\0';
	snprintf(sql, sizeof(sql), "SET x = '%s'", value);
	expect_error(sql, SQL_SET, "value is too long");
}

static void test_show_reset(void **state)
{
	(void)state;
	static const struct {
		const char *sql, *name;
		bool all;
	} cases[] = {
		{ "search_path", "search_path", false },
		{ "ALL", "all", true },
		{ "\"all\"", "all", false },
		{ "TIME ZONE", "timezone", false },
		{ "TRANSACTION ISOLATION LEVEL", "transaction_isolation", false },
		{ "SESSION AUTHORIZATION", "session_authorization", false },
		{ "server_version", "server_version", false },
		{ "my.Setting", "my.setting", false },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char sql[80];
		snprintf(sql, sizeof(sql), "SHOW %s", cases[k].sql);
		expect_kind(sql, SQL_SHOW);
		assert_string_equal(cmd.name, cases[k].name);
		assert_int_equal(cmd.all, cases[k].all);
		snprintf(sql, sizeof(sql), "reset %s;", cases[k].sql);
		expect_kind(sql, SQL_RESET);
		assert_string_equal(cmd.name, cases[k].name);
		assert_int_equal(cmd.all, cases[k].all);
	}
	expect_kind("RESET role", SQL_RESET);
	assert_string_equal(cmd.name, "role");
	expect_error("SHOW", SQL_SHOW, "syntax error at end of input");
	expect_error("SHOW a b", SQL_SHOW, "syntax error at or near \"b\"");
	expect_error("SHOW ALL x", SQL_SHOW, "syntax error at or near \"x\"");
	expect_error("SHOW TRANSACTION ISOLATION", SQL_SHOW, "syntax error at end of input");
	expect_error("RESET", SQL_RESET, "syntax error at end of input");
}

static void test_declare(void **state)
{
	(void)state;
	const char *sql = "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t  ";
	expect_kind(sql, SQL_DECLARE);
	assert_string_equal(cmd.name, "c");
	assert_true(cmd.hold);
	assert_false(cmd.binary);
	assert_int_equal(cmd.query_off, strstr(sql, "SELECT") - sql);
	assert_int_equal(cmd.query_len, strlen("SELECT * FROM t"));

	sql = "DECLARE \"C\" BINARY CURSOR FOR /* q */ VALUES (1) ; ";
	expect_kind(sql, SQL_DECLARE);
	assert_string_equal(cmd.name, "C");
	assert_true(cmd.binary);
	assert_false(cmd.hold);
	assert_int_equal(cmd.query_off, strstr(sql, "VALUES") - sql);
	assert_int_equal(cmd.query_len, strlen("VALUES (1)"));

	sql = "declare x binary insensitive no scroll cursor without hold for select ';'";
	expect_kind(sql, SQL_DECLARE);
	assert_string_equal(cmd.name, "x");
	assert_true(cmd.binary);
	assert_false(cmd.hold);
	assert_string_equal(sql + cmd.query_off, "select ';'");
	assert_int_equal(cmd.query_len, strlen("select ';'"));
	expect_kind("DECLARE c ASENSITIVE SCROLL CURSOR FOR SELECT 1", SQL_DECLARE);

	expect_error("DECLARE c CURSOR FOR", SQL_DECLARE, "syntax error at end of input");
	expect_error("DECLARE c CURSOR SELECT 1", SQL_DECLARE, "syntax error at or near \"SELECT\"");
	expect_error("DECLARE c FOR SELECT 1", SQL_DECLARE, "syntax error at or near \"FOR\"");
	expect_error("DECLARE c NO CURSOR FOR SELECT 1", SQL_DECLARE, "syntax error at or near \"CURSOR\"");
	expect_error("DECLARE c CURSOR WITH FOR SELECT 1", SQL_DECLARE, "syntax error at or near \"FOR\"");
	expect_error("DECLARE CURSOR FOR SELECT 1", SQL_DECLARE, "syntax error at or near \"FOR\"");
}

struct fetch_case {
	const char *sql;
	const char *name;
	int64_t count;
	bool backward;
};

static void test_fetch_move(void **state)
{
	(void)state;
	static const struct fetch_case cases[] = {
		{ "c", "c", 1, false },
		{ "NEXT c", "c", 1, false },
		{ "NEXT FROM c", "c", 1, false },
		{ "FROM c", "c", 1, false },
		{ "IN \"Cur\"", "Cur", 1, false },
		{ "10 FROM c", "c", 10, false },
		{ "10 c", "c", 10, false },
		{ "+3 c", "c", 3, false },
		{ "0 c", "c", 0, false },
		{ "ALL IN c", "c", INT64_MAX, false },
		{ "ALL c", "c", INT64_MAX, false },
		{ "FORWARD c", "c", 1, false },
		{ "FORWARD 5 c", "c", 5, false },
		{ "FORWARD 5 FROM c", "c", 5, false },
		{ "FORWARD ALL FROM c", "c", INT64_MAX, false },
		{ "FORWARD FROM c", "c", 1, false },
		{ "forward -2 c", "c", 2, true },
		{ "9223372036854775807 c", "c", INT64_MAX, false },
		{ "PRIOR c", "c", 1, true },
		{ "BACKWARD c", "c", 1, true },
		{ "BACKWARD 3 IN c", "c", 3, true },
		{ "BACKWARD ALL c", "c", INT64_MAX, true },
		{ "BACKWARD -3 c", "c", 3, false },
		{ "-1 c", "c", 1, true },
		{ "FIRST c", "c", 1, true },
		{ "LAST FROM c", "c", 1, true },
		{ "ABSOLUTE 3 c", "c", 3, true },
		{ "RELATIVE -2 FROM c", "c", 2, true },
		{ "next", "next", 1, false }, /* a lone word is the name */
		{ "prior", "prior", 1, false },
		{ "forward", "forward", 1, false },
		{ "c;", "c", 1, false },
	};
	for (int kind = SQL_FETCH; kind <= SQL_MOVE; kind++) {
		for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
			char sql[100];
			snprintf(sql, sizeof(sql), "%s %s", kind == SQL_FETCH ? "FETCH" : "move", cases[k].sql);
			expect_kind(sql, (enum sql_kind)kind);
			if (strcmp(cmd.name, cases[k].name) != 0 || cmd.count != cases[k].count ||
			    cmd.backward != cases[k].backward)
				fail_msg("%s: name [%s] count %lld backward %d", sql, cmd.name, (long long)cmd.count,
					 cmd.backward);
		}
	}
	expect_error("FETCH FORWARD x y z", SQL_FETCH, "syntax error at or near \"y\"");
	expect_error("FETCH", SQL_FETCH, "syntax error at end of input");
	expect_error("FETCH 5", SQL_FETCH, "syntax error at end of input");
	expect_error("FETCH FORWARD 5", SQL_FETCH, "syntax error at end of input");
	expect_error("FETCH FROM", SQL_FETCH, "syntax error at end of input");
	expect_error("FETCH 1.5 c", SQL_FETCH, "syntax error at or near \"1.5\"");
	expect_error("FETCH - c", SQL_FETCH, "syntax error at or near \"c\"");
	expect_error("FETCH ABSOLUTE c", SQL_FETCH, "syntax error at or near \"c\"");
	expect_error("FETCH 9223372036854775808 c", SQL_FETCH, "count is out of range");
	expect_error("MOVE NEXT c d", SQL_MOVE, "syntax error at or near \"d\"");
	expect_error("MOVE 'c'", SQL_MOVE, "syntax error at or near \"'c'\"");
}

static void test_close_deallocate_discard(void **state)
{
	(void)state;
	expect_kind("CLOSE c", SQL_CLOSE);
	assert_string_equal(cmd.name, "c");
	assert_false(cmd.all);
	expect_kind("CLOSE ALL", SQL_CLOSE);
	assert_string_equal(cmd.name, "all");
	assert_true(cmd.all);
	expect_kind("CLOSE \"all\"", SQL_CLOSE);
	assert_string_equal(cmd.name, "all");
	assert_false(cmd.all);
	expect_error("CLOSE", SQL_CLOSE, "syntax error at end of input");
	expect_error("CLOSE a b", SQL_CLOSE, "syntax error at or near \"b\"");

	expect_kind("DEALLOCATE s1", SQL_DEALLOCATE);
	assert_string_equal(cmd.name, "s1");
	expect_kind("DEALLOCATE PREPARE S2", SQL_DEALLOCATE);
	assert_string_equal(cmd.name, "s2");
	expect_kind("deallocate prepare", SQL_DEALLOCATE);
	assert_string_equal(cmd.name, "prepare");
	expect_kind("DEALLOCATE ALL", SQL_DEALLOCATE);
	assert_true(cmd.all);
	assert_string_equal(cmd.name, "all");
	expect_kind("DEALLOCATE PREPARE ALL", SQL_DEALLOCATE);
	assert_true(cmd.all);
	expect_error("DEALLOCATE", SQL_DEALLOCATE, "syntax error at end of input");

	static const char *const discards[][2] = {
		{ "ALL", "all" }, { "plans", "plans" }, { "SEQUENCES", "sequences" }, { "TEMP", "temp" }, { "temporary", "temp" },
	};
	for (size_t k = 0; k < 5; k++) {
		char sql[40];
		snprintf(sql, sizeof(sql), "DISCARD %s", discards[k][0]);
		expect_kind(sql, SQL_DISCARD);
		assert_string_equal(cmd.name, discards[k][1]);
		assert_int_equal(cmd.all, k == 0);
	}
	expect_error("DISCARD", SQL_DISCARD, "syntax error at end of input");
	expect_error("DISCARD everything", SQL_DISCARD, "syntax error at or near \"everything\"");
	expect_error("DISCARD ALL PLANS", SQL_DISCARD, "syntax error at or near \"PLANS\"");
}

static void test_listen_checkpoint(void **state)
{
	(void)state;
	expect_kind("LISTEN chan", SQL_LISTEN);
	assert_string_equal(cmd.name, "chan");
	expect_kind("UNLISTEN \"Chan\"", SQL_LISTEN);
	assert_string_equal(cmd.name, "Chan");
	expect_kind("UNLISTEN *", SQL_LISTEN);
	assert_string_equal(cmd.name, "*");
	assert_true(cmd.all);
	expect_kind("NOTIFY chan", SQL_LISTEN);
	assert_string_equal(cmd.name, "chan");
	assert_string_equal(cmd.value, "");
	expect_kind("NOTIFY chan, 'it''s here'", SQL_LISTEN);
	assert_string_equal(cmd.value, "it's here");
	expect_error("LISTEN", SQL_LISTEN, "syntax error at end of input");
	expect_error("NOTIFY chan,", SQL_LISTEN, "syntax error at end of input");
	expect_error("NOTIFY chan, 5", SQL_LISTEN, "syntax error at or near \"5\"");
	expect_error("UNLISTEN * x", SQL_LISTEN, "syntax error at or near \"x\"");

	expect_kind("CHECKPOINT", SQL_CHECKPOINT);
	expect_kind("checkpoint;", SQL_CHECKPOINT);
	expect_error("CHECKPOINT now", SQL_CHECKPOINT, "syntax error at or near \"now\"");
}

static void test_replication(void **state)
{
	(void)state;
	expect_kind("IDENTIFY_SYSTEM", SQL_REPL_IDENTIFY);
	expect_kind("identify_system;", SQL_REPL_IDENTIFY);
	expect_kind("CREATE_REPLICATION_SLOT \"My\" LOGICAL \"test_decoding\" (SNAPSHOT 'nothing')", SQL_REPL_CREATE_SLOT);
	assert_string_equal(cmd.name, "My");
	assert_string_equal(cmd.plugin, "test_decoding");
	assert_string_equal(cmd.options, "snapshot=nothing");
	assert_false(cmd.physical);
	assert_false(cmd.temporary);
	expect_kind("CREATE_REPLICATION_SLOT s TEMPORARY LOGICAL wal2json NOEXPORT_SNAPSHOT TWO_PHASE", SQL_REPL_CREATE_SLOT);
	assert_string_equal(cmd.name, "s");
	assert_true(cmd.temporary);
	assert_string_equal(cmd.options, "snapshot=nothing\ntwo_phase");
	expect_kind("CREATE_REPLICATION_SLOT p PHYSICAL RESERVE_WAL", SQL_REPL_CREATE_SLOT);
	assert_true(cmd.physical);
	expect_error("CREATE_REPLICATION_SLOT s LOGICAL", SQL_REPL_CREATE_SLOT, "syntax error at end of input");
	expect_error("CREATE_REPLICATION_SLOT s LOGICAL p NOPE", SQL_REPL_CREATE_SLOT, "syntax error at or near \"NOPE\"");
	expect_kind("DROP_REPLICATION_SLOT \"s\" WAIT", SQL_REPL_DROP_SLOT);
	assert_string_equal(cmd.name, "s");
	assert_string_equal(cmd.options, "wait");
	expect_kind("START_REPLICATION SLOT \"s\" LOGICAL 1F/A0B (\"include-xids\" '0', \"skip-empty-xacts\", x 2)",
		    SQL_REPL_START);
	assert_string_equal(cmd.name, "s");
	assert_int_equal(cmd.lsn, 0x1F00000A0Bull);
	assert_string_equal(cmd.options, "include-xids=0\nskip-empty-xacts\nx=2");
	expect_kind("START_REPLICATION SLOT s LOGICAL 0/0", SQL_REPL_START);
	assert_int_equal(cmd.lsn, 0);
	assert_string_equal(cmd.options, "");
	expect_kind("START_REPLICATION 0/16B3F0 TIMELINE 1", SQL_REPL_START);
	assert_true(cmd.physical);
	assert_int_equal(cmd.lsn, 0x16B3F0);
	expect_error("START_REPLICATION SLOT s LOGICAL 0/G", SQL_REPL_START, "invalid LSN \"0/G\"");
	expect_error("START_REPLICATION SLOT s LOGICAL 123456789/0", SQL_REPL_START, "invalid LSN \"123456789/0\"");
	expect_error("START_REPLICATION LOGICAL 0/0", SQL_REPL_START, "logical replication needs a slot");
	expect_error("START_REPLICATION SLOT s LOGICAL 0/0 (a '1'", SQL_REPL_START, "syntax error at end of input");
	expect_kind("TIMELINE_HISTORY 2", SQL_REPL_OTHER);
	expect_kind("BASE_BACKUP (LABEL 'x')", SQL_REPL_OTHER);
	expect_kind("START TRANSACTION", SQL_BEGIN);
}

static void expect_tables(const char *sql, enum sql_kind kind, const char *tables, const char *options)
{
	expect_kind(sql, kind);
	if (strcmp(cmd.tables, tables) != 0 || strcmp(cmd.value, options) != 0)
		fail_msg("%s: tables [%s] options [%s]", sql, cmd.tables, cmd.value);
}

static void test_maintenance(void **state)
{
	(void)state;
	expect_kind("VACUUM INTO '/tmp/x'", SQL_VACUUM_INTO);
	expect_kind("vacuum main into 'f'", SQL_VACUUM_INTO);
	expect_tables("VACUUM", SQL_VACUUM, "", "");
	expect_tables("VACUUM t", SQL_VACUUM, "t", "");
	expect_tables("VACUUM FULL ANALYZE VERBOSE t1, Public.T2", SQL_VACUUM, "t1, public.t2", "full, analyze, verbose");
	expect_tables("VACUUM (VERBOSE, ANALYZE, PARALLEL 2) \"My T\"", SQL_VACUUM, "\"My T\"", "verbose, analyze, parallel");
	expect_tables("vacuum freeze t (a, b), u", SQL_VACUUM, "t, u", "freeze");
	expect_tables("ANALYZE", SQL_ANALYZE, "", "");
	expect_tables("ANALYZE main.t", SQL_ANALYZE, "main.t", "");
	expect_tables("analyse verbose t(a)", SQL_ANALYZE, "t", "verbose");
	expect_tables("ANALYZE (VERBOSE) a, b", SQL_ANALYZE, "a, b", "verbose");
	expect_tables("TRUNCATE t", SQL_TRUNCATE, "t", "");
	expect_tables("TRUNCATE TABLE ONLY t1, t2 *, \"T3\" RESTART IDENTITY CASCADE", SQL_TRUNCATE,
		      "t1, t2, \"T3\"", "restart identity, cascade");
	expect_tables("truncate a continue identity restrict", SQL_TRUNCATE, "a", "continue identity, restrict");

	expect_error("VACUUM t u", SQL_VACUUM, "syntax error at or near \"u\"");
	expect_error("VACUUM (VERBOSE", SQL_VACUUM, "syntax error at end of input");
	expect_error("VACUUM t,", SQL_VACUUM, "syntax error at end of input");
	expect_error("VACUUM t (a", SQL_VACUUM, "syntax error at end of input");
	expect_error("ANALYZE 'x'", SQL_ANALYZE, "syntax error at or near \"'x'\"");
	expect_error("TRUNCATE", SQL_TRUNCATE, "syntax error at end of input");
	expect_error("TRUNCATE t RESTART", SQL_TRUNCATE, "syntax error at end of input");
	expect_error("TRUNCATE t, ", SQL_TRUNCATE, "syntax error at end of input");
	expect_error("TRUNCATE t NOW", SQL_TRUNCATE, "syntax error at or near \"NOW\"");
}

/* ------------------------------------------------- properties and bounds */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

static const char *const fragments[] = {
	"SELECT 1", " ", "\n", "\t", ";", ";;", "'a;b'", "'it''s'", "E'\\';'", "e'\\\\'", "\"q;\"", "\"a\"\"b\"",
	"$$;$$", "$t$ ; $$ $t$", "$1", "$", "$t", "-- c;\n", "--", "/* ; */", "/* /* ; */ */", "/*", "*/", "'", "\"",
	"E'", "x", "BEGIN", "END", "CASE", "CREATE", "TRIGGER", "TEMP", "(", ")", "-", "/", "*", "\\", "e", "a$b",
	"\r", "\xc3\xa9", "0.5e-3",
};

static void random_text(char *buf, size_t cap, size_t *len)
{
	size_t n = 0, pieces = rng() % 12;
	for (size_t k = 0; k < pieces; k++) {
		const char *f;
		char one[2];
		if (rng() % 8 == 0) {
			one[0] = (char)(rng() % 256);
			one[1] = '\0';
			f = one;
			if (one[0] == '\0') {
				if (n < cap)
					buf[n++] = '\0';
				continue;
			}
		} else {
			f = fragments[rng() % (sizeof(fragments) / sizeof(fragments[0]))];
		}
		size_t fl = strlen(f);
		if (n + fl > cap)
			break;
		memcpy(buf + n, f, fl);
		n += fl;
	}
	*len = n;
}

static bool only_space(const char *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (!strchr(" \t\n\r\f\v", s[k]) || s[k] == '\0')
			return false;
	return true;
}

/* Every byte outside the spans is white space, a separating ';' or part of
 * a blank (comment-only) statement; spans are ordered, trimmed, not blank,
 * and split again into exactly themselves. */
static void check_split(const char *sql, size_t len, uint64_t seed)
{
	struct sql_span spans[64];
	size_t total;
	size_t n = sql_split(sql, len, spans, 64, &total);
	if (total > 64)
		return;
	assert_int_equal(n, total);
	size_t at = 0;
	for (size_t k = 0; k <= n; k++) {
		size_t end = k < n ? spans[k].off : len;
		if (end < at || end > len)
			fail_msg("seed %llu: span %zu out of order", (unsigned long long)seed, k);
		/* The gap, with its ';' made spaces, must be blank. */
		char gap[1024];
		assert_true(end - at <= sizeof(gap));
		memcpy(gap, sql + at, end - at);
		for (size_t j = 0; j < end - at; j++)
			if (gap[j] == ';')
				gap[j] = ' ';
		if (!sql_is_blank(gap, end - at))
			fail_msg("seed %llu: lost bytes [%.*s]", (unsigned long long)seed, (int)(end - at), sql + at);
		if (k == n)
			break;
		const char *sp = sql + spans[k].off;
		size_t sl = spans[k].len;
		assert_true(sl > 0);
		assert_true(spans[k].off + sl <= len);
		assert_false(only_space(sp, 1));
		assert_false(only_space(sp + sl - 1, 1));
		assert_false(sql_is_blank(sp, sl));
		struct sql_span again[2];
		size_t t2;
		if (sql_split(sp, sl, again, 2, &t2) != 1 || again[0].off != 0 || again[0].len != sl)
			fail_msg("seed %llu: span [%.*s] splits again", (unsigned long long)seed, (int)sl, sp);
		at = spans[k].off + sl;
	}
}

static void test_random_split(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20000; seed++) {
		char buf[600];
		size_t len;
		rng_state = seed;
		random_text(buf, sizeof(buf), &len);
		check_split(buf, len, seed);
	}
}

/* Every function on every prefix, from an exact-size heap copy. */
static void check_prefixes(const char *sql)
{
	size_t len = strlen(sql);
	for (size_t n = 0; n <= len; n++) {
		char *p = malloc(n > 0 ? n : 1);
		assert_non_null(p);
		memcpy(p, sql, n);
		struct sql_span spans[8];
		size_t total;
		size_t k = sql_split(p, n, spans, 8, &total);
		for (size_t j = 0; j < k; j++) {
			struct sql_command c;
			char e[64];
			sql_classify(p + spans[j].off, spans[j].len, &c, e, sizeof(e));
		}
		struct sql_command c;
		char e[64], w[16];
		sql_classify(p, n, &c, e, sizeof(e));
		sql_is_blank(p, n);
		sql_first_word(p, n, w, sizeof(w));
		sql_guess_write(p, n);
		free(p);
	}
}

static const char *const more_inputs[] = {
	"BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE, DEFERRABLE",
	"START TRANSACTION READ ONLY",
	"COMMIT AND NO CHAIN",
	"ROLLBACK TRANSACTION TO SAVEPOINT \"x\"\"y\"",
	"RELEASE SAVEPOINT a",
	"SET search_path TO public, \"$user\"",
	"SET TIME ZONE 'UTC'",
	"SET statement_timeout = '5s'",
	"SET LOCAL x = -1.5e3",
	"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
	"SET application_name = E'a\\x4\\101\\'b'",
	"SET a = $q$x$q$",
	"SHOW TRANSACTION ISOLATION LEVEL",
	"RESET ALL",
	"FETCH 10 FROM c",
	"FETCH NEXT c",
	"FETCH ALL IN c",
	"FETCH FORWARD 5 c",
	"FETCH c",
	"MOVE ABSOLUTE -3 IN c",
	"FETCH 99999999999999999999999 c",
	"DECLARE c CURSOR WITH HOLD FOR SELECT 1",
	"DECLARE \"C\" BINARY CURSOR FOR SELECT ';'",
	"CLOSE ALL",
	"DISCARD TEMPORARY",
	"DEALLOCATE PREPARE x",
	"NOTIFY c, 'p'",
	"UNLISTEN *",
	"VACUUM (VERBOSE, PARALLEL 2) t (a), \"U\".v",
	"ANALYZE VERBOSE t",
	"TRUNCATE TABLE ONLY a *, b RESTART IDENTITY CASCADE",
	"CHECKPOINT",
	"CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT CASE 1 WHEN 1 THEN 2 END; END; x",
	"SELECT $tag$ a $tag$, $1, a$b, U&'x', B'1', X'2', N'3' -- c\r/* /* */ */",
};

static void test_prefixes(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(split_cases) / sizeof(split_cases[0]); k++)
		check_prefixes(split_cases[k].sql);
	for (size_t k = 0; k < sizeof(more_inputs) / sizeof(more_inputs[0]); k++)
		check_prefixes(more_inputs[k]);
	for (size_t k = 0; k < sizeof(fragments) / sizeof(fragments[0]); k++)
		check_prefixes(fragments[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_counts),
		cmocka_unit_test(test_blank),
		cmocka_unit_test(test_first_word),
		cmocka_unit_test(test_guess_write),
		cmocka_unit_test(test_other),
		cmocka_unit_test(test_begin),
		cmocka_unit_test(test_commit_rollback),
		cmocka_unit_test(test_savepoints),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_show_reset),
		cmocka_unit_test(test_declare),
		cmocka_unit_test(test_fetch_move),
		cmocka_unit_test(test_close_deallocate_discard),
		cmocka_unit_test(test_listen_checkpoint),
		cmocka_unit_test(test_maintenance),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_random_split),
		cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
