/*
 * test_sql_rewrite.c — unit tests for server/sql_rewrite.c: parameters and
 * max_param, every cast form (operands, multi-word types, typmods, chains,
 * arrays and unknown types left alone), bool and bytea literals, type
 * literals, E'…' and dollar-quoted strings, text inside strings, identifiers
 * and comments left untouched, the type map, seeded random text, and every
 * prefix of every input read from an exact-size heap copy so ASan catches
 * any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_rewrite.h"

#define BAD "\"invalid E-string literal: NUL byte, bad Unicode escape or invalid UTF-8\"()"

struct rw_case {
	const char *in, *out;
	int max_param;
};

static const struct rw_case cases[] = {
	/* Nothing to do: an exact copy. */
	{ "", "", 0 },
	{ "SELECT 1", "SELECT 1", 0 },
	{ "INSERT INTO t VALUES ('a', 'b''c'), (1, 'x')", "INSERT INTO t VALUES ('a', 'b''c'), (1, 'x')", 0 },
	{ "SELECT 'a' FROM t WHERE name = 'x'", "SELECT 'a' FROM t WHERE name = 'x'", 0 },
	{ "SELECT a:b, :name, ?1, @p FROM t", "SELECT a:b, :name, ?1, @p FROM t", 0 },
	{ "CREATE TABLE t (id int8, name text DEFAULT 'x', d date)",
	  "CREATE TABLE t (id int8, name text DEFAULT 'x', d date)", 0 },
	{ "SELECT TRUE, FALSE, date('now'), time('now'), text", "SELECT TRUE, FALSE, date('now'), time('now'), text", 0 },
	{ "SELECT broadcast FROM t -- a comment\n", "SELECT broadcast FROM t -- a comment\n", 0 },

	/* Parameters. */
	{ "SELECT $1", "SELECT ?1", 1 },
	{ "SELECT $1, $12, $3", "SELECT ?1, ?12, ?3", 12 },
	{ "SELECT '$1', \"$2\", $3 -- $4\n /* $5 */", "SELECT '$1', \"$2\", ?3 -- $4\n /* $5 */", 3 },
	{ "SELECT E'\\'$1', $2", "SELECT '''$1', ?2", 2 },
	{ "SELECT a$1 FROM t", "SELECT a$1 FROM t", 0 },
	{ "SELECT $99999999999", "SELECT ?99999999999", INT_MAX },
	{ "SELECT $name", "SELECT $name", 0 },
	{ "SELECT $", "SELECT $", 0 },

	/* Casts. */
	{ "SELECT x::int", "SELECT CAST(x AS INTEGER)", 0 },
	{ "SELECT $1::int8", "SELECT CAST(?1 AS INTEGER)", 1 },
	{ "SELECT '1'::int", "SELECT CAST('1' AS INTEGER)", 0 },
	{ "SELECT (a+b)::text", "SELECT CAST((a+b) AS TEXT)", 0 },
	{ "SELECT t.col::text FROM t", "SELECT CAST(t.col AS TEXT) FROM t", 0 },
	{ "SELECT s.t.\"Col\"::text", "SELECT CAST(s.t.\"Col\" AS TEXT)", 0 },
	{ "SELECT f(x)::int, pg_catalog.now()::text", "SELECT CAST(f(x) AS INTEGER), CAST(now() AS TEXT)", 0 },
	/* SQLite has no schema-qualified functions; pg_catalog's tables stay */
	{ "SELECT pg_catalog.set_config('search_path', '', false)", "SELECT set_config('search_path', '', false)", 0 },
	{ "SELECT PG_CATALOG . upper ('a') FROM pg_catalog.pg_class", "SELECT upper ('a') FROM pg_catalog.pg_class", 0 },
	{ "SELECT 'pg_catalog.f()', \"pg_catalog\".x", "SELECT 'pg_catalog.f()', \"pg_catalog\".x", 0 },
	{ "SELECT count(*)::int8 FROM t", "SELECT CAST(count(*) AS INTEGER) FROM t", 0 },
	{ "SELECT '5'::int::text", "SELECT CAST(CAST('5' AS INTEGER) AS TEXT)", 0 },
	{ "SELECT x::character varying", "SELECT CAST(x AS TEXT)", 0 },
	{ "SELECT x::double precision", "SELECT CAST(x AS REAL)", 0 },
	{ "SELECT x::varchar(10)", "SELECT CAST(x AS TEXT)", 0 },
	{ "SELECT x::numeric(10,2), y::numeric( 10 , 2 )", "SELECT CAST(x AS NUMERIC), CAST(y AS NUMERIC)", 0 },
	{ "SELECT x::timestamp with time zone", "SELECT CAST(x AS TEXT)", 0 },
	{ "SELECT x::timestamp(3) without time zone, y::time with time zone",
	  "SELECT CAST(x AS TEXT), CAST(y AS TEXT)", 0 },
	{ "SELECT x::timestamp AT TIME ZONE 'UTC'", "SELECT CAST(x AS TEXT) AT TIME ZONE 'UTC'", 0 },
	{ "SELECT x::TEXT, y::Float8, z::pg_catalog.int4", "SELECT CAST(x AS TEXT), CAST(y AS REAL), CAST(z AS INTEGER)", 0 },
	{ "SELECT x :: int, y::\"char\"", "SELECT CAST(x  AS INTEGER), CAST(y AS TEXT)", 0 },
	{ "SELECT 1.5::text, .5::float4, 1e3::int", "SELECT CAST(1.5 AS TEXT), CAST(.5 AS REAL), CAST(1e3 AS INTEGER)", 0 },
	{ "SELECT -1::int", "SELECT -CAST(1 AS INTEGER)", 0 },
	{ "SELECT a + b::int", "SELECT a + CAST(b AS INTEGER)", 0 },
	{ "SELECT a AND (b)::bool", "SELECT a AND CAST((b) AS INTEGER)", 0 },
	{ "SELECT x IN (1)::text", "SELECT x IN CAST((1) AS TEXT)", 0 },
	{ "SELECT ((a))::int", "SELECT CAST(((a)) AS INTEGER)", 0 },
	{ "SELECT f(a::int)::text", "SELECT CAST(f(CAST(a AS INTEGER)) AS TEXT)", 0 },
	{ "SELECT x[1]::int", "SELECT CAST(x[1] AS INTEGER)", 0 },
	{ "SELECT CASE WHEN a THEN 1 ELSE 2 END::text", "SELECT CAST(CASE WHEN a THEN 1 ELSE 2 END AS TEXT)", 0 },
	{ "SELECT NULL::int, CURRENT_TIMESTAMP::date", "SELECT CAST(NULL AS INTEGER), CAST(CURRENT_TIMESTAMP AS TEXT)", 0 },
	{ "SELECT \"c\"::uuid, x::json, y::jsonb, z::bytea",
	  "SELECT CAST(\"c\" AS TEXT), CAST(x AS TEXT), CAST(y AS TEXT), CAST(z AS BLOB)", 0 },
	{ "SELECT 'now'::date, 'a'::name, 1::oid, 't'::regclass",
	  "SELECT CAST('now' AS TEXT), CAST('a' AS TEXT), CAST(1 AS INTEGER), CAST('t' AS INTEGER)", 0 },
	{ "SELECT x::int /* c */ FROM t", "SELECT CAST(x AS INTEGER) /* c */ FROM t", 0 },
	{ "SELECT x /* c */ ::int", "SELECT CAST(x /* c */  AS INTEGER)", 0 },
	/* Left alone: arrays, unknown types, no operand. */
	{ "SELECT x::int[], y::text[3], z::int [ ]", "SELECT x::int[], y::text[3], z::int [ ]", 0 },
	{ "SELECT x::foo, y::foo::int", "SELECT x::foo, y::foo::int", 0 },
	{ "SELECT '{1}'::int[]::text", "SELECT '{1}'::int[]::text", 0 },
	{ "SELECT ::int, x::", "SELECT ::int, x::", 0 },
	{ "SELECT x::myschema.int", "SELECT x::myschema.int", 0 },
	{ "SELECT 'a'::text::foo::int", "SELECT CAST('a' AS TEXT)::foo::int", 0 },

	/* bool and bytea literals. */
	{ "SELECT 't'::bool, 'f'::bool", "SELECT 1, 0", 0 },
	{ "SELECT 'TRUE'::boolean, ' yes '::bool, 'on'::bool, '1'::bool, 'tr'::bool", "SELECT 1, 1, 1, 1, 1", 0 },
	{ "SELECT 'false'::bool, 'NO'::bool, 'off'::bool, '0'::bool, 'of'::bool", "SELECT 0, 0, 0, 0, 0", 0 },
	{ "SELECT 'o'::bool, 'x'::bool, ''::bool, 'truex'::bool",
	  "SELECT CAST('o' AS INTEGER), CAST('x' AS INTEGER), CAST('' AS INTEGER), CAST('truex' AS INTEGER)", 0 },
	{ "SELECT x::bool, 1::bool", "SELECT CAST(x AS INTEGER), CAST(1 AS INTEGER)", 0 },
	{ "SELECT 't'::bool::int", "SELECT CAST(1 AS INTEGER)", 0 },
	{ "SELECT '\\x0102'::bytea", "SELECT X'0102'", 0 },
	{ "SELECT '\\xDEADbeef'::bytea, '\\x'::bytea, '\\x01 02'::bytea", "SELECT X'DEADbeef', X'', X'0102'", 0 },
	{ "SELECT '\\x012'::bytea, '\\x0 1'::bytea, 'abc'::bytea, '\\X01'::bytea",
	  "SELECT CAST('\\x012' AS BLOB), CAST('\\x0 1' AS BLOB), CAST('abc' AS BLOB), CAST('\\X01' AS BLOB)", 0 },
	{ "SELECT E'\\\\x41'::bytea", "SELECT X'41'", 0 },
	{ "SELECT ('t')::bool", "SELECT CAST(('t') AS INTEGER)", 0 },

	/* Type literals. */
	{ "SELECT int8 '5', bytea '\\x01', text 'a', boolean 't'",
	  "SELECT CAST('5' AS INTEGER), X'01', CAST('a' AS TEXT), 1", 0 },
	{ "SELECT double precision '1.5', timestamp with time zone '2024-01-02 03:04:05+00'",
	  "SELECT CAST('1.5' AS REAL), CAST('2024-01-02 03:04:05+00' AS TEXT)", 0 },
	{ "SELECT DATE '2024-01-02', varchar(3) 'abc', int4 E'4\\n'",
	  "SELECT CAST('2024-01-02' AS TEXT), CAST('abc' AS TEXT), CAST('4\n' AS INTEGER)", 0 },
	{ "SELECT int8 '5'::text", "SELECT CAST(CAST('5' AS INTEGER) AS TEXT)", 0 },
	{ "SELECT interval '1 day', foo 'x', t.text 'y'", "SELECT interval '1 day', foo 'x', t.text 'y'", 0 },
	{ "SELECT text $$a'b$$, bool 'maybe'", "SELECT CAST('a''b' AS TEXT), CAST('maybe' AS INTEGER)", 0 },
	{ "SET TIME ZONE 'UTC'", "SET TIME ZONE 'UTC'", 0 },

	/* CAST( … AS type ). */
	{ "SELECT CAST(x AS timestamp), CAST(y AS int8), cast ( z as double precision )",
	  "SELECT CAST(x AS TEXT), CAST(y AS INTEGER), cast ( z as REAL )", 0 },
	{ "SELECT CAST('t' AS boolean), CAST( 'off' AS bool ), CAST('\\x01' AS bytea)", "SELECT 1, 0, X'01'", 0 },
	{ "SELECT CAST('x' AS bool), CAST(a AS bool), CAST('t' || 'x' AS bool)",
	  "SELECT CAST('x' AS INTEGER), CAST(a AS INTEGER), CAST('t' || 'x' AS INTEGER)", 0 },
	{ "SELECT CAST(x AS foo), CAST(y AS int[]), CAST(1 AS int)::text",
	  "SELECT CAST(x AS foo), CAST(y AS int[]), CAST(CAST(1 AS INTEGER) AS TEXT)", 0 },
	{ "SELECT CAST((SELECT a AS b FROM t) AS text)", "SELECT CAST((SELECT a AS b FROM t) AS TEXT)", 0 },
	{ "SELECT CAST(CASE WHEN a THEN 1 END AS text)", "SELECT CAST(CASE WHEN a THEN 1 END AS TEXT)", 0 },

	/* E'…' strings. */
	{ "SELECT E'a\\nb'", "SELECT 'a\nb'", 0 },
	{ "SELECT e'\\b\\f\\r\\t\\\\\\\"\\q'", "SELECT '\b\f\r\t\\\"q'", 0 },
	{ "SELECT E'it\\'s', E'it''s'", "SELECT 'it''s', 'it''s'", 0 },
	{ "SELECT E'\\x41\\x4a4\\xg', E'\\101\\7\\0101'", "SELECT 'AJ4xg', 'A\a\b1'", 0 },
	{ "SELECT E'\\u00e9\\U0001F600\\uD83D\\uDE00'", "SELECT '\xc3\xa9\xf0\x9f\x98\x80\xf0\x9f\x98\x80'", 0 },
	{ "SELECT E'\\303\\251'", "SELECT '\xc3\xa9'", 0 },
	{ "SELECT E'x'::int", "SELECT CAST('x' AS INTEGER)", 0 },
	{ "SELECT E''", "SELECT ''", 0 },
	/* Invalid in PostgreSQL: an error marker SQLite cannot run. */
	{ "SELECT E'\\000', E'a\\x00', E'\\u0000'", "SELECT " BAD ", " BAD ", " BAD, 0 },
	{ "SELECT E'\\uD83D', E'\\uDE00', E'\\u12', E'\\U00110000', E'\\uD83Dx'",
	  "SELECT " BAD ", " BAD ", " BAD ", " BAD ", " BAD, 0 },
	{ "SELECT E'\\xff', E'\\300\\200', E'\\000'::int", "SELECT " BAD ", " BAD ", CAST(" BAD " AS INTEGER)", 0 },
	{ "SELECT E'unterminated\\'", "SELECT E'unterminated\\'", 0 },
	{ "SELECT somee'x'", "SELECT somee'x'", 0 },

	/* Other strings, identifiers, comments. */
	{ "SELECT $$it's$$, $t$a$$b$t$, $q$ $1 'x' $q$", "SELECT 'it''s', 'a$$b', ' $1 ''x'' '", 0 },
	{ "SELECT $$unterminated $1", "SELECT $$unterminated $1", 0 },
	{ "SELECT $1$x$1$", "SELECT ?1$x$1$", 1 },
	{ "SELECT N'abc'::text, B'101', X'0A', U&'d\\0061t'", "SELECT CAST('abc' AS TEXT), B'101', X'0A', U&'d\\0061t'", 0 },
	{ "SELECT \"a::int\", 'b::int', \"E'x'\"", "SELECT \"a::int\", 'b::int', \"E'x'\"", 0 },
	{ "SELECT 1 /* x::int $1 /* nested */ E'x' */, 2", "SELECT 1  , 2", 0 },
	{ "SELECT 1 /* x::int $1 */ -- $2 ::int\n", "SELECT 1 /* x::int $1 */ -- $2 ::int\n", 0 },
	{ "SELECT 1 /* unterminated /* $1", "SELECT 1 /* unterminated /* $1", 0 },
	{ "SELECT 'unterminated $1", "SELECT 'unterminated $1", 0 },

	/* Named notation in calls of sluice's own functions only. */
	{ "SELECT sluice_promote(force => true)", "SELECT sluice_promote( true)", 0 },
	{ "SELECT SLUICE_PROMOTE( force=>$1 )", "SELECT SLUICE_PROMOTE( ?1 )", 1 },
	{ "SELECT sluice_drop_follower(name => 'n2')", "SELECT sluice_drop_follower( 'n2')", 0 },
	{ "SELECT make_interval(days => 1)", "SELECT make_interval(days => 1)", 0 },
	{ "SELECT sluice_promote((force => 1))", "SELECT sluice_promote((force => 1))", 0 },
	{ "SELECT 'a => b', sluice_x('force => 1')", "SELECT 'a => b', sluice_x('force => 1')", 0 },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int mp = -7;
		char *got = sql_rewrite(cases[k].in, strlen(cases[k].in), &mp);
		assert_non_null(got);
		if (strcmp(got, cases[k].out) != 0)
			fail_msg("case %zu:\n  in   [%s]\n  got  [%s]\n  want [%s]", k, cases[k].in, got, cases[k].out);
		if (mp != cases[k].max_param)
			fail_msg("case %zu (%s): max_param %d, want %d", k, cases[k].in, mp, cases[k].max_param);
		free(got);
		/* max_param is optional. */
		got = sql_rewrite(cases[k].in, strlen(cases[k].in), NULL);
		assert_string_equal(got, cases[k].out);
		free(got);
	}
}

