/*
 * pgfuncs.c — PostgreSQL-compatible SQL functions (see pgfuncs.h).
 *
 * Functions that wait (pg_sleep) check the running job's cancel flag and
 * deadline, so CancelRequest and statement_timeout stop them too.
 */
#include "autoconfig.h"
#include "pgfuncs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "dbpool.h"
#include "lsn.h"
#include "nodestatus.h"
#include "pgtypes.h"
#include "session.h"
#include "sl_time.h"
#include "sqlstate.h"

#define SLUICE_VERSION_STRING "PostgreSQL 15.0 (sluice " PACKAGE_VERSION ") on x86_64-pc-linux-gnu, 64-bit"

static void fn_repeat(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	const unsigned char *s = sqlite3_value_text(argv[0]);
	sqlite3_int64 n = sqlite3_value_int64(argv[1]);
	sqlite3_int64 len = sqlite3_value_bytes(argv[0]);
	if (n <= 0 || len == 0) {
		sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
		return;
	}
	if (n > (sqlite3_int64)sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1) / len) {
		sqlite3_result_error_toobig(ctx);
		return;
	}
	char *out = sqlite3_malloc64((sqlite3_uint64)(len * n) + 1);
	if (!out) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	for (sqlite3_int64 i = 0; i < n; i++)
		memcpy(out + i * len, s, (size_t)len);
	out[len * n] = '\0';
	sqlite3_result_text64(ctx, out, (sqlite3_uint64)(len * n), sqlite3_free, SQLITE_UTF8);
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_text(ctx, SLUICE_VERSION_STRING, -1, SQLITE_STATIC);
}

/* Whether the running job was cancelled or ran past its deadline (then
 * the function fails with SQLITE_INTERRUPT). */
static bool interrupted(sqlite3_context *ctx, struct dbconn *c)
{
	struct interrupt *intr = c->intr;
	if (intr && atomic_load(&intr->cancel)) {
		sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
		return true;
	}
	if (intr && intr->deadline_ns && monotonic_ns() > intr->deadline_ns) {
		intr->timed_out = true;
		sqlite3_result_error_code(ctx, SQLITE_INTERRUPT);
		return true;
	}
	return false;
}

static void fn_pg_sleep(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	double secs = sqlite3_value_double(argv[0]);
	int64_t end = monotonic_ns() + (int64_t)(secs * 1e9);
	for (;;) {
		if (interrupted(ctx, c))
			return;
		int64_t now = monotonic_ns();
		if (now >= end)
			break;
		int64_t step = end - now;
		if (step > 10000000)
			step = 10000000;
		struct timespec ts = { 0, (long)step };
		nanosleep(&ts, NULL);
	}
	sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
}

/*
 * sluice_wait_lsn('X/Y', timeout_ms): 1 once this node's readers see
 * every commit up to X/Y (a follower applied it; the leader published it).
 * It holds no snapshot while it waits, so it never holds up apply.
 */
static void fn_wait_lsn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	const char *text = (const char *)sqlite3_value_text(argv[0]);
	uint64_t want;
	if (!text || lsn_parse(text, &want) != 0) {
		sqlite3_result_error(ctx, "invalid input syntax for type pg_lsn", -1);
		return;
	}
	int64_t timeout_ms = sqlite3_value_int64(argv[1]);
	int64_t end = monotonic_ns() + (timeout_ms > 0 ? timeout_ms : 0) * 1000000;
	struct node_info n;
	for (;;) {
		nodestatus_node(&n);
		if (n.applied_lsn >= want) {
			sqlite3_result_int(ctx, 1);
			return;
		}
		if (interrupted(ctx, c))
			return;
		if (monotonic_ns() >= end)
			break;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
	}
	char msg[160], at[LSN_TEXT_MAX];
	snprintf(msg, sizeof(msg), "timed out waiting for LSN %s to be applied; applied up to %s", text,
		 lsn_format(n.applied_lsn, at));
	sqlite3_result_error(ctx, msg, -1);
}

static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char out[PGTYPES_TIME_MAX];
	pgtypes_timestamptz_text(sl_wall_us(), out, sizeof(out));
	sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

/* set_config(name, value, is_local): SET name = value, for the session;
 * the setting's new value. With is_local (for the transaction only) it is
 * refused: sluice would keep it for the session. */
