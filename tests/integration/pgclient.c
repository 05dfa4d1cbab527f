/*
 * pgclient.c — a libpq client that drives sluiced in the integration tests.
 *
 * Each subcommand exercises one part of the PostgreSQL v3 protocol through
 * libpq (or, for `rawbytes`, through a bare TCP socket), prints what it got
 * and exits 1 on the first fatal problem or after all checks when any check
 * failed; 0 means every check passed. Usage:
 *
 *   pgclient CONNINFO SUBCOMMAND [ARGS...]
 *   pgclient SUBCOMMAND CONNINFO [ARGS...]          (same thing)
 *   pgclient rawbytes PORT HEXFILE|- [--ssl-request] [--startup USER]
 *                                    [--timeout-ms N] [--half-close]
 *
 * Subcommands taking CONNINFO:
 *   simple      empty query, several statements in one Query, error in the
 *               middle of a multi-statement Query
 *   extended    PQexecParams: text and binary params of int2/int4/int8/
 *               float4/float8/bool/bytea/text, binary and text results, NULLs,
 *               result type OIDs
 *   prepared    PQprepare/PQdescribePrepared/PQexecPrepared, many times
 *   pipeline    pipeline mode: ordering, an error aborts the rest until Sync
 *   cancel      PQcancel of SELECT pg_sleep(30) → 57014 within a deadline
 *   rowlimit    DECLARE/FETCH/CLOSE cursors and single-row mode
 *   txstatus    PQtransactionStatus through BEGIN, errors, savepoints
 *   params [follower]
 *               ParameterStatus values sent at start-up and after SET
 *   multihost   connects (e.g. with target_session_attrs) and prints the port
 *   connect     connects with verbose errors; prints "connected" or the error
 *               and "sqlstate=XXXXX"; exit 0 only when connected
 *   hold MS [SQL...]
 *               connects, runs each SQL, prints "connected", then holds the
 *               connection for MS ms; if the server closes it first, prints
 *               "closed sqlstate=XXXXX" and exits 2
 *   concurrent LONG_SQL [--cancel]
 *               sends LONG_SQL on one connection and meanwhile runs short
 *               queries on another for 1.5 s, each of which must finish within
 *               2 s while LONG_SQL is still running; then waits for LONG_SQL
 *               (or cancels it with --cancel and expects 57014)
 *
 * `rawbytes` sends the bytes given in hex (whitespace and #-comments ignored)
 * and prints one line per reply message ("R 0", "S name=value", "Z I",
 * "E 08P01 message", "D v1|v2", "C tag", other types as "T len=N") then "EOF"
 * (server closed), "RESET" (connection reset) or "TIMEOUT" (still open at
 * the deadline, exit 3). With --startup it first sends a startup packet for
 * USER and prints the replies up to the first ReadyForQuery (or error)
 * before sending the bytes; --ssl-request sends an SSLRequest before that and
 * prints the answer ("SSL N").
 *
 * Environment: PGCLIENT_DIALECT=postgres declares columns with PostgreSQL
 * type names (BIGINT, DOUBLE PRECISION, BYTEA) so that the same checks can
 * be run against a real PostgreSQL to validate this program; by default
 * columns are declared INTEGER, REAL, TEXT, BLOB as sluice maps them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701

static int failures;
static bool real_pg;

/* ------------------------------------------------------------ helpers */