static void test_length_bounds_input(void **state)
{
	(void)state;
	int mp;
	char *got = sql_rewrite("SELECT $1::int; $2", 8, &mp);
	assert_string_equal(got, "SELECT $");
	assert_int_equal(mp, 0);
	free(got);
	got = sql_rewrite("SELECT $12", 9, &mp);
	assert_string_equal(got, "SELECT ?1");
	assert_int_equal(mp, 1);
	free(got);
	got = sql_rewrite(NULL, 0, &mp);
	assert_string_equal(got, "");
	free(got);
	/* Embedded NUL bytes are copied. */
	got = sql_rewrite("a\0 $1", 5, &mp);
	assert_memory_equal(got, "a\0 ?1", 6);
	free(got);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	/* A cast right after a group closed past the tracked depth is left
	 * alone; inside and outside such groups casts work. */
	char in[400], want[400];
	size_t n0 = 0, n1 = 0;
	memset(in, '(', 100);
	n0 = 100;
	n0 += (size_t)sprintf(in + n0, "y::int");
	memset(in + n0, ')', 30);
	n0 += 30;
	n0 += (size_t)sprintf(in + n0, "::int");
	memset(in + n0, ')', 70);
	n0 += 70;
	strcpy(in + n0, "::text");
	n1 = (size_t)sprintf(want, "CAST(");
	memset(want + n1, '(', 100);
	n1 += 100;
	n1 += (size_t)sprintf(want + n1, "CAST(y AS INTEGER)");
	memset(want + n1, ')', 30);
	n1 += 30;
	n1 += (size_t)sprintf(want + n1, "::int");
	memset(want + n1, ')', 70);
	n1 += 70;
	strcpy(want + n1, " AS TEXT)");
	char *got = sql_rewrite(in, strlen(in), NULL);
	assert_string_equal(got, want);
	free(got);
	/* At the tracked depth it works. */
	memset(in, '(', 10);
	strcpy(in + 10, "x");
	memset(in + 11, ')', 10);
	strcpy(in + 21, "::text");
	memset(want, 0, sizeof(want));
	strcpy(want, "CAST(((((((((((x)))))))))) AS TEXT)");
	got = sql_rewrite(in, strlen(in), NULL);
	assert_string_equal(got, want);
	free(got);
	/* A chain of casts nests up to 16 deep; the rest stays as written. */
	strcpy(in, "x");
	strcpy(want, "x");
	for (int k = 0; k < 18; k++) {
		strcat(in, "::int");
		if (k < 16) {
			memmove(want + 5, want, strlen(want) + 1);
			memcpy(want, "CAST(", 5);
			strcat(want, " AS INTEGER)");
		} else {
			strcat(want, "::int");
		}
	}
	got = sql_rewrite(in, strlen(in), NULL);
	assert_string_equal(got, want);
	free(got);
	/* Many casts and a long input grow the buffer. */
	size_t n = 20000;
	char *big = malloc(n * 8 + 1);
	for (size_t k = 0; k < n; k++)
		memcpy(big + k * 8, "$1::int,", 8);
	big[n * 8] = '\0';
	int mp;
	got = sql_rewrite(big, n * 8, &mp);
	assert_int_equal(mp, 1);
	assert_int_equal(strlen(got), n * strlen("CAST(?1 AS INTEGER),"));
	assert_memory_equal(got, "CAST(?1 AS INTEGER),CAST(?1 AS INTEGER),", 40);
	free(got);
	free(big);
}