static void fn_set_config(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct dbconn *c = sqlite3_user_data(ctx);
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	const char *value = (const char *)sqlite3_value_text(argv[1]);
	struct session *s = c->session;
	if (!s || !name) {
		sqlite3_result_error(ctx, dbconn_raise(c, SQLSTATE_INVALID_PARAMETER_VALUE, NULL, "set_config needs a setting name"), -1);
		return;
	}
	if (sqlite3_value_type(argv[2]) != SQLITE_NULL && sqlite3_value_int(argv[2]) != 0) {
		sqlite3_result_error(ctx, dbconn_raise(c, SQLSTATE_FEATURE_NOT_SUPPORTED, "Use SET, or set_config(name, value, false).",
						       "set_config with is_local = true is not supported"), -1);
		return;
	}
	char err[256];
	if (session_set(s, name, value ? value : "", err, sizeof(err)) != 0) {
		sqlite3_result_error(ctx, dbconn_raise(c, strncmp(err, "unrecognized", 12) == 0 ? SQLSTATE_UNDEFINED_OBJECT : SQLSTATE_INVALID_TEXT,
						       NULL, "%s", err), -1);
		return;
	}
	const char *now = session_get(s, name);
	sqlite3_result_text(ctx, now ? now : "", -1, SQLITE_TRANSIENT);
}

static void fn_current_setting(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	const char *name = (const char *)sqlite3_value_text(argv[0]);
	const char *value = (name && c->session && c->pool->setting) ? c->pool->setting(c->session, name) : NULL;
	if (!value) {
		if (argc > 1 && sqlite3_value_int(argv[1])) {
			sqlite3_result_null(ctx);
			return;
		}
		char *msg = sqlite3_mprintf("unrecognized configuration parameter \"%s\"", name ? name : "");
		sqlite3_result_error(ctx, msg, -1);
		sqlite3_free(msg);
		return;
	}
	sqlite3_result_text(ctx, value, -1, SQLITE_TRANSIENT);
}

static void fn_setting_value(sqlite3_context *ctx, const char *name)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	const char *value = (c->session && c->pool->setting) ? c->pool->setting(c->session, name) : NULL;
	if (value)
		sqlite3_result_text(ctx, value, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
}

static void fn_backend_pid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct dbconn *c = sqlite3_user_data(ctx);
	const char *pid = (c->session && c->pool->setting) ? c->pool->setting(c->session, "sluice.backend_pid") : NULL;
	sqlite3_result_int64(ctx, pid ? strtoll(pid, NULL, 10) : 0);
}

static void fn_current_database(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	fn_setting_value(ctx, "sluice.database");
}

static void fn_current_user(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	fn_setting_value(ctx, "session_authorization");
}

static void fn_current_schema(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_result_text(ctx, "public", -1, SQLITE_STATIC);
}

struct function_def {
	const char *name;
	int nargs;
	int deterministic;
	void (*fn)(sqlite3_context *, int, sqlite3_value **);
};

static const struct function_def functions[] = {
	{ "repeat", 2, 1, fn_repeat },
	{ "version", 0, 0, fn_version },
	{ "pg_sleep", 1, 0, fn_pg_sleep },
	{ "sluice_wait_lsn", 2, 0, fn_wait_lsn },
	{ "now", 0, 0, fn_now },
	{ "transaction_timestamp", 0, 0, fn_now },
	{ "statement_timestamp", 0, 0, fn_now },
	{ "clock_timestamp", 0, 0, fn_now },
	{ "current_setting", 1, 0, fn_current_setting },
	{ "current_setting", 2, 0, fn_current_setting },
	{ "set_config", 3, 0, fn_set_config },
	{ "pg_backend_pid", 0, 0, fn_backend_pid },
	{ "current_database", 0, 0, fn_current_database },
	{ "current_user", 0, 0, fn_current_user },
	{ "session_user", 0, 0, fn_current_user },
	{ "current_schema", 0, 0, fn_current_schema },
};

int pgfuncs_register(sqlite3 *db, struct dbconn *conn)
{
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		const struct function_def *f = &functions[i];
		int flags = SQLITE_UTF8 | (f->deterministic ? SQLITE_DETERMINISTIC : 0);
		int rc = sqlite3_create_function_v2(db, f->name, f->nargs, flags, conn, f->fn, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}