static void check_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_fail(int line, const char *fmt, ...)
{
	va_list ap;
	failures++;
	printf("FAIL (pgclient.c:%d): ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define CHECK(cond, ...)                                \
	do {                                            \
		if (!(cond))                            \
			check_fail(__LINE__, __VA_ARGS__); \
	} while (0)

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	printf("FATAL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

static const char *res_state(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

static const char *status_name(ExecStatusType st)
{
	return PQresStatus(st);
}

static PGconn *connect_or_die(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	if (!conn || PQstatus(conn) != CONNECTION_OK)
		die("cannot connect with '%s': %s", conninfo, conn ? PQerrorMessage(conn) : "out of memory");
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	return conn;
}

/* Runs sql, which must succeed; returns the result (caller clears). */
static PGresult *exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die("'%s' failed: %s %s", sql, status_name(st), PQresultErrorMessage(res));
	return res;
}

static void exec_void(PGconn *conn, const char *sql)
{
	PQclear(exec_ok(conn, sql));
}

/* Runs sql expecting an error with SQLSTATE state. */
static void exec_expect_error(PGconn *conn, const char *sql, const char *state)
{
	PGresult *res = PQexec(conn, sql);
	CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "'%s': expected an error %s, got %s", sql, state,
	      status_name(PQresultStatus(res)));
	CHECK(strcmp(res_state(res), state) == 0, "'%s': expected SQLSTATE %s, got '%s' (%s)", sql, state,
	      res_state(res), PQresultErrorMessage(res));
	PQclear(res);
}

static char *single_value(PGconn *conn, const char *sql)
{
	static char buf[4096];
	PGresult *res = exec_ok(conn, sql);
	if (PQntuples(res) != 1 || PQnfields(res) < 1)
		die("'%s': expected one row, got %d rows %d columns", sql, PQntuples(res), PQnfields(res));
	snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

static void expect_str(const char *what, const char *got, const char *want)
{
	if (!got || strcmp(got, want) != 0)
		check_fail(__LINE__, "%s: got '%s', want '%s'", what, nz(got), want);
}

/*
 * Waits until a result is ready or the deadline (absolute, ms) passes.
 * Returns the result, or NULL at the end of results; *timed_out tells which.
 */
static PGresult *get_result_by(PGconn *conn, int64_t deadline, bool *timed_out)
{
	*timed_out = false;
	for (;;) {
		if (!PQconsumeInput(conn))
			return PQgetResult(conn);
		if (!PQisBusy(conn))
			return PQgetResult(conn);
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = true;
			return NULL;
		}
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		if (poll(&pfd, 1, (int)(left > 100 ? 100 : left)) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
	}
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ------------------------------------------------------------ simple */

static int cmd_simple(PGconn *conn)
{
	PGresult *res = PQexec(conn, "");
	CHECK(PQresultStatus(res) == PGRES_EMPTY_QUERY, "empty query: got %s", status_name(PQresultStatus(res)));
	PQclear(res);
	res = PQexec(conn, "  ;  ");
	CHECK(PQresultStatus(res) == PGRES_EMPTY_QUERY, "';' query: got %s", status_name(PQresultStatus(res)));
	PQclear(res);
	printf("empty query ok\n");

	exec_void(conn, "DROP TABLE IF EXISTS simple_t");
	exec_void(conn, "CREATE TABLE simple_t (k INTEGER PRIMARY KEY, v TEXT)");

	/* Several statements in one Query: one result each, in order. */
	if (!PQsendQuery(conn, "INSERT INTO simple_t VALUES (1, 'a'); INSERT INTO simple_t VALUES (2, 'b'), (3, 'c'); "
			       "SELECT v FROM simple_t ORDER BY k; UPDATE simple_t SET v = 'z' WHERE k >= 2; "
			       "DELETE FROM simple_t WHERE k = 3"))
		die("PQsendQuery: %s", PQerrorMessage(conn));
	const char *want_tags[] = {"INSERT 0 1", "INSERT 0 2", "SELECT 3", "UPDATE 2", "DELETE 1"};
	int n = 0;
	bool to;
	int64_t deadline = now_ms() + 10000;
	while ((res = get_result_by(conn, deadline, &to)) != NULL) {
		printf("multi[%d]: %s %s\n", n, status_name(PQresultStatus(res)), PQcmdStatus(res));
		if (n < 5)
			expect_str("multi-statement command tag", PQcmdStatus(res), want_tags[n]);
		if (n == 2) {
			CHECK(PQntuples(res) == 3, "multi SELECT rows: %d", PQntuples(res));
			if (PQntuples(res) == 3) {
				expect_str("row 0", PQgetvalue(res, 0, 0), "a");
				expect_str("row 2", PQgetvalue(res, 2, 0), "c");
			}
		}
		n++;
		PQclear(res);
	}
	CHECK(!to, "multi-statement query timed out");
	CHECK(n == 5, "multi-statement query: %d results, want 5", n);
	expect_str("count after multi", single_value(conn, "SELECT count(*) FROM simple_t"), "2");

	/* An error in the middle stops the rest and undoes the whole Query
	 * (it runs as one implicit transaction). */
	if (!PQsendQuery(conn, "INSERT INTO simple_t VALUES (10, 'x'); INSERT INTO simple_t VALUES (1, 'dup'); "
			       "INSERT INTO simple_t VALUES (11, 'y')"))
		die("PQsendQuery: %s", PQerrorMessage(conn));
	n = 0;
	bool saw_error = false;
	while ((res = get_result_by(conn, deadline, &to)) != NULL) {
		printf("multi-err[%d]: %s %s %s\n", n, status_name(PQresultStatus(res)), PQcmdStatus(res),
		       res_state(res));
		if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
			saw_error = true;
			expect_str("duplicate key SQLSTATE", res_state(res), "23505");
		}
		n++;
		PQclear(res);
	}
	CHECK(!to, "multi-statement query with error timed out");
	CHECK(saw_error, "multi-statement query with duplicate key gave no error");
	CHECK(n == 2, "multi-statement query with error: %d results, want 2 (stop at the error)", n);
	expect_str("rows after failed multi-statement query (implicit transaction rolled back)",
		   single_value(conn, "SELECT count(*) FROM simple_t WHERE k >= 10"), "0");
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE, "not idle after failed multi-statement query");
	expect_str("connection usable", single_value(conn, "SELECT 7"), "7");
	return 0;
}

/* ------------------------------------------------------------ extended */

struct colspec {
	const char *name;
	Oid oid;
};

static const struct colspec ext_cols[] = {
	{"id", OID_INT8},      {"c_i2", OID_INT8},      {"c_i4", OID_INT8},   {"c_i8", OID_INT8},  {"c_f4", OID_FLOAT8},
	{"c_f8", OID_FLOAT8},  {"c_bool", OID_BOOL},    {"c_bytea", OID_BYTEA}, {"c_text", OID_TEXT},
};
#define EXT_NCOLS ((int)(sizeof ext_cols / sizeof ext_cols[0]))

static const uint8_t ext_bytes[] = {0x00, 0x01, 0xff, 0x00, 0x7f};
static const char ext_text[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93";

static int64_t bin_int8(const PGresult *res, int r, int c)
{
	if (PQgetlength(res, r, c) != 8) {
		check_fail(__LINE__, "column %s row %d: binary int8 of length %d", PQfname(res, c), r,
			   PQgetlength(res, r, c));
		return 0;
	}
	return (int64_t)get_be64((const uint8_t *)PQgetvalue(res, r, c));
}

static double bin_float8(const PGresult *res, int r, int c)
{
	if (PQgetlength(res, r, c) != 8) {
		check_fail(__LINE__, "column %s row %d: binary float8 of length %d", PQfname(res, c), r,
			   PQgetlength(res, r, c));
		return 0;
	}
	uint64_t u = get_be64((const uint8_t *)PQgetvalue(res, r, c));
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static void check_ext_row_binary(const PGresult *res, int r, int64_t id)
{
	printf("binary row id=%" PRId64 "\n", id);
	CHECK(bin_int8(res, r, 0) == id, "id: got %" PRId64, bin_int8(res, r, 0));
	if (id == 1) {
		CHECK(bin_int8(res, r, 1) == -32768, "c_i2: got %" PRId64, bin_int8(res, r, 1));
		CHECK(bin_int8(res, r, 2) == 2147483647, "c_i4: got %" PRId64, bin_int8(res, r, 2));
		CHECK(bin_int8(res, r, 3) == INT64_MIN, "c_i8: got %" PRId64, bin_int8(res, r, 3));
		CHECK(bin_float8(res, r, 4) == 1.5, "c_f4: got %g", bin_float8(res, r, 4));
		CHECK(bin_float8(res, r, 5) == -2.25, "c_f8: got %g", bin_float8(res, r, 5));
		CHECK(PQgetlength(res, r, 6) == 1 && PQgetvalue(res, r, 6)[0] == 1, "c_bool: not binary true");
		CHECK(PQgetlength(res, r, 7) == (int)sizeof ext_bytes &&
			      memcmp(PQgetvalue(res, r, 7), ext_bytes, sizeof ext_bytes) == 0,
		      "c_bytea: %d bytes, not the 5 bytes sent", PQgetlength(res, r, 7));
		expect_str("c_text", PQgetvalue(res, r, 8), ext_text);
		CHECK(PQgetlength(res, r, 8) == (int)strlen(ext_text), "c_text length %d", PQgetlength(res, r, 8));
	} else if (id == 2) {
		CHECK(bin_int8(res, r, 1) == 32767, "c_i2: got %" PRId64, bin_int8(res, r, 1));
		CHECK(bin_int8(res, r, 2) == -2147483648LL, "c_i4: got %" PRId64, bin_int8(res, r, 2));
		CHECK(bin_int8(res, r, 3) == INT64_MAX, "c_i8: got %" PRId64, bin_int8(res, r, 3));
		CHECK(bin_float8(res, r, 4) == 0.5, "c_f4: got %g", bin_float8(res, r, 4));
		CHECK(bin_float8(res, r, 5) == 12345.25, "c_f8: got %g", bin_float8(res, r, 5));
		CHECK(PQgetlength(res, r, 6) == 1 && PQgetvalue(res, r, 6)[0] == 0, "c_bool: not binary false");
		CHECK(PQgetlength(res, r, 7) == 2 && memcmp(PQgetvalue(res, r, 7), "\x00\xff", 2) == 0,
		      "c_bytea: not 00ff (%d bytes)", PQgetlength(res, r, 7));
		expect_str("c_text", PQgetvalue(res, r, 8), "it's \"quoted\"");
	} else {
		CHECK(bin_int8(res, r, 3) == 42, "c_i8: got %" PRId64, bin_int8(res, r, 3));
		expect_str("c_text", PQgetvalue(res, r, 8), "plain");
		for (int c = 1; c < EXT_NCOLS; c++) {
			if (c == 3 || c == 8)
				continue;
			CHECK(PQgetisnull(res, r, c), "row 3 column %s should be NULL", PQfname(res, c));
		}
	}
}

static int cmd_extended(PGconn *conn)
{
	exec_void(conn, "DROP TABLE IF EXISTS ext_t");
	if (real_pg)
		exec_void(conn, "CREATE TABLE ext_t (id BIGINT PRIMARY KEY, c_i2 BIGINT, c_i4 BIGINT, c_i8 BIGINT, "
				"c_f4 DOUBLE PRECISION, c_f8 DOUBLE PRECISION, c_bool BOOLEAN, c_bytea BYTEA, c_text TEXT)");
	else
		exec_void(conn, "CREATE TABLE ext_t (id INTEGER PRIMARY KEY, c_i2 INTEGER, c_i4 INTEGER, c_i8 INTEGER, "
				"c_f4 REAL, c_f8 REAL, c_bool BOOLEAN, c_bytea BLOB, c_text TEXT)");
	const char *ins = "INSERT INTO ext_t (id, c_i2, c_i4, c_i8, c_f4, c_f8, c_bool, c_bytea, c_text) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
	Oid types[9] = {OID_INT8, OID_INT2, OID_INT4, OID_INT8, OID_FLOAT4, OID_FLOAT8, OID_BOOL, OID_BYTEA, OID_TEXT};

	/* Row 1: every parameter in binary. */
	uint8_t b_id[8], b_i2[2], b_i4[4], b_i8[8], b_f4[4], b_f8[8], b_bool[1] = {1};
	put_be64(b_id, 1);
	put_be16(b_i2, (uint16_t)(int16_t)-32768);
	put_be32(b_i4, 2147483647u);
	put_be64(b_i8, (uint64_t)INT64_MIN);
	float f4 = 1.5f;
	uint32_t u4;
	memcpy(&u4, &f4, 4);
	put_be32(b_f4, u4);
	double f8 = -2.25;
	uint64_t u8;
	memcpy(&u8, &f8, 8);
	put_be64(b_f8, u8);
	const char *vals1[9] = {(char *)b_id, (char *)b_i2, (char *)b_i4, (char *)b_i8, (char *)b_f4,
				(char *)b_f8, (char *)b_bool, (const char *)ext_bytes, ext_text};
	int lens1[9] = {8, 2, 4, 8, 4, 8, 1, (int)sizeof ext_bytes, (int)strlen(ext_text)};
	int fmts1[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	PGresult *res = PQexecParams(conn, ins, 9, types, vals1, lens1, fmts1, 0);
	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "binary insert: %s %s", status_name(PQresultStatus(res)),
	      PQresultErrorMessage(res));
	expect_str("binary insert tag", PQcmdStatus(res), "INSERT 0 1");
	expect_str("binary insert rows", PQcmdTuples(res), "1");
	PQclear(res);

	/* Row 2: every parameter typed, in text. */
	const char *vals2[9] = {"2", "32767", "-2147483648", "9223372036854775807", "0.5", "12345.25", "f", "\\x00ff",
				"it's \"quoted\""};
	res = PQexecParams(conn, ins, 9, types, vals2, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "text insert: %s %s", status_name(PQresultStatus(res)),
	      PQresultErrorMessage(res));
	PQclear(res);

	/* Row 3: untyped text parameters and NULLs (binary NULL too). */
	const char *vals3[9] = {"3", NULL, NULL, "42", NULL, NULL, NULL, NULL, "plain"};
	int fmts3[9] = {0, 1, 1, 0, 1, 1, 1, 1, 0};
	res = PQexecParams(conn, ins, 9, NULL, vals3, NULL, fmts3, 0);
	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "untyped/NULL insert: %s %s", status_name(PQresultStatus(res)),
	      PQresultErrorMessage(res));
	PQclear(res);
	printf("inserted 3 rows\n");

	/* Binary results. */
	const char *sel = "SELECT id, c_i2, c_i4, c_i8, c_f4, c_f8, c_bool, c_bytea, c_text FROM ext_t "
			  "WHERE id >= $1 ORDER BY id";
	uint8_t b_one[8];
	put_be64(b_one, 1);
	const char *selv[1] = {(char *)b_one};
	int sell[1] = {8}, self[1] = {1};
	Oid selt[1] = {OID_INT8};
	res = PQexecParams(conn, sel, 1, selt, selv, sell, self, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("binary select: %s %s", status_name(PQresultStatus(res)), PQresultErrorMessage(res));
	CHECK(PQnfields(res) == EXT_NCOLS, "nfields %d", PQnfields(res));
	CHECK(PQntuples(res) == 3, "ntuples %d", PQntuples(res));
	for (int c = 0; c < EXT_NCOLS && c < PQnfields(res); c++) {
		printf("column %s type %u format %d\n", PQfname(res, c), PQftype(res, c), PQfformat(res, c));
		expect_str("column name", PQfname(res, c), ext_cols[c].name);
		CHECK(PQftype(res, c) == ext_cols[c].oid, "column %s: type OID %u, want %u", ext_cols[c].name,
		      PQftype(res, c), ext_cols[c].oid);
		CHECK(PQfformat(res, c) == 1, "column %s: format %d, want binary", ext_cols[c].name, PQfformat(res, c));
	}
	if (PQnfields(res) == EXT_NCOLS)
		for (int r = 0; r < PQntuples(res); r++)
			check_ext_row_binary(res, r, r + 1);
	PQclear(res);

	/* Text results of the same rows. */
	const char *one = "1";
	res = PQexecParams(conn, sel, 1, NULL, &one, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("text select: %s %s", status_name(PQresultStatus(res)), PQresultErrorMessage(res));
	CHECK(PQntuples(res) == 3 && PQnfields(res) == EXT_NCOLS, "text select shape %dx%d", PQntuples(res),
	      PQnfields(res));
	if (PQntuples(res) == 3 && PQnfields(res) == EXT_NCOLS) {
		const char *want[2][9] = {
			{"1", "-32768", "2147483647", "-9223372036854775808", "1.5", "-2.25", "t", "\\x0001ff007f",
			 ext_text},
			{"2", "32767", "-2147483648", "9223372036854775807", "0.5", "12345.25", "f", "\\x00ff",
			 "it's \"quoted\""},
		};
		for (int r = 0; r < 2; r++)
			for (int c = 0; c < EXT_NCOLS; c++) {
				char what[64];
				snprintf(what, sizeof what, "text row %d %s", r + 1, ext_cols[c].name);
				expect_str(what, PQgetvalue(res, r, c), want[r][c]);
			}
		CHECK(PQgetisnull(res, 2, 1) && PQgetisnull(res, 2, 6) && PQgetisnull(res, 2, 7),
		      "row 3 NULLs not NULL in text");
		expect_str("row 3 c_i8 text", PQgetvalue(res, 2, 3), "42");
	}
	PQclear(res);

	/* A NULL parameter compares as NULL; expressions over parameters. */
	res = PQexecParams(conn, "SELECT count(*) FROM ext_t WHERE c_f4 IS NULL", 0, NULL, NULL, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "1") == 0,
	      "count of NULL c_f4: %s", PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "error");
	PQclear(res);
	uint8_t b_41[8];
	put_be64(b_41, 41);
	const char *v41[1] = {(char *)b_41};
	int l41[1] = {8}, f41[1] = {1};
	Oid t41[1] = {OID_INT8};
	res = PQexecParams(conn, "SELECT $1 + 1", 1, t41, v41, l41, f41, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "42") == 0,
	      "SELECT $1 + 1 with binary 41: %s %s", status_name(PQresultStatus(res)),
	      PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : PQresultErrorMessage(res));
	PQclear(res);
	const char *vnull[1] = {NULL};
	res = PQexecParams(conn, "SELECT count(*) FROM ext_t WHERE c_i8 = $1", 1, t41, vnull, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "0") == 0,
	      "comparison with a NULL parameter matched rows");
	PQclear(res);

	/* Errors through the extended protocol keep the connection usable. */
	res = PQexecParams(conn, ins, 9, types, vals2, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR && strcmp(res_state(res), "23505") == 0,
	      "duplicate id via extended: %s '%s'", status_name(PQresultStatus(res)), res_state(res));
	PQclear(res);
	res = PQexecParams(conn, "SELECT nosuchcolumn FROM ext_t", 0, NULL, NULL, NULL, NULL, 0);
	expect_str("undefined column via extended", res_state(res), "42703");
	PQclear(res);
	res = PQexecParams(conn, "SELEC 1", 0, NULL, NULL, NULL, NULL, 0);
	expect_str("syntax error via extended", res_state(res), "42601");
	PQclear(res);
	expect_str("after errors", single_value(conn, "SELECT count(*) FROM ext_t"), "3");
	return 0;
}

/* ------------------------------------------------------------ prepared */

static int cmd_prepared(PGconn *conn)
{
	enum { N = 500 };
	exec_void(conn, "DROP TABLE IF EXISTS prep_t");
	exec_void(conn, real_pg ? "CREATE TABLE prep_t (k BIGINT PRIMARY KEY, v TEXT NOT NULL)"
				: "CREATE TABLE prep_t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	Oid ins_types[2] = {OID_INT8, OID_TEXT};
	PGresult *res = PQprepare(conn, "ins", "INSERT INTO prep_t (k, v) VALUES ($1, $2)", 2, ins_types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("prepare ins: %s", PQresultErrorMessage(res));
	PQclear(res);
	res = PQdescribePrepared(conn, "ins");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("describe ins: %s", PQresultErrorMessage(res));
	printf("ins: nparams=%d nfields=%d\n", PQnparams(res), PQnfields(res));
	CHECK(PQnparams(res) == 2, "ins nparams %d", PQnparams(res));
	CHECK(PQnfields(res) == 0, "ins nfields %d", PQnfields(res));
	if (PQnparams(res) == 2) {
		CHECK(PQparamtype(res, 0) == OID_INT8, "ins param 1 type %u", PQparamtype(res, 0));
		CHECK(PQparamtype(res, 1) == OID_TEXT, "ins param 2 type %u", PQparamtype(res, 1));
	}
	PQclear(res);

	res = PQprepare(conn, "sel", "SELECT k, v, length(v) AS len FROM prep_t WHERE k = $1", 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("prepare sel: %s", PQresultErrorMessage(res));
	PQclear(res);
	res = PQdescribePrepared(conn, "sel");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("describe sel: %s", PQresultErrorMessage(res));
	printf("sel: nparams=%d nfields=%d\n", PQnparams(res), PQnfields(res));
	CHECK(PQnparams(res) == 1, "sel nparams %d", PQnparams(res));
	CHECK(PQnfields(res) == 3, "sel nfields %d", PQnfields(res));
	if (PQnfields(res) == 3) {
		expect_str("sel field 0", PQfname(res, 0), "k");
		expect_str("sel field 1", PQfname(res, 1), "v");
		expect_str("sel field 2", PQfname(res, 2), "len");
		CHECK(PQftype(res, 0) == OID_INT8, "sel k type %u", PQftype(res, 0));
		CHECK(PQftype(res, 1) == OID_TEXT, "sel v type %u", PQftype(res, 1));
	}
	PQclear(res);

	for (int i = 1; i <= N; i++) {
		char k[32], v[64], len[24];
		snprintf(k, sizeof k, "%d", i);
		snprintf(v, sizeof v, "value-%d", i);
		snprintf(len, sizeof len, "%zu", strlen(v));
		const char *p[2] = {k, v};
		res = PQexecPrepared(conn, "ins", 2, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0) {
			check_fail(__LINE__, "exec ins %d: %s %s", i, status_name(PQresultStatus(res)),
				   PQresultErrorMessage(res));
			PQclear(res);
			break;
		}
		PQclear(res);
		res = PQexecPrepared(conn, "sel", 1, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		    strcmp(PQgetvalue(res, 0, 1), v) != 0 || strcmp(PQgetvalue(res, 0, 2), len) != 0) {
			check_fail(__LINE__, "exec sel %d: %s rows=%d %s", i, status_name(PQresultStatus(res)),
				   PQntuples(res), PQresultErrorMessage(res));
			PQclear(res);
			break;
		}
		PQclear(res);
	}
	printf("executed ins and sel %d times\n", N);

	const char *missing = "999999";
	res = PQexecPrepared(conn, "sel", 1, &missing, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0, "sel of a missing key: %s rows=%d",
	      status_name(PQresultStatus(res)), PQntuples(res));
	PQclear(res);

	const char *dup[2] = {"7", "again"};
	res = PQexecPrepared(conn, "ins", 2, dup, NULL, NULL, 0);
	expect_str("duplicate key through a prepared statement", res_state(res), "23505");
	PQclear(res);

	res = PQprepare(conn, "ins", "SELECT 1", 0, NULL);
	expect_str("preparing an existing name", res_state(res), "42P05");
	PQclear(res);
	res = PQdescribePrepared(conn, "nosuch");
	expect_str("describing an unknown statement", res_state(res), "26000");
	PQclear(res);
	res = PQexecPrepared(conn, "nosuch", 0, NULL, NULL, NULL, 0);
	expect_str("executing an unknown statement", res_state(res), "26000");
	PQclear(res);
	res = PQprepare(conn, "bad", "SELEC k FROM prep_t", 0, NULL);
	expect_str("preparing a syntax error", res_state(res), "42601");
	PQclear(res);
	res = PQprepare(conn, "bad", "SELECT k FROM no_such_table", 0, NULL);
	expect_str("preparing over a missing table", res_state(res), "42P01");
	PQclear(res);

	/* The unnamed statement. */
	res = PQprepare(conn, "", "SELECT count(*) FROM prep_t", 0, NULL);
	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "prepare unnamed: %s", PQresultErrorMessage(res));
	PQclear(res);
	res = PQexecPrepared(conn, "", 0, NULL, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "500") == 0,
	      "exec unnamed count: %s", PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : "error");
	PQclear(res);

	/* A statement survives a transaction and DEALLOCATE removes it. */
	exec_void(conn, "BEGIN");
	res = PQexecPrepared(conn, "sel", 1, &dup[0], NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "sel inside a transaction");
	PQclear(res);
	exec_void(conn, "COMMIT");
	exec_void(conn, "DEALLOCATE sel");
	res = PQexecPrepared(conn, "sel", 1, &dup[0], NULL, NULL, 0);
	expect_str("executing a deallocated statement", res_state(res), "26000");
	PQclear(res);

	/* Bind with the wrong number of parameters: a protocol error (last,
	 * as a server may close the connection for it). */
	res = PQexecPrepared(conn, "ins", 1, dup, NULL, NULL, 0);
	CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "bind with 1 of 2 parameters: %s",
	      status_name(PQresultStatus(res)));
	expect_str("bind with 1 of 2 parameters", res_state(res), "08P01");
	PQclear(res);
	return 0;
}

/* ------------------------------------------------------------ pipeline */

struct pexp {
	ExecStatusType st;
	const char *value; /* first value of a TUPLES_OK, or NULL */
	const char *state; /* SQLSTATE of an error */
};

static int cmd_pipeline(PGconn *conn)
{
	exec_void(conn, "DROP TABLE IF EXISTS pipe_t");
	exec_void(conn, "CREATE TABLE pipe_t (k INTEGER PRIMARY KEY, v TEXT)");
	if (!PQenterPipelineMode(conn))
		die("PQenterPipelineMode: %s", PQerrorMessage(conn));
	CHECK(PQpipelineStatus(conn) == PQ_PIPELINE_ON, "pipeline status not ON");

	struct pexp exp[64];
	int nexp = 0;
#define SEND(sql, nparams, vals, e_st, e_val, e_state)                                                   \
	do {                                                                                             \
		if (!PQsendQueryParams(conn, sql, nparams, NULL, vals, NULL, NULL, 0))                   \
			die("PQsendQueryParams %s: %s", sql, PQerrorMessage(conn));                      \
		exp[nexp++] = (struct pexp){e_st, e_val, e_state};                                       \
	} while (0)
#define SYNC()                                                                            \
	do {                                                                              \
		if (!PQpipelineSync(conn))                                                \
			die("PQpipelineSync: %s", PQerrorMessage(conn));                  \
		exp[nexp++] = (struct pexp){PGRES_PIPELINE_SYNC, NULL, NULL};             \
	} while (0)

	/* Segment 1: an error in the middle; what follows is aborted and the
	 * implicit transaction (up to the Sync) rolls back. */
	const char *k1[] = {"1"}, *k2[] = {"2"}, *k3[] = {"3"}, *k4[] = {"4"}, *k10[] = {"10"};
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'a')", 1, k1, PGRES_COMMAND_OK, NULL, NULL);
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'b')", 1, k2, PGRES_COMMAND_OK, NULL, NULL);
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'c')", 1, k3, PGRES_COMMAND_OK, NULL, NULL);
	SEND("SELECT count(*) FROM pipe_t", 0, NULL, PGRES_TUPLES_OK, "3", NULL);
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'dup')", 1, k1, PGRES_FATAL_ERROR, NULL, "23505");
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'd')", 1, k4, PGRES_PIPELINE_ABORTED, NULL, NULL);
	SEND("SELECT 'after error'", 0, NULL, PGRES_PIPELINE_ABORTED, NULL, NULL);
	SYNC();
	/* Segment 2: works again after the Sync. */
	SEND("INSERT INTO pipe_t (k, v) VALUES ($1, 'e')", 1, k10, PGRES_COMMAND_OK, NULL, NULL);
	SEND("SELECT count(*) FROM pipe_t", 0, NULL, PGRES_TUPLES_OK, "1", NULL);
	SYNC();
	/* Segment 3: many queries; results must come back in order. */
	static char nums[20][8];
	static const char *np[20][1];
	for (int i = 0; i < 20; i++) {
		snprintf(nums[i], sizeof nums[i], "%d", i * 7);
		np[i][0] = nums[i];
		SEND("SELECT $1", 1, np[i], PGRES_TUPLES_OK, nums[i], NULL);
	}
	SYNC();