static void test_type_map(void **state)
{
	(void)state;
	static const char *const map[][2] = {
		{ "int", "INTEGER" }, { "int2", "INTEGER" }, { "int4", "INTEGER" }, { "int8", "INTEGER" },
		{ "integer", "INTEGER" }, { "smallint", "INTEGER" }, { "bigint", "INTEGER" }, { "serial", "INTEGER" },
		{ "serial2", "INTEGER" }, { "serial4", "INTEGER" }, { "serial8", "INTEGER" }, { "smallserial", "INTEGER" },
		{ "bigserial", "INTEGER" }, { "real", "REAL" }, { "float", "REAL" }, { "float4", "REAL" },
		{ "float8", "REAL" }, { "double precision", "REAL" }, { "numeric", "NUMERIC" },
		{ "numeric(10,2)", "NUMERIC" }, { "decimal", "NUMERIC" }, { "decimal(5)", "NUMERIC" },
		{ "text", "TEXT" }, { "varchar", "TEXT" }, { "varchar(10)", "TEXT" }, { "char", "TEXT" },
		{ "char(3)", "TEXT" }, { "character", "TEXT" }, { "character varying", "TEXT" },
		{ "character varying(20)", "TEXT" }, { "bpchar", "TEXT" }, { "name", "TEXT" }, { "uuid", "TEXT" },
		{ "json", "TEXT" }, { "jsonb", "TEXT" }, { "date", "TEXT" }, { "timestamp", "TEXT" },
		{ "timestamptz", "TEXT" }, { "timestamp with time zone", "TEXT" },
		{ "timestamp without time zone", "TEXT" }, { "timestamp(6) with time zone", "TEXT" },
		{ "time", "TEXT" }, { "timetz", "TEXT" }, { "time with time zone", "TEXT" },
		{ "time without time zone", "TEXT" }, { "interval", "TEXT" }, { "bytea", "BLOB" },
		{ "bool", "INTEGER" }, { "boolean", "INTEGER" }, { "regclass", "INTEGER" }, { "oid", "INTEGER" },
		{ "citext", "TEXT" }, { "inet", "TEXT" }, { "cidr", "TEXT" }, { "macaddr", "TEXT" }, { "xml", "TEXT" },
		{ "INT8", "INTEGER" }, { "  Double   Precision  ", "REAL" }, { "pg_catalog.int4", "INTEGER" },
		{ "\"char\"", "TEXT" }, { "varchar /* c */ (10)", "TEXT" },
	};
	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		const char *got = sql_rewrite_type(map[k][0], strlen(map[k][0]));
		if (!got || strcmp(got, map[k][1]) != 0)
			fail_msg("%s: got %s, want %s", map[k][0], got ? got : "NULL", map[k][1]);
	}
	static const char *const unknown[] = { "", " ", "foo", "int[]", "int4 []", "text[3]", "double", "int8 x",
		                               "varchar(x)", "\"INT4\"", "myschema.int4", "character varying x",
		                               "timestamp with", "(", "'int'", "int4 ARRAY", "bit varying",
		                               "national character" };
	for (size_t k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++)
		if (sql_rewrite_type(unknown[k], strlen(unknown[k])) != NULL)
			fail_msg("[%s] should be unknown", unknown[k]);
	assert_string_equal(sql_rewrite_type("int8 garbage", 4), "INTEGER");
}

/* ------------------------------------------------- properties and bounds */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

static const char *const fragments[] = {
	"SELECT", " ", "x", "::", "int", "text", "bool", "bytea", "double", "precision", "[]", "(", ")", "[",
	"]", "'", "''", "'t'", "'\\x01'", "E'", "\\", "\\x", "\\u", "\\U", "\\0", "$", "$1", "$$", "$t$", "\"",
	"--", "\n", "/*", "*/", "CAST", "AS", "CASE", "END", ".", ",", "int8 '5'", "with time zone", "e", "N'",
	"\xff", "\xc3\xa9", "9", "0.5e+3",
};

static void check_output(const char *in, size_t len, uint64_t seed)
{
	int mp = -1;
	char *got = sql_rewrite(in, len, &mp);
	if (!got)
		fail_msg("seed %llu: NULL", (unsigned long long)seed);
	assert_true(mp >= 0);
	/* Without '$' there are no parameters; with no trigger at all the text is unchanged. */
	if (!memchr(in, '$', len))
		assert_int_equal(mp, 0);
	free(got);
}

static void test_random(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20000; seed++) {
		char buf[400];
		size_t n = 0, pieces;
		rng_state = seed;
		pieces = rng() % 16;
		for (size_t k = 0; k < pieces; k++) {
			if (rng() % 10 == 0) {
				buf[n++] = (char)(rng() % 256);
				continue;
			}
			const char *f = fragments[rng() % (sizeof(fragments) / sizeof(fragments[0]))];
			size_t fl = strlen(f);
			if (n + fl > sizeof(buf))
				break;
			memcpy(buf + n, f, fl);
			n += fl;
		}
		/* From an exact-size copy, so any overread is caught. */
		char *p = malloc(n > 0 ? n : 1);
		memcpy(p, buf, n);
		check_output(p, n, seed);
		free(p);
	}
}

static void test_prefixes(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *in = cases[k].in;
		size_t len = strlen(in);
		for (size_t n = 0; n <= len; n++) {
			char *p = malloc(n > 0 ? n : 1);
			assert_non_null(p);
			memcpy(p, in, n);
			int mp;
			char *got = sql_rewrite(p, n, &mp);
			assert_non_null(got);
			free(got);
			sql_rewrite_type(p, n);
			free(p);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_length_bounds_input),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_type_map),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