#undef SEND
#undef SYNC
	if (PQflush(conn) != 0)
		die("PQflush: %s", PQerrorMessage(conn));

	int64_t deadline = now_ms() + 15000;
	for (int i = 0; i < nexp; i++) {
		bool to;
		PGresult *res = get_result_by(conn, deadline, &to);
		if (to)
			die("pipeline: timed out waiting for result %d", i);
		if (!res) {
			check_fail(__LINE__, "pipeline result %d: got end of results, want %s", i,
				   status_name(exp[i].st));
			break;
		}
		ExecStatusType st = PQresultStatus(res);
		printf("pipeline[%d]: %s %s %s\n", i, status_name(st), st == PGRES_TUPLES_OK && PQntuples(res) > 0
										? PQgetvalue(res, 0, 0)
										: "",
		       res_state(res));
		CHECK(st == exp[i].st, "pipeline result %d: %s, want %s (%s)", i, status_name(st),
		      status_name(exp[i].st), PQresultErrorMessage(res));
		if (st == exp[i].st && exp[i].value)
			expect_str("pipeline value", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : NULL, exp[i].value);
		if (st == exp[i].st && exp[i].state)
			expect_str("pipeline error SQLSTATE", res_state(res), exp[i].state);
		PQclear(res);
		if (st != PGRES_PIPELINE_SYNC) {
			res = get_result_by(conn, deadline, &to);
			CHECK(res == NULL && !to, "pipeline: no end-of-results after result %d", i);
			PQclear(res);
		}
	}
	if (!PQexitPipelineMode(conn))
		die("PQexitPipelineMode: %s", PQerrorMessage(conn));
	expect_str("rows after pipeline (segment 1 rolled back): count:min",
		   single_value(conn, "SELECT count(*) || ':' || min(k) FROM pipe_t"), "1:10");
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE, "not idle after pipeline");
	return 0;
}

/* ------------------------------------------------------------ cancel */

static int cmd_cancel(PGconn *conn)
{
	/* Cancelling an idle session is harmless. */
	PGcancel *cancel = PQgetCancel(conn);
	char errbuf[256];
	if (!cancel)
		die("PQgetCancel: NULL");
	if (!PQcancel(cancel, errbuf, sizeof errbuf))
		check_fail(__LINE__, "PQcancel while idle: %s", errbuf);
	expect_str("query after an idle cancel", single_value(conn, "SELECT 5"), "5");

	int64_t start = now_ms();
	if (!PQsendQuery(conn, "SELECT pg_sleep(30)"))
		die("PQsendQuery: %s", PQerrorMessage(conn));
	bool to;
	PGresult *res = get_result_by(conn, start + 200, &to);
	if (!to) {
		check_fail(__LINE__, "pg_sleep(30) returned within 200 ms: %s %s",
			   res ? status_name(PQresultStatus(res)) : "no result", res ? PQresultErrorMessage(res) : "");
		PQclear(res);
		return 1;
	}
	if (!PQcancel(cancel, errbuf, sizeof errbuf))
		check_fail(__LINE__, "PQcancel: %s", errbuf);
	int64_t sent = now_ms();
	res = get_result_by(conn, sent + 10000, &to);
	if (to)
		die("no reply within 10 s of the cancel request");
	int64_t took = now_ms() - sent;
	printf("cancel answered after %" PRId64 " ms: %s %s\n", took, res ? status_name(PQresultStatus(res)) : "none",
	       res_state(res));
	CHECK(res && PQresultStatus(res) == PGRES_FATAL_ERROR, "cancelled query did not fail");
	expect_str("cancelled query SQLSTATE", res_state(res), "57014");
	PQclear(res);
	res = get_result_by(conn, sent + 10000, &to);
	CHECK(!res && !to, "extra result after the cancelled query");
	PQclear(res);
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE, "not idle after the cancel");
	expect_str("query after a cancel", single_value(conn, "SELECT 6"), "6");

	/* Inside a transaction block the cancel fails the block. */
	exec_void(conn, "BEGIN");
	if (!PQsendQuery(conn, "SELECT pg_sleep(30)"))
		die("PQsendQuery: %s", PQerrorMessage(conn));
	res = get_result_by(conn, now_ms() + 200, &to);
	CHECK(to, "pg_sleep(30) in a block returned early");
	PQclear(res);
	if (!PQcancel(cancel, errbuf, sizeof errbuf))
		check_fail(__LINE__, "PQcancel: %s", errbuf);
	res = get_result_by(conn, now_ms() + 10000, &to);
	CHECK(!to, "no reply within 10 s of the cancel request in a block");
	expect_str("cancelled query in a block SQLSTATE", res_state(res), "57014");
	PQclear(res);
	while ((res = get_result_by(conn, now_ms() + 5000, &to)) != NULL)
		PQclear(res);
	CHECK(PQtransactionStatus(conn) == PQTRANS_INERROR, "block not failed after a cancel");
	exec_void(conn, "ROLLBACK");
	PQfreeCancel(cancel);
	printf("total %" PRId64 " ms\n", now_ms() - start);
	return 0;
}

/* ------------------------------------------------------------ rowlimit */

static void check_fetch(PGconn *conn, const char *sql, const char *tag, int first, int count)
{
	PGresult *res = exec_ok(conn, sql);
	printf("%s -> %s, %d rows\n", sql, PQcmdStatus(res), PQntuples(res));
	expect_str(sql, PQcmdStatus(res), tag);
	CHECK(PQntuples(res) == count, "%s: %d rows, want %d", sql, PQntuples(res), count);
	for (int r = 0; r < PQntuples(res) && r < count; r++) {
		char want[16];
		snprintf(want, sizeof want, "%d", first + r);
		expect_str(sql, PQgetvalue(res, r, 0), want);
	}
	PQclear(res);
}

static void single_row_run(PGconn *conn, bool extended)
{
	int ok = extended ? PQsendQueryParams(conn, "SELECT k FROM rl_t WHERE k >= $1 ORDER BY k", 1, NULL,
					      (const char *[]){"1"}, NULL, NULL, 0)
			  : PQsendQuery(conn, "SELECT k FROM rl_t ORDER BY k");
	if (!ok)
		die("send: %s", PQerrorMessage(conn));
	if (!PQsetSingleRowMode(conn))
		die("PQsetSingleRowMode failed");
	int rows = 0, finals = 0;
	bool to;
	PGresult *res;
	int64_t deadline = now_ms() + 10000;
	while ((res = get_result_by(conn, deadline, &to)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			char want[16];
			snprintf(want, sizeof want, "%d", rows + 1);
			CHECK(finals == 0, "single row after the final result");
			CHECK(PQntuples(res) == 1, "single-row result with %d rows", PQntuples(res));
			expect_str("single-row value", PQgetvalue(res, 0, 0), want);
			rows++;
		} else if (st == PGRES_TUPLES_OK) {
			CHECK(PQntuples(res) == 0, "final result with %d rows", PQntuples(res));
			finals++;
		} else {
			check_fail(__LINE__, "single-row mode: %s %s", status_name(st), PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	CHECK(!to, "single-row mode timed out");
	printf("single-row mode (%s): %d rows, %d final\n", extended ? "extended" : "simple", rows, finals);
	CHECK(rows == 10 && finals == 1, "single-row mode: %d rows and %d final results, want 10 and 1", rows, finals);
}

static int cmd_rowlimit(PGconn *conn)
{
	exec_void(conn, "DROP TABLE IF EXISTS rl_t");
	exec_void(conn, "CREATE TABLE rl_t (k INTEGER PRIMARY KEY)");
	exec_void(conn, "INSERT INTO rl_t VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10)");

	exec_void(conn, "BEGIN");
	PGresult *res = exec_ok(conn, "DECLARE c CURSOR FOR SELECT k FROM rl_t ORDER BY k");
	expect_str("DECLARE tag", PQcmdStatus(res), "DECLARE CURSOR");
	PQclear(res);
	check_fetch(conn, "FETCH 3 FROM c", "FETCH 3", 1, 3);
	check_fetch(conn, "FETCH NEXT FROM c", "FETCH 1", 4, 1);
	check_fetch(conn, "FETCH 2 FROM c", "FETCH 2", 5, 2);
	check_fetch(conn, "FETCH ALL FROM c", "FETCH 4", 7, 4);
	check_fetch(conn, "FETCH 1 FROM c", "FETCH 0", 0, 0);
	res = exec_ok(conn, "CLOSE c");
	expect_str("CLOSE tag", PQcmdStatus(res), "CLOSE CURSOR");
	PQclear(res);
	exec_expect_error(conn, "FETCH 1 FROM c", "34000");
	exec_void(conn, "ROLLBACK");

	/* Two cursors open at once, interleaved. */
	exec_void(conn, "BEGIN");
	exec_void(conn, "DECLARE a CURSOR FOR SELECT k FROM rl_t ORDER BY k");
	exec_void(conn, "DECLARE b CURSOR FOR SELECT k FROM rl_t WHERE k > 5 ORDER BY k");
	check_fetch(conn, "FETCH 2 FROM a", "FETCH 2", 1, 2);
	check_fetch(conn, "FETCH 2 FROM b", "FETCH 2", 6, 2);
	check_fetch(conn, "FETCH 2 FROM a", "FETCH 2", 3, 2);
	exec_void(conn, "COMMIT");

	single_row_run(conn, false);
	single_row_run(conn, true);
	return 0;
}

/* ------------------------------------------------------------ txstatus */

static const char *tx_name(PGTransactionStatusType t)
{
	switch (t) {
	case PQTRANS_IDLE: return "idle";
	case PQTRANS_ACTIVE: return "active";
	case PQTRANS_INTRANS: return "intrans";
	case PQTRANS_INERROR: return "inerror";
	default: return "unknown";
	}
}

static void step(PGconn *conn, const char *sql, const char *want_tag, const char *want_state,
		 PGTransactionStatusType want_tx)
{
	PGresult *res = PQexec(conn, sql);
	PGTransactionStatusType tx = PQtransactionStatus(conn);
	printf("%-40s -> %s %s tx=%s\n", sql, want_tag ? PQcmdStatus(res) : "error", res_state(res), tx_name(tx));
	if (want_tag) {
		CHECK(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
		      "%s: %s %s", sql, status_name(PQresultStatus(res)), PQresultErrorMessage(res));
		expect_str(sql, PQcmdStatus(res), want_tag);
	} else {
		CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "%s: %s, want an error", sql,
		      status_name(PQresultStatus(res)));
		expect_str(sql, res_state(res), want_state);
	}
	CHECK(tx == want_tx, "%s: transaction status %s, want %s", sql, tx_name(tx), tx_name(want_tx));
	PQclear(res);
}

static int cmd_txstatus(PGconn *conn)
{
	exec_void(conn, "DROP TABLE IF EXISTS tx_t");
	exec_void(conn, "CREATE TABLE tx_t (k INTEGER PRIMARY KEY)");
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE, "not idle after connecting");
	step(conn, "BEGIN", "BEGIN", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (1)", "INSERT 0 1", NULL, PQTRANS_INTRANS);
	step(conn, "SELECT * FROM no_such_table", NULL, "42P01", PQTRANS_INERROR);
	step(conn, "SELECT 1", NULL, "25P02", PQTRANS_INERROR);
	step(conn, "ROLLBACK", "ROLLBACK", NULL, PQTRANS_IDLE);
	expect_str("rows after ROLLBACK", single_value(conn, "SELECT count(*) FROM tx_t"), "0");

	step(conn, "BEGIN", "BEGIN", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (2)", "INSERT 0 1", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (2)", NULL, "23505", PQTRANS_INERROR);
	step(conn, "COMMIT", "ROLLBACK", NULL, PQTRANS_IDLE);
	expect_str("rows after COMMIT of a failed block", single_value(conn, "SELECT count(*) FROM tx_t"), "0");

	step(conn, "BEGIN", "BEGIN", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (3)", "INSERT 0 1", NULL, PQTRANS_INTRANS);
	step(conn, "SAVEPOINT s1", "SAVEPOINT", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (3)", NULL, "23505", PQTRANS_INERROR);
	step(conn, "ROLLBACK TO SAVEPOINT s1", "ROLLBACK", NULL, PQTRANS_INTRANS);
	step(conn, "INSERT INTO tx_t VALUES (4)", "INSERT 0 1", NULL, PQTRANS_INTRANS);
	step(conn, "RELEASE SAVEPOINT s1", "RELEASE", NULL, PQTRANS_INTRANS);
	step(conn, "COMMIT", "COMMIT", NULL, PQTRANS_IDLE);
	expect_str("rows after savepoint block: count:sum",
		   single_value(conn, "SELECT count(*) || ':' || sum(k) FROM tx_t"), "2:7");

	step(conn, "COMMIT", "COMMIT", NULL, PQTRANS_IDLE); /* a warning, not an error */
	step(conn, "ROLLBACK", "ROLLBACK", NULL, PQTRANS_IDLE);

	/* The same through the extended protocol. */
	PGresult *res = PQexecParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
	CHECK(PQtransactionStatus(conn) == PQTRANS_INTRANS, "extended BEGIN: %s (%s %s)",
	      tx_name(PQtransactionStatus(conn)), status_name(PQresultStatus(res)), PQresultErrorMessage(res));
	PQclear(res);
	res = PQexecParams(conn, "INSERT INTO tx_t VALUES ($1)", 1, NULL, (const char *[]){"3"}, NULL, NULL, 0);
	expect_str("extended duplicate", res_state(res), "23505");
	CHECK(PQtransactionStatus(conn) == PQTRANS_INERROR, "extended error: %s", tx_name(PQtransactionStatus(conn)));
	PQclear(res);
	res = PQexecParams(conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
	expect_str("extended in failed block", res_state(res), "25P02");
	PQclear(res);
	res = PQexecParams(conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
	CHECK(PQtransactionStatus(conn) == PQTRANS_IDLE, "extended ROLLBACK: %s (%s %s)", tx_name(PQtransactionStatus(conn)),
	      status_name(PQresultStatus(res)), PQresultErrorMessage(res));
	expect_str("extended ROLLBACK tag", PQcmdStatus(res), "ROLLBACK");
	PQclear(res);

	/* Active while a query runs. */
	if (!PQsendQuery(conn, "SELECT 1"))
		die("PQsendQuery: %s", PQerrorMessage(conn));
	CHECK(PQtransactionStatus(conn) == PQTRANS_ACTIVE, "not active with a query in flight");
	bool to;
	while ((res = get_result_by(conn, now_ms() + 5000, &to)) != NULL)
		PQclear(res);
	CHECK(!to && PQtransactionStatus(conn) == PQTRANS_IDLE, "not idle after the query: %s",
	      tx_name(PQtransactionStatus(conn)));
	return 0;
}

/* ------------------------------------------------------------ params */

static int cmd_params(const char *conninfo, int argc, char **argv)
{
	bool follower = argc > 0 && strcmp(argv[0], "follower") == 0;
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {conninfo, "pgclient-params", NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) != CONNECTION_OK)
		die("connect: %s", PQerrorMessage(conn));
	const char *names[] = {"server_version", "server_encoding", "client_encoding", "DateStyle",
			       "integer_datetimes", "standard_conforming_strings", "in_hot_standby",
			       "default_transaction_read_only", "application_name"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		printf("%s=%s\n", names[i], nz(PQparameterStatus(conn, names[i])));
	const char *sv = PQparameterStatus(conn, "server_version");
	CHECK(sv && *sv, "no server_version");
	CHECK(PQserverVersion(conn) >= 100000, "PQserverVersion %d", PQserverVersion(conn));
	printf("PQserverVersion=%d PQprotocolVersion=%d\n", PQserverVersion(conn), PQprotocolVersion(conn));
	CHECK(PQprotocolVersion(conn) == 3, "protocol version %d", PQprotocolVersion(conn));
	expect_str("server_encoding", PQparameterStatus(conn, "server_encoding"), "UTF8");
	expect_str("client_encoding", PQparameterStatus(conn, "client_encoding"), "UTF8");
	const char *ds = PQparameterStatus(conn, "DateStyle");
	CHECK(ds && strncmp(ds, "ISO", 3) == 0, "DateStyle '%s' does not start with ISO", nz(ds));
	expect_str("integer_datetimes", PQparameterStatus(conn, "integer_datetimes"), "on");
	expect_str("standard_conforming_strings", PQparameterStatus(conn, "standard_conforming_strings"), "on");
	expect_str("in_hot_standby", PQparameterStatus(conn, "in_hot_standby"), follower ? "on" : "off");
	expect_str("default_transaction_read_only", PQparameterStatus(conn, "default_transaction_read_only"),
		   follower ? "on" : "off");
	expect_str("application_name", PQparameterStatus(conn, "application_name"), "pgclient-params");
	CHECK(PQbackendPID(conn) != 0, "no BackendKeyData (backend PID 0)");

	expect_str("SHOW server_version", single_value(conn, "SHOW server_version"), sv ? sv : "");
	expect_str("SHOW application_name", single_value(conn, "SHOW application_name"), "pgclient-params");
	exec_void(conn, "SET application_name = 'renamed'");
	expect_str("application_name after SET", PQparameterStatus(conn, "application_name"), "renamed");
	expect_str("SHOW after SET", single_value(conn, "SHOW application_name"), "renamed");
	PQfinish(conn);
	return 0;
}

/* ------------------------------------------------------------ connect */

/* Connects with verbose errors so the SQLSTATE of a start-up failure is in
 * the message ("FATAL:  28P01: ..."). Returns NULL and prints on failure. */
static PGconn *connect_verbose(const char *conninfo, bool quiet_ok)
{
	PGconn *conn = PQconnectStart(conninfo);
	if (!conn)
		die("PQconnectStart: out of memory");
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	int64_t deadline = now_ms() + 15000;
	while (PQstatus(conn) != CONNECTION_BAD && ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
		struct pollfd pfd = {.fd = PQsocket(conn), .events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			printf("error: connection timed out\n");
			PQfinish(conn);
			return NULL;
		}
		if (pfd.fd >= 0 && poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		ps = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		printf("error: %s", msg);
		/* "FATAL:  28P01: password authentication failed ..." */
		const char *p = strstr(msg, ":  ");
		while (p) {
			const char *s = p + 3;
			if (strlen(s) > 6 && s[5] == ':' && strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5) {
				printf("sqlstate=%.5s\n", s);
				break;
			}
			p = strstr(s, ":  ");
		}
		PQfinish(conn);
		return NULL;
	}
	if (!quiet_ok)
		printf("connected\n");
	return conn;
}

static int cmd_connect(const char *conninfo)
{
	PGconn *conn = connect_verbose(conninfo, false);
	if (!conn)
		return 1;
	printf("user=%s port=%s\n", PQuser(conn), PQport(conn));
	expect_str("SELECT 1 after connecting", single_value(conn, "SELECT 1"), "1");
	PQfinish(conn);
	return 0;
}

static int cmd_multihost(const char *conninfo)
{
	PGconn *conn = connect_verbose(conninfo, true);
	if (!conn)
		return 1;
	printf("port=%s\n", PQport(conn));
	printf("in_hot_standby=%s\n", nz(PQparameterStatus(conn, "in_hot_standby")));
	PQfinish(conn);
	return 0;
}

/* ------------------------------------------------------------ hold */

static char hold_state[8];

static void hold_notice(void *arg, const PGresult *res)
{
	(void)arg;
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	printf("notice: %s %s %s", nz(sev), nz(s), PQresultErrorMessage(res));
	if (s)
		snprintf(hold_state, sizeof hold_state, "%s", s);
	fflush(stdout);
}

static int cmd_hold(PGconn *conn, int argc, char **argv)
{
	if (argc < 1)
		die("usage: hold MS [SQL...]");
	long ms = strtol(argv[0], NULL, 10);
	PQsetNoticeReceiver(conn, hold_notice, NULL);
	for (int i = 1; i < argc; i++) {
		PGresult *res = exec_ok(conn, argv[i]);
		printf("%s -> %s\n", argv[i], PQcmdStatus(res));
		PQclear(res);
	}
	printf("connected\n");
	fflush(stdout);
	int64_t held_from = now_ms(), deadline = held_from + ms;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n > 0) {
			int ok = PQconsumeInput(conn);
			PGresult *res;
			while (!PQisBusy(conn) && (res = PQgetResult(conn)) != NULL) {
				const char *s = res_state(res);
				if (*s)
					snprintf(hold_state, sizeof hold_state, "%s", s);
				PQclear(res);
			}
			if (!ok || PQstatus(conn) == CONNECTION_BAD) {
				printf("closed sqlstate=%s after %" PRId64 " ms: %s", hold_state, now_ms() - held_from,
				       PQerrorMessage(conn));
				fflush(stdout);
				return 2;
			}
		}
	}
	printf("held %ld ms\n", ms);
	return 0;
}

/* ------------------------------------------------------------ concurrent */

static int cmd_concurrent(const char *conninfo, int argc, char **argv)
{
	if (argc < 1)
		die("usage: concurrent LONG_SQL [--cancel]");
	const char *long_sql = argv[0];
	bool do_cancel = argc > 1 && strcmp(argv[1], "--cancel") == 0;
	PGconn *a = connect_or_die(conninfo);
	PGconn *b = connect_or_die(conninfo);
	exec_void(b, "DROP TABLE IF EXISTS conc_probe");
	exec_void(b, "CREATE TABLE conc_probe (v INTEGER)");

	int64_t start = now_ms();
	if (!PQsendQuery(a, long_sql))
		die("PQsendQuery: %s", PQerrorMessage(a));
	int n = 0;
	int64_t worst = 0;
	bool to;
	PGresult *res;
	/* Bounded: 1.5 s of short queries, at most 100000 of them. */
	while (now_ms() - start < 1500 && n < 100000) {
		const char *sql = n % 2 ? "SELECT count(*) FROM conc_probe" : "INSERT INTO conc_probe VALUES (1)";
		int64_t t0 = now_ms();
		if (!PQsendQuery(b, sql))
			die("PQsendQuery: %s", PQerrorMessage(b));
		int got = 0;
		while ((res = get_result_by(b, t0 + 2000, &to)) != NULL) {
			if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
				check_fail(__LINE__, "short query '%s': %s", sql, PQresultErrorMessage(res));
			got++;
			PQclear(res);
		}
		if (to) {
			check_fail(__LINE__, "short query %d '%s' did not finish within 2 s while '%s' ran", n, sql,
				   long_sql);
			return 1;
		}
		int64_t took = now_ms() - t0;
		if (took > worst)
			worst = took;
		n++;
	}
	if (!PQconsumeInput(a))
		die("long query connection: %s", PQerrorMessage(a));
	bool long_busy = PQisBusy(a);
	printf("short queries: %d in %" PRId64 " ms, slowest %" PRId64 " ms; long query still running: %s\n", n,
	       now_ms() - start, worst, long_busy ? "yes" : "no");
	CHECK(long_busy, "the long query finished before the short ones (after %" PRId64 " ms)", now_ms() - start);
	CHECK(n >= 10, "only %d short queries completed in 1.5 s", n);
	char want[32];
	snprintf(want, sizeof want, "%d", (n + 1) / 2);
	expect_str("probe rows", single_value(b, "SELECT count(*) FROM conc_probe"), want);

	if (do_cancel) {
		PGcancel *c = PQgetCancel(a);
		char errbuf[256];
		if (!c || !PQcancel(c, errbuf, sizeof errbuf))
			check_fail(__LINE__, "PQcancel failed");
		PQfreeCancel(c);
	}
	res = get_result_by(a, now_ms() + 30000, &to);
	CHECK(!to, "the long query did not finish within 30 s");
	printf("long query: %s %s after %" PRId64 " ms\n", res ? status_name(PQresultStatus(res)) : "none",
	       res_state(res), now_ms() - start);
	if (do_cancel)
		expect_str("cancelled long query", res_state(res), "57014");
	else
		CHECK(res && PQresultStatus(res) == PGRES_TUPLES_OK, "long query failed: %s",
		      res ? PQresultErrorMessage(res) : "no result");
	PQclear(res);
	while ((res = get_result_by(a, now_ms() + 5000, &to)) != NULL)
		PQclear(res);
	PQfinish(a);
	PQfinish(b);
	return 0;
}

/* ------------------------------------------------------------ rawbytes */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static uint8_t *read_hex(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		die("open %s: %s", path, strerror(errno));
	size_t cap = 4096, n = 0;
	uint8_t *out = malloc(cap);
	int c, hi = -1;
	bool comment = false;
	while (out && (c = fgetc(f)) != EOF) {
		if (comment) {
			comment = c != '\n';
			continue;
		}
		if (c == '#') {
			comment = true;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		int v = hexval(c);
		if (v < 0)
			die("%s: not a hex digit: '%c'", path, c);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap && !(out = realloc(out, cap *= 2)))
			break;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (!out)
		die("out of memory");
	if (hi >= 0)
		die("%s: odd number of hex digits", path);
	if (f != stdin)
		fclose(f);
	*len = n;
	return out;
}

struct raw {
	int fd;
	uint8_t buf[1 << 16];
	size_t len;
	bool expect_ssl_byte;
};

static void print_message(uint8_t type, const uint8_t *body, size_t len)
{
	switch (type) {
	case 'R':
		printf("R %u\n", len >= 4 ? get_be32(body) : 0xffffffffu);
		break;
	case 'S': {
		const char *name = (const char *)body;
		size_t nl = strnlen(name, len);
		const char *val = nl < len ? name + nl + 1 : "";
		printf("S %.*s=%.*s\n", (int)nl, name, (int)strnlen(val, len - (nl < len ? nl + 1 : len)), val);
		break;
	}
	case 'Z':
		printf("Z %c\n", len >= 1 ? body[0] : '?');
		break;
	case 'E':
	case 'N': {
		char state[6] = "?????", msg[512] = "";
		size_t i = 0;
		while (i < len && body[i]) {
			uint8_t f = body[i++];
			const char *s = (const char *)body + i;
			size_t sl = strnlen(s, len - i);
			if (f == 'C' && sl == 5)
				memcpy(state, s, 5);
			if (f == 'M')
				snprintf(msg, sizeof msg, "%.*s", (int)sl, s);
			i += sl + 1;
		}
		printf("%c %s %s\n", type, state, msg);
		break;
	}
	case 'C':
		printf("C %.*s\n", (int)strnlen((const char *)body, len), (const char *)body);
		break;
	case 'D': {
		/* "D v1|v2|..." for short text rows, NULL as \N */
		char row[256];
		size_t o = 0, i = 2;
		unsigned ncols = len >= 2 ? (unsigned)(body[0] << 8 | body[1]) : 0;
		row[0] = '\0';
		for (unsigned c = 0; c < ncols && i + 4 <= len && o < sizeof row - 8; c++) {
			int32_t l = (int32_t)get_be32(body + i);
			i += 4;
			if (c)
				row[o++] = '|';
			if (l < 0) {
				o += (size_t)snprintf(row + o, sizeof row - o, "\\N");
				continue;
			}
			if ((size_t)l > len - i)
				break;
			for (int32_t k = 0; k < l && o < sizeof row - 8; k++)
				row[o++] = body[i + (size_t)k] >= 0x20 && body[i + (size_t)k] < 0x7f ? (char)body[i + (size_t)k] : '.';
			i += (size_t)l;
		}
		row[o < sizeof row ? o : sizeof row - 1] = '\0';
		printf("D %s\n", row);
		break;
	}
	default:
		printf("%c len=%zu\n", type, len + 4);
	}
	fflush(stdout);
}

/* Reads and prints reply messages until EOF, reset, the deadline, or (when
 * stop_at_ready) a ReadyForQuery or an error. Returns 0 EOF, 1 reset,
 * 2 timeout, 3 stopped at ReadyForQuery/error. */
static int raw_read(struct raw *r, int64_t deadline, bool stop_at_ready)
{
	for (;;) {
		/* Parse whole messages already buffered. */
		for (;;) {
			if (r->expect_ssl_byte && r->len >= 1) {
				printf("SSL %c\n", r->buf[0]);
				memmove(r->buf, r->buf + 1, --r->len);
				r->expect_ssl_byte = false;
				if (stop_at_ready)
					return 3;
				continue;
			}
			if (r->len < 5)
				break;
			uint32_t mlen = get_be32(r->buf + 1);
			if (mlen < 4 || mlen > sizeof r->buf - 1) {
				printf("BAD reply length %u for type 0x%02x\n", mlen, r->buf[0]);
				return 0;
			}
			if (r->len < 1 + (size_t)mlen)
				break;
			uint8_t type = r->buf[0];
			print_message(type, r->buf + 5, mlen - 4);
			memmove(r->buf, r->buf + 1 + mlen, r->len - 1 - mlen);
			r->len -= 1 + mlen;
			if (stop_at_ready && (type == 'Z' || type == 'E'))
				return 3;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			printf("TIMEOUT\n");
			return 2;
		}
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		ssize_t got = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
		if (got == 0) {
			if (r->len)
				printf("PARTIAL %zu bytes\n", r->len);
			printf("EOF\n");
			return 0;
		}
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == ECONNRESET || errno == EPIPE) {
				printf("RESET\n");
				return 1;
			}
			die("recv: %s", strerror(errno));
		}
		r->len += (size_t)got;
	}
}

static bool send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			printf("send: %s\n", strerror(errno));
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static int cmd_rawbytes(int argc, char **argv)
{
	if (argc < 2)
		die("usage: rawbytes PORT HEXFILE|- [--ssl-request] [--startup USER] [--timeout-ms N] [--half-close]");
	int port = atoi(argv[0]);
	const char *startup_user = NULL;
	long timeout_ms = 5000;
	bool half_close = false, ssl_request = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--startup") == 0 && i + 1 < argc)
			startup_user = argv[++i];
		else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			timeout_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--half-close") == 0)
			half_close = true;
		else if (strcmp(argv[i], "--ssl-request") == 0)
			ssl_request = true;
		else
			die("rawbytes: unknown option %s", argv[i]);
	}
	size_t len;
	uint8_t *bytes = read_hex(argv[1], &len);

	static struct raw r;
	r.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (r.fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(r.fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect 127.0.0.1:%d: %s", port, strerror(errno));

	if (ssl_request) {
		uint8_t req[8];
		put_be32(req, 8);
		put_be32(req + 4, 80877103);
		if (!send_all(r.fd, req, sizeof req))
			return 1;
		r.expect_ssl_byte = true;
		int64_t deadline = now_ms() + timeout_ms;
		while (r.expect_ssl_byte) {
			if (raw_read(&r, deadline, true) != 3 && r.expect_ssl_byte) {
				printf("no answer to SSLRequest\n");
				return 1;
			}
		}
	}
	if (startup_user) {
		uint8_t pkt[512];
		size_t n = 8;
		put_be32(pkt + 4, 196608);
		const char *kv[] = {"user", startup_user, "database", startup_user, "application_name", "rawbytes"};
		for (size_t i = 0; i < 6; i++) {
			size_t l = strlen(kv[i]) + 1;
			if (n + l + 1 > sizeof pkt)
				die("user name too long");
			memcpy(pkt + n, kv[i], l);
			n += l;
		}
		pkt[n++] = 0;
		put_be32(pkt, (uint32_t)n);
		if (!send_all(r.fd, pkt, n))
			return 1;
		int rc = raw_read(&r, now_ms() + timeout_ms, true);
		if (rc != 3) {
			printf("start-up did not reach ReadyForQuery\n");
			return 1;
		}
	}
	/* An SSLRequest or GSSENCRequest is answered by a single byte. */
	if (len >= 8 && get_be32(bytes) == 8 && (get_be32(bytes + 4) == 80877103 || get_be32(bytes + 4) == 80877104))
		r.expect_ssl_byte = true;
	printf("sent %zu bytes\n", len);
	fflush(stdout);
	if (len && !send_all(r.fd, bytes, len)) {
		/* The server may already have closed; still read what it said. */
	}
	if (half_close)
		shutdown(r.fd, SHUT_WR);
	free(bytes);
	int rc = raw_read(&r, now_ms() + timeout_ms, false);
	close(r.fd);
	return rc == 2 ? 3 : 0;
}

/* ------------------------------------------------------------ main */

static const char *const conn_cmds[] = {"simple",   "extended", "prepared", "pipeline", "cancel",    "rowlimit",
					"txstatus", "params",   "multihost", "connect", "hold",      "concurrent"};

static bool is_cmd(const char *s)
{
	if (strcmp(s, "rawbytes") == 0)
		return true;
	for (size_t i = 0; i < sizeof conn_cmds / sizeof conn_cmds[0]; i++)
		if (strcmp(s, conn_cmds[i]) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *d = getenv("PGCLIENT_DIALECT");
	real_pg = d && strcmp(d, "postgres") == 0;
	if (argc < 3) {
		fprintf(stderr, "usage: pgclient CONNINFO SUBCOMMAND [ARGS...] | pgclient rawbytes PORT HEXFILE|- ...\n");
		return 1;
	}
	const char *cmd, *target;
	if (is_cmd(argv[1])) {
		cmd = argv[1];
		target = argv[2];
	} else {
		target = argv[1];
		cmd = argv[2];
	}
	int rest_c = argc - 3;
	char **rest_v = argv + 3;
	int rc;
	if (strcmp(cmd, "rawbytes") == 0) {
		char *args[64];
		int n = 0;
		args[n++] = (char *)target;
		for (int i = 0; i < rest_c && n < 63; i++)
			args[n++] = rest_v[i];
		rc = cmd_rawbytes(n, args);
	} else if (strcmp(cmd, "params") == 0) {
		rc = cmd_params(target, rest_c, rest_v);
	} else if (strcmp(cmd, "connect") == 0) {
		rc = cmd_connect(target);
	} else if (strcmp(cmd, "multihost") == 0) {
		rc = cmd_multihost(target);
	} else if (strcmp(cmd, "concurrent") == 0) {
		rc = cmd_concurrent(target, rest_c, rest_v);
	} else {
		PGconn *conn = connect_or_die(target);
		if (strcmp(cmd, "simple") == 0)
			rc = cmd_simple(conn);
		else if (strcmp(cmd, "extended") == 0)
			rc = cmd_extended(conn);
		else if (strcmp(cmd, "prepared") == 0)
			rc = cmd_prepared(conn);
		else if (strcmp(cmd, "pipeline") == 0)
			rc = cmd_pipeline(conn);
		else if (strcmp(cmd, "cancel") == 0)
			rc = cmd_cancel(conn);
		else if (strcmp(cmd, "rowlimit") == 0)
			rc = cmd_rowlimit(conn);
		else if (strcmp(cmd, "txstatus") == 0)
			rc = cmd_txstatus(conn);
		else if (strcmp(cmd, "hold") == 0)
			rc = cmd_hold(conn, rest_c, rest_v);
		else {
			fprintf(stderr, "pgclient: unknown subcommand '%s'\n", cmd);
			rc = 1;
		}
		PQfinish(conn);
	}
	if (failures) {
		printf("%s: %d check(s) failed\n", cmd, failures);
		return 1;
	}
	if (rc == 0 && strcmp(cmd, "rawbytes") != 0)
		printf("%s: ok\n", cmd);
	return rc;
}
