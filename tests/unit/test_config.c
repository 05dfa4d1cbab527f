/*
 * test_config.c — unit tests for common/config.c: defaults, every type with
 * every unit, 0 / min / max / max+1 for every bounded setting, overflow while
 * scaling by a unit, the file reader (quotes, comments, errors naming file and
 * line, all-or-nothing loading), SHOW round-trips, SHOW ALL and --help; the
 * peers list (common/members.c).
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

/*
 * By path, not "config.h": automake puts -I. (the top build directory) first,
 * so a generated top-level config.h (autoconf's default header name) would
 * shadow this one.
 */
#include "../../common/config.h"
#include "log.h"
#include "members.h"
#include "secret.h"
#include "sl_error.h"

/* ---------------------------------------------------------------- helpers */

struct tmpfile {
	char path[64];
};

/* Writes n bytes to a new temporary file. */
static void tmpfile_write(struct tmpfile *t, const char *text, size_t n)
{
	snprintf(t->path, sizeof(t->path), "/tmp/test_config_XXXXXX");
	int fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* Loads text as a config file over defaults; returns the result code. */
static int load_text(struct config *cfg, const char *text, char *err, size_t errlen,
		     char *path_out, size_t path_len)
{
	struct tmpfile t;
	tmpfile_write(&t, text, strlen(text));
	if (path_out)
		snprintf(path_out, path_len, "%s", t.path);
	int rc = config_load_file(cfg, t.path, err, errlen);
	unlink(t.path);
	return rc;
}

static void expect_show(const struct config *cfg, const char *name, const char *want)
{
	char out[CONFIG_STR_MAX];
	assert_int_equal(config_show(cfg, name, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

/* Sets name=value and expects success. */
static void expect_set(struct config *cfg, const char *name, const char *value)
{
	char err[256] = "";
	int rc = config_set(cfg, name, value, err, sizeof(err));
	if (rc != 0)
		fail_msg("config_set(%s, \"%s\"): %s", name, value, err);
}

/*
 * Sets name=value, expects SL_EINVAL with want in the message, and the whole
 * config unchanged.
 */
static void expect_reject(struct config *cfg, const char *name, const char *value,
			  const char *want)
{
	char err[512] = "";
	struct config before = *cfg;
	int rc = config_set(cfg, name, value, err, sizeof(err));
	if (rc != SL_EINVAL)
		fail_msg("config_set(%s, \"%s\") returned %d, expected SL_EINVAL", name, value, rc);
	if (!strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
	assert_memory_equal(&before, cfg, sizeof(before));
}

/* ---------------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	memset(&cfg, 0xAB, sizeof(cfg));
	config_defaults(&cfg);
	assert_string_equal(cfg.listen_address, "127.0.0.1");
	assert_int_equal(cfg.port, 5433);
	assert_string_equal(cfg.data_dir, "");
	assert_string_equal(cfg.node_name, "");
	assert_int_equal(cfg.role, ROLE_LEADER);
	assert_int_equal(cfg.max_connections, 100);
	assert_int_equal(cfg.reader_threads, 2);
	assert_true(cfg.max_message_size == 64 * 1024 * 1024);
	assert_true(cfg.checkpoint_wal_size == 64 * 1024 * 1024);
	assert_true(cfg.statement_timeout_ms == 0);
	assert_true(cfg.idle_in_transaction_session_timeout_ms == 60000);
	assert_true(cfg.authentication_timeout_ms == 60000);
	assert_true(cfg.lock_timeout_ms == 0);
	assert_int_equal(cfg.auth_method, AUTH_TRUST);
	assert_string_equal(cfg.password_file, "");
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_string_equal(cfg.port_file, "");
}

static void test_defaults_shown(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);
	expect_show(&cfg, "listen_address", "127.0.0.1");
	expect_show(&cfg, "port", "5433");
	expect_show(&cfg, "data_dir", "");
	expect_show(&cfg, "node_name", "");
	expect_show(&cfg, "role", "leader");
	expect_show(&cfg, "max_connections", "100");
	expect_show(&cfg, "reader_threads", "2");
	expect_show(&cfg, "max_message_size", "64MB");
	expect_show(&cfg, "checkpoint_wal_size", "64MB");
	expect_show(&cfg, "statement_timeout", "0");
	expect_show(&cfg, "idle_in_transaction_session_timeout", "1min");
	expect_show(&cfg, "authentication_timeout", "1min");
	expect_show(&cfg, "lock_timeout", "0");
	expect_show(&cfg, "auth_method", "trust");
	expect_show(&cfg, "password_file", "");
	expect_show(&cfg, "log_level", "info");
	expect_show(&cfg, "port_file", "");
}

/* ---------------------------------------------------------------- int */

static void test_int(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);

	expect_set(&cfg, "port", "0");
	assert_int_equal(cfg.port, 0);
	expect_set(&cfg, "port", "65535");
	assert_int_equal(cfg.port, 65535);
	expect_set(&cfg, "port", " +5432 ");
	assert_int_equal(cfg.port, 5432);
	expect_set(&cfg, "port", "-0");
	assert_int_equal(cfg.port, 0);
	expect_set(&cfg, "port", "007");
	assert_int_equal(cfg.port, 7);
	expect_reject(&cfg, "port", "65536", "invalid value for \"port\": \"65536\" (must be between 0 and 65535)");
	expect_reject(&cfg, "port", "70000", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "-1", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "abc", "invalid value for \"port\": \"abc\" (must be an integer)");
	expect_reject(&cfg, "port", "", "invalid value for \"port\": \"\"");
	expect_reject(&cfg, "port", "5433x", "must be an integer");
	expect_reject(&cfg, "port", "5433ms", "must be an integer");
	expect_reject(&cfg, "port", "54 33", "must be an integer");
	expect_reject(&cfg, "port", "0x10", "must be an integer");
	expect_reject(&cfg, "port", "1.5", "must be an integer");
	expect_reject(&cfg, "port", "+", "must be an integer");
	expect_reject(&cfg, "port", "--1", "must be an integer");

	expect_reject(&cfg, "max_connections", "0", "(must be between 1 and 10000)");
	expect_set(&cfg, "max_connections", "1");
	assert_int_equal(cfg.max_connections, 1);
	expect_set(&cfg, "max_connections", "10000");
	assert_int_equal(cfg.max_connections, 10000);
	expect_reject(&cfg, "max_connections", "10001", "(must be between 1 and 10000)");

	expect_reject(&cfg, "reader_threads", "0", "(must be between 1 and 64)");
	expect_set(&cfg, "reader_threads", "1");
	assert_int_equal(cfg.reader_threads, 1);
	expect_set(&cfg, "reader_threads", "64");
	assert_int_equal(cfg.reader_threads, 64);
	expect_reject(&cfg, "reader_threads", "65", "(must be between 1 and 64)");
}

/* ---------------------------------------------------------------- duration */

static void test_duration_units(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {
		{ "0", 0 },
		{ "250", 250 },
		{ "2000us", 2 },
		{ "0us", 0 },
		{ "250ms", 250 },
		{ "2s", 2000 },
		{ "3min", 180000 },
		{ "2h", 7200000 },
		{ "1d", 86400000 },
		{ "24d", 2073600000 },
		{ "5 s", 5000 },
		{ " 7ms ", 7 },
		{ "+1s", 1000 },
		{ "2147483647", 2147483647 },
		{ "2147483647ms", 2147483647 },
		{ "2147483647000us", 2147483647 },
	};
	struct config cfg;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		expect_set(&cfg, "lock_timeout", ok[i].text);
		if (cfg.lock_timeout_ms != ok[i].ms)
			fail_msg("\"%s\" gave %lld ms", ok[i].text, (long long)cfg.lock_timeout_ms);
	}

	const char *range = "(must be between 0 and 2147483647ms)";
	expect_reject(&cfg, "lock_timeout", "2147483648", range);
	expect_reject(&cfg, "lock_timeout", "25d", range);
	expect_reject(&cfg, "lock_timeout", "-1", range);
	expect_reject(&cfg, "lock_timeout", "-1s", range);
	expect_reject(&cfg, "lock_timeout", "1500us", "(must be a whole number of milliseconds)");
	expect_reject(&cfg, "lock_timeout", "1us", "whole number of milliseconds");
	const char *units = "(must be an integer with an optional unit: us, ms, s, min, h, d; no unit means ms)";
	expect_reject(&cfg, "lock_timeout", "5S", units);
	expect_reject(&cfg, "lock_timeout", "5sec", units);
	expect_reject(&cfg, "lock_timeout", "5 s s", units);
	expect_reject(&cfg, "lock_timeout", "s", units);
	expect_reject(&cfg, "lock_timeout", "1.5s", units);
	expect_reject(&cfg, "lock_timeout", "", units);
	expect_reject(&cfg, "lock_timeout", "5kB", units);

	/* Every duration setting takes the same units; check each range end. */
	expect_set(&cfg, "statement_timeout", "1h");
	assert_true(cfg.statement_timeout_ms == 3600000);
	expect_set(&cfg, "statement_timeout", "0");
	assert_true(cfg.statement_timeout_ms == 0);
	expect_reject(&cfg, "statement_timeout", "2147483648ms", range);
	expect_set(&cfg, "idle_in_transaction_session_timeout", "0");
	assert_true(cfg.idle_in_transaction_session_timeout_ms == 0);
	expect_set(&cfg, "idle_in_transaction_session_timeout", "2147483647");
	assert_true(cfg.idle_in_transaction_session_timeout_ms == 2147483647);
	expect_reject(&cfg, "idle_in_transaction_session_timeout", "2147483648", range);

	const char *auth = "(must be between 1s and 2147483647ms)";
	expect_reject(&cfg, "authentication_timeout", "0", auth);
	expect_reject(&cfg, "authentication_timeout", "999ms", auth);
	expect_reject(&cfg, "authentication_timeout", "999000us", auth);
	expect_set(&cfg, "authentication_timeout", "1s");
	assert_true(cfg.authentication_timeout_ms == 1000);
	expect_set(&cfg, "authentication_timeout", "1000");
	assert_true(cfg.authentication_timeout_ms == 1000);
	expect_set(&cfg, "authentication_timeout", "2147483647ms");
	assert_true(cfg.authentication_timeout_ms == 2147483647);
	expect_reject(&cfg, "authentication_timeout", "2147483648ms", auth);
}

/* ---------------------------------------------------------------- size */

static void test_size_units(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t bytes;
	} ok[] = {
		{ "1024", 1024 },
		{ "1024B", 1024 },
		{ "1025B", 1025 },
		{ "1kB", 1024 },
		{ "1536kB", 1536 * 1024 },
		{ "1MB", 1024 * 1024 },
		{ "64 MB", 64 * 1024 * 1024 },
		{ "1GB", 1024 * 1024 * 1024 },
		{ "1048576kB", 1024 * 1024 * 1024 },
		{ "1073741824", 1024 * 1024 * 1024 },
	};
	struct config cfg;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		expect_set(&cfg, "max_message_size", ok[i].text);
		if (cfg.max_message_size != ok[i].bytes)
			fail_msg("\"%s\" gave %lld bytes", ok[i].text, (long long)cfg.max_message_size);
	}
	const char *range = "(must be between 1kB and 1GB)";
	expect_reject(&cfg, "max_message_size", "0", range);
	expect_reject(&cfg, "max_message_size", "1023", range);
	expect_reject(&cfg, "max_message_size", "1023B", range);
	expect_reject(&cfg, "max_message_size", "1073741825", range);
	expect_reject(&cfg, "max_message_size", "1025MB", range);
	expect_reject(&cfg, "max_message_size", "2GB", range);
	expect_reject(&cfg, "max_message_size", "1TB", range);
	expect_reject(&cfg, "max_message_size", "-1kB", range);
	const char *units = "unit: B, kB, MB, GB, TB; no unit means B";
	expect_reject(&cfg, "max_message_size", "1kb", units);
	expect_reject(&cfg, "max_message_size", "1KB", units);
	expect_reject(&cfg, "max_message_size", "1mb", units);
	expect_reject(&cfg, "max_message_size", "1K", units);
	expect_reject(&cfg, "max_message_size", "1s", units);
	expect_reject(&cfg, "max_message_size", "MB", units);
}

/* ---------------------------------------------------------------- enum, string */

static void test_enum(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);

	expect_set(&cfg, "role", "follower");
	assert_int_equal(cfg.role, ROLE_FOLLOWER);
	expect_set(&cfg, "role", "LEADER");
	assert_int_equal(cfg.role, ROLE_LEADER);
	expect_set(&cfg, "role", " Follower ");
	assert_int_equal(cfg.role, ROLE_FOLLOWER);
	expect_reject(&cfg, "role", "boss",
		      "invalid value for \"role\": \"boss\" (must be one of leader, follower, witness)");
	expect_reject(&cfg, "role", "", "must be one of leader, follower");
	expect_reject(&cfg, "role", "lead", "must be one of");
	expect_reject(&cfg, "role", "leaders", "must be one of");

	expect_set(&cfg, "auth_method", "password");
	assert_int_equal(cfg.auth_method, AUTH_PASSWORD);
	expect_set(&cfg, "auth_method", "scram-sha-256");
	assert_int_equal(cfg.auth_method, AUTH_SCRAM);
	expect_set(&cfg, "auth_method", "trust");
	assert_int_equal(cfg.auth_method, AUTH_TRUST);
	expect_reject(&cfg, "auth_method", "md5", "must be one of trust, password, scram-sha-256");

	static const struct {
		const char *name;
		int level;
	} levels[] = { { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warning", LOG_WARNING },
		       { "error", LOG_ERROR } };
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		expect_set(&cfg, "log_level", levels[i].name);
		assert_int_equal(cfg.log_level, levels[i].level);
		expect_show(&cfg, "log_level", levels[i].name);
	}
	expect_reject(&cfg, "log_level", "fatal", "must be one of debug, info, warning, error");
	expect_reject(&cfg, "log_level", "warn", "must be one of");
}

static void test_string(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);
	char big[CONFIG_STR_MAX + 1];

	expect_set(&cfg, "data_dir", "/var/lib/sluice");
	assert_string_equal(cfg.data_dir, "/var/lib/sluice");
	expect_set(&cfg, "node_name", "  spaces kept  ");
	assert_string_equal(cfg.node_name, "  spaces kept  ");
	expect_set(&cfg, "node_name", "");
	assert_string_equal(cfg.node_name, "");

	memset(big, 'x', CONFIG_STR_MAX - 1);
	big[CONFIG_STR_MAX - 1] = '\0';
	expect_set(&cfg, "password_file", big);
	assert_int_equal(strlen(cfg.password_file), CONFIG_STR_MAX - 1);

	big[CONFIG_STR_MAX - 1] = 'x';
	big[CONFIG_STR_MAX] = '\0';
	expect_reject(&cfg, "password_file", big,
		      "invalid value for \"password_file\": too long (1024 bytes, at most 1023)");
	expect_reject(&cfg, "listen_address", big, "too long");
}

static void test_unknown_and_case(void **state)
{
	(void)state;
	struct config cfg;
	char err[128];
	char out[64];
	config_defaults(&cfg);
	expect_reject(&cfg, "prot", "5", "unknown setting \"prot\"");
	expect_reject(&cfg, "", "5", "unknown setting \"\"");
	expect_reject(&cfg, "port ", "5", "unknown setting");

	expect_set(&cfg, "PORT", "6000");
	assert_int_equal(cfg.port, 6000);
	expect_set(&cfg, "Max_Message_Size", "1MB");
	expect_show(&cfg, "MAX_MESSAGE_SIZE", "1MB");

	assert_int_equal(config_show(&cfg, "prot", out, sizeof(out)), SL_ENOTFOUND);
	assert_string_equal(out, "");

	/* A short error buffer is truncated, never overrun; NULL is allowed. */
	assert_int_equal(config_set(&cfg, "port", "abc", err, 8), SL_EINVAL);
	assert_string_equal(err, "invalid");
	assert_int_equal(config_set(&cfg, "port", "abc", NULL, 0), SL_EINVAL);
}

/* ---------------------------------------------------------------- overflow */

static void test_overflow(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);
	const char *ms = "(must be between 0 and 2147483647ms)";

	/* Beyond int64 while reading the digits. */
	expect_reject(&cfg, "port", "99999999999999999999999", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "-99999999999999999999999", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "9223372036854775808", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "-9223372036854775808", "(must be between 0 and 65535)");
	expect_reject(&cfg, "port", "9223372036854775807", "(must be between 0 and 65535)");
	/* Values that wrap an int to something in range are still refused. */
	expect_reject(&cfg, "port", "4294972729", "(must be between 0 and 65535)");
	expect_reject(&cfg, "statement_timeout", "9223372036854775807", ms);
	expect_reject(&cfg, "statement_timeout", "99999999999999999999ms", ms);

	/* Beyond int64 only once scaled by the unit. */
	expect_reject(&cfg, "statement_timeout", "9223372036854775807us", ms);
	expect_reject(&cfg, "statement_timeout", "9223372036854775ms", ms);
	expect_reject(&cfg, "statement_timeout", "9223372036854776ms", ms);
	expect_reject(&cfg, "statement_timeout", "9223372036855s", ms);
	expect_reject(&cfg, "statement_timeout", "153722867281min", ms);
	expect_reject(&cfg, "statement_timeout", "2562047788h", ms);
	expect_reject(&cfg, "statement_timeout", "106751991d", ms);
	expect_reject(&cfg, "statement_timeout", "106751992d", ms);
	expect_reject(&cfg, "statement_timeout", "-106751992d", ms);
	expect_reject(&cfg, "statement_timeout", "200000000000d", ms);

	const char *size = "(must be between 1kB and 1GB)";
	expect_reject(&cfg, "max_message_size", "8388607TB", size);
	expect_reject(&cfg, "max_message_size", "8388608TB", size);
	expect_reject(&cfg, "max_message_size", "-8388608TB", size);
	expect_reject(&cfg, "max_message_size", "9007199254740992kB", size);
	expect_reject(&cfg, "max_message_size", "99999999999999999999999TB", size);
}

/* ---------------------------------------------------------------- show */

static void test_show_canonical(void **state)
{
	(void)state;
	static const struct {
		const char *name, *in, *shown;
	} cases[] = {
		{ "lock_timeout", "60s", "1min" },
		{ "lock_timeout", "90s", "90s" },
		{ "lock_timeout", "250", "250ms" },
		{ "lock_timeout", "1500ms", "1500ms" },
		{ "lock_timeout", "3000ms", "3s" },
		{ "lock_timeout", "7200s", "2h" },
		{ "lock_timeout", "48h", "2d" },
		{ "lock_timeout", "25h", "25h" },
		{ "lock_timeout", "5000us", "5ms" },
		{ "lock_timeout", "0d", "0" },
		{ "lock_timeout", "2147483647", "2147483647ms" },
		{ "max_message_size", "1024", "1kB" },
		{ "max_message_size", "1025", "1025B" },
		{ "max_message_size", "2048kB", "2MB" },
		{ "max_message_size", "1536kB", "1536kB" },
		{ "max_message_size", "1GB", "1GB" },
		{ "port", "+080", "80" },
		{ "role", "FOLLOWER", "follower" },
		{ "auth_method", "SCRAM-SHA-256", "scram-sha-256" },
		{ "data_dir", "it's", "it's" },
	};
	struct config cfg;
	config_defaults(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_set(&cfg, cases[i].name, cases[i].in);
		expect_show(&cfg, cases[i].name, cases[i].shown);
	}
}

/* SHOW's text for every setting parses back to the same config. */
struct collect {
	struct config *into;
	int count;
	const char *names[64];
};

static void collect_fn(void *arg, const char *name, const char *value, const char *help)
{
	struct collect *c = arg;
	assert_non_null(help);
	assert_true(strlen(help) > 0);
	assert_true(c->count < 64);
	c->names[c->count++] = name;
	expect_set(c->into, name, value);
}

static void test_synchronous(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);
	assert_int_equal(cfg.synchronous_commit, SYNC_ON);
	assert_int_equal(cfg.synchronous_fallback, SYNC_FALLBACK_BLOCK);
	assert_int_equal(cfg.synchronous_timeout_ms, 10000);
	assert_int_equal(cfg.max_replica_lag_ms, 0);
	assert_string_equal(cfg.synchronous_standbys, "");
	expect_show(&cfg, "synchronous_commit", "on");
	expect_show(&cfg, "synchronous_timeout", "10s");
	expect_show(&cfg, "synchronous_fallback", "block");
	expect_show(&cfg, "max_replica_lag", "0");
	expect_set(&cfg, "synchronous_commit", "off"); /* PostgreSQL's name for local */
	assert_int_equal(cfg.synchronous_commit, SYNC_LOCAL);
	expect_show(&cfg, "synchronous_commit", "local");
	expect_set(&cfg, "synchronous_commit", "remote_write");
	assert_int_equal(cfg.synchronous_commit, SYNC_REMOTE_WRITE);
	expect_reject(&cfg, "synchronous_commit", "sometimes", "synchronous_commit");
	expect_reject(&cfg, "synchronous_fallback", "fail", "synchronous_fallback");
	expect_reject(&cfg, "synchronous_timeout", "0", "synchronous_timeout");
	expect_set(&cfg, "max_replica_lag", "1500ms");
	assert_int_equal(cfg.max_replica_lag_ms, 1500);
}

static void test_show_roundtrip(void **state)
{
	(void)state;
	struct config a, b;
	config_defaults(&a);
	expect_set(&a, "listen_address", "0.0.0.0");
	expect_set(&a, "port", "0");
	expect_set(&a, "data_dir", "/d'ir with 'quotes'");
	expect_set(&a, "node_name", "n1");
	expect_set(&a, "role", "follower");
	expect_set(&a, "max_connections", "10000");
	expect_set(&a, "reader_threads", "64");
	expect_set(&a, "max_reader_threads", "100");
	expect_set(&a, "max_message_size", "1025");
	expect_set(&a, "checkpoint_wal_size", "1GB");
	expect_set(&a, "log_mode", "both");
	expect_set(&a, "commit_batch_size", "1");
	expect_set(&a, "log_compression", "on");
	expect_set(&a, "log_segment_size", "2MB");
	expect_set(&a, "log_keep_size", "0");
	expect_set(&a, "max_log_size", "3GB");
	expect_set(&a, "max_slot_lag", "2GB");
	expect_set(&a, "statement_timeout", "2147483647");
	expect_set(&a, "idle_in_transaction_session_timeout", "90s");
	expect_set(&a, "authentication_timeout", "1s");
	expect_set(&a, "lock_timeout", "86400000");
	expect_set(&a, "auth_method", "scram-sha-256");
	expect_set(&a, "password_file", "/etc/sluice/passwd");
	expect_set(&a, "log_level", "debug");
	expect_set(&a, "port_file", "/tmp/port");
	expect_set(&a, "peer_listen", "127.0.0.1:0");
	expect_set(&a, "peer_port_file", "/tmp/peer");
	expect_set(&a, "leader_peer", "10.0.0.1:6433");
	expect_set(&a, "cluster_id", "c2");
	expect_set(&a, "stream_compression", "on");
	expect_set(&a, "max_standby_delay", "2s");
	expect_set(&a, "replication_timeout", "3s");
	expect_set(&a, "synchronous_commit", "remote_apply");
	expect_set(&a, "synchronous_standbys", "ANY 2 (n2, n3, n4)");
	expect_set(&a, "synchronous_timeout", "250ms");
	expect_set(&a, "synchronous_fallback", "async");
	expect_set(&a, "max_replica_lag", "5s");
	expect_set(&a, "admin_users", "alice, bob");
	expect_set(&a, "peers", "n1@127.0.0.1:7001, n2@127.0.0.1:7002");
	expect_set(&a, "switchover_timeout", "4s");
	expect_set(&a, "follower_retention_timeout", "1h");
	expect_set(&a, "failover", "off");
	expect_set(&a, "failover_priority", "7");
	expect_set(&a, "heartbeat_interval", "50ms");
	expect_set(&a, "lease_timeout", "2s");
	expect_set(&a, "failover_timeout", "5s");
	expect_set(&a, "ssl", "on");
	expect_set(&a, "ssl_required", "on");
	expect_set(&a, "ssl_cert_file", "/etc/sluice/node.crt");
	expect_set(&a, "ssl_key_file", "/etc/sluice/node.key");
	expect_set(&a, "ssl_ca_file", "/etc/sluice/ca.crt");
	expect_set(&a, "ssl_min_protocol_version", "TLSv1.3");
	expect_set(&a, "peer_ssl", "on");

	/* b starts from defaults, so every setting differs until copied. */
	config_defaults(&b);
	struct collect c = { .into = &b };
	config_foreach(&a, collect_fn, &c);
	assert_int_equal(c.count, 54);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_string_equal(c.names[0], "listen_address");
	assert_string_equal(c.names[7], "max_reader_threads");
	assert_string_equal(c.names[10], "log_mode");
	assert_string_equal(c.names[16], "max_slot_lag");
	assert_string_equal(c.names[23], "admin_users");
	assert_string_equal(c.names[24], "ssl");
	assert_string_equal(c.names[30], "peer_ssl");
	assert_string_equal(c.names[32], "port_file");
	assert_string_equal(c.names[36], "peers");
	assert_string_equal(c.names[38], "cluster_secret");
	assert_string_equal(c.names[46], "switchover_timeout");
	assert_string_equal(c.names[47], "follower_retention_timeout");
	assert_string_equal(c.names[48], "failover");
	assert_string_equal(c.names[52], "failover_timeout");

	/* a secret is never shown, nor echoed when refused; a weak one is refused */
	char shown[64];
	expect_reject(&a, "cluster_secret", "hunter2", "too short: a cluster_secret needs at least 32 characters");
	expect_reject(&a, "cluster_secret", "abababababababababababababababababababab", "too predictable");
	expect_reject(&a, "cluster_secret", "secretsecretsecretsecretsecretsecret", "too predictable");
	char err[512] = "";
	assert_int_equal(config_set(&a, "cluster_secret", "hunter2hunter2hunter2hunter2hunter2", err, sizeof(err)),
			 SL_EINVAL);
	assert_null(strstr(err, "hunter2"));
	expect_set(&a, "cluster_secret", "3f1c9a7be0d24c58a61f0e9b7c2d4a85"); /* 32 hex digits, as openssl rand -hex 16 */
	expect_set(&a, "cluster_secret", "correct horse battery staple, twice over");
	char made[SECRET_HEX_LEN + 1];
	assert_int_equal(secret_generate(made, sizeof(made)), 0);
	assert_int_equal(strlen(made), SECRET_HEX_LEN);
	assert_null(secret_weakness(made));
	expect_set(&a, "cluster_secret", made);
	assert_int_equal(config_show(&a, "cluster_secret", shown, sizeof(shown)), 0);
	assert_string_equal(shown, CONFIG_SECRET_SHOWN);
	expect_set(&a, "cluster_secret", "");

	/* And one setting at a time, through config_show. */
	for (int i = 0; i < c.count; i++) {
		char out[CONFIG_STR_MAX];
		struct config d;
		config_defaults(&d);
		assert_int_equal(config_show(&a, c.names[i], out, sizeof(out)), 0);
		expect_set(&d, c.names[i], out);
		char again[CONFIG_STR_MAX];
		assert_int_equal(config_show(&d, c.names[i], again, sizeof(again)), 0);
		assert_string_equal(out, again);
	}
}

static void test_show_small_buffer(void **state)
{
	(void)state;
	struct config cfg;
	char out[8];
	config_defaults(&cfg);
	assert_int_equal(config_show(&cfg, "listen_address", out, sizeof(out)), SL_ETOOBIG);
	assert_string_equal(out, "127.0.0");
	assert_int_equal(config_show(&cfg, "port", out, 4), SL_ETOOBIG);
	assert_string_equal(out, "543");
	assert_int_equal(config_show(&cfg, "port", out, 5), 0);
	assert_string_equal(out, "5433");
	char big[CONFIG_STR_MAX];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_set(&cfg, "data_dir", big);
	assert_int_equal(config_show(&cfg, "data_dir", big, sizeof(big)), 0);
}

static void test_print_help(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	config_print_help(f);
	fclose(f);
	static const char *const want[] = {
		"listen_address = '127.0.0.1'",
		"port = 5433  (integer, 0 to 65535)",
		"data_dir = ''",
		"role = leader  (one of leader, follower, witness)",
		"failover = on  (one of off, on)",
		"lease_timeout = 600ms",
		"max_message_size = 64MB  (size, 1kB to 1GB)",
		"authentication_timeout = 60s  (duration, 1s to 2147483647ms)",
		"auth_method = trust  (one of trust, password, scram-sha-256)",
		"log_level = info",
		"port_file = ''",
		"node_name", "max_connections", "reader_threads", "statement_timeout",
		"idle_in_transaction_session_timeout", "lock_timeout", "password_file",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("help lacks \"%s\":\n%s", want[i], text);
	free(text);
}

/* ---------------------------------------------------------------- files */

static void test_file(void **state)
{
	(void)state;
	struct config cfg;
	char err[512] = "";
	config_defaults(&cfg);
	const char *text = "# sluice.conf\n"
			   "\n"
			   "   \t\n"
			   "listen_address = '0.0.0.0'   # all interfaces\n"
			   "port=6000\n"
			   "  PORT_File  /tmp/sluice.port\n"
			   "data_dir = '/var/lib/it''s here'\n"
			   "node_name = ''\n"
			   "role follower#comment right after\n"
			   "statement_timeout = '5 s'\n"
			   "lock_timeout = 250ms\r\n"
			   "max_message_size =1MB\n"
			   "auth_method = 'scram-sha-256'\n"
			   "password_file = '#not a comment'\n"
			   "log_level = WARNING\n"
			   "reader_threads = 4\n"
			   "reader_threads = 8   # the last one wins\n"
			   "\tmax_connections\t=\t7\t\n"
			   "# no newline at the end:\n"
			   "idle_in_transaction_session_timeout = 0";
	assert_int_equal(load_text(&cfg, text, err, sizeof(err), NULL, 0), 0);
	assert_string_equal(cfg.listen_address, "0.0.0.0");
	assert_int_equal(cfg.port, 6000);
	assert_string_equal(cfg.port_file, "/tmp/sluice.port");
	assert_string_equal(cfg.data_dir, "/var/lib/it's here");
	assert_string_equal(cfg.node_name, "");
	assert_int_equal(cfg.role, ROLE_FOLLOWER);
	assert_true(cfg.statement_timeout_ms == 5000);
	assert_true(cfg.lock_timeout_ms == 250);
	assert_true(cfg.max_message_size == 1024 * 1024);
	assert_int_equal(cfg.auth_method, AUTH_SCRAM);
	assert_string_equal(cfg.password_file, "#not a comment");
	assert_int_equal(cfg.log_level, LOG_WARNING);
	assert_int_equal(cfg.reader_threads, 8);
	assert_int_equal(cfg.max_connections, 7);
	assert_true(cfg.idle_in_transaction_session_timeout_ms == 0);
	assert_true(cfg.authentication_timeout_ms == 60000); /* untouched */
}

static void test_file_quotes(void **state)
{
	(void)state;
	static const struct {
		const char *line, *want;
	} cases[] = {
		{ "node_name = 'a'\n", "a" },
		{ "node_name = ''\n", "" },
		{ "node_name = ''''\n", "'" },
		{ "node_name = 'it''s'\n", "it's" },
		{ "node_name = '''a'''\n", "'a'" },
		{ "node_name = '  pad  '\n", "  pad  " },
		{ "node_name = 'a # b' # c\n", "a # b" },
		{ "node_name = 'tab\there'\n", "tab\there" },
		{ "node_name = 'back\\slash'\n", "back\\slash" },
		{ "node_name='x'#c\n", "x" },
		{ "node_name 'x'\n", "x" },
		{ "node_name = plain-token_1.2:3/4\n", "plain-token_1.2:3/4" },
		{ "\xEF\xBB\xBFnode_name = bom\n", "bom" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char err[512] = "";
		config_defaults(&cfg);
		int rc = load_text(&cfg, cases[i].line, err, sizeof(err), NULL, 0);
		if (rc != 0)
			fail_msg("%s: %s", cases[i].line, err);
		assert_string_equal(cfg.node_name, cases[i].want);
	}
}

/* Expects text to fail at line `line` with want after "PATH:LINE: ". */
static void expect_file_error(const char *text, int line, const char *want)
{
	struct config cfg, before;
	char err[512] = "", path[64], prefix[96];
	config_defaults(&cfg);
	before = cfg;
	int rc = load_text(&cfg, text, err, sizeof(err), path, sizeof(path));
	if (rc != SL_EINVAL)
		fail_msg("\"%s\" returned %d (%s), expected SL_EINVAL", text, rc, err);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want))
		fail_msg("message \"%s\" is not \"%s%s...\"", err, prefix, want);
	/* All or nothing: the valid lines before the error are not applied. */
	assert_memory_equal(&before, &cfg, sizeof(cfg));
}

static void test_file_errors(void **state)
{
	(void)state;
	expect_file_error("port = 6000\n# c\nprot = 5\n", 3, "unknown setting \"prot\"");
	expect_file_error("role = follower\nport = abc\n", 2,
			  "invalid value for \"port\": \"abc\" (must be an integer)");
	expect_file_error("\n\n\n\nport = 70000 # too big\n", 5,
			  "invalid value for \"port\": \"70000\" (must be between 0 and 65535)");
	expect_file_error("max_message_size = 1kb\n", 1, "no unit means B");
	expect_file_error("port = 5433 5434\n", 1, "syntax error near \"5434\"");
	expect_file_error("port = 'abc\n", 1, "unterminated quoted string");
	expect_file_error("port = 'abc''\n", 1, "unterminated quoted string");
	expect_file_error("port =\n", 1, "missing value for \"port\"");
	expect_file_error("port = # nothing\n", 1, "missing value for \"port\"");
	expect_file_error("port\n", 1, "missing value for \"port\"");
	expect_file_error("= 5\n", 1, "syntax error near \"= 5\"");
	expect_file_error("'port' = 5\n", 1, "syntax error near \"'port' = 5\"");
	expect_file_error("port = 5'x'\n", 1, "syntax error");
	expect_file_error("node_name = 'a' 'b'\n", 1, "syntax error near \"'b'\"");
	expect_file_error("node_name = 'a'b\n", 1, "syntax error near \"b\"");
	expect_file_error("port = = 5\n", 1, "syntax error near \"5\"");
	expect_file_error("data_dir = '/tmp/x'\nlock_timeout = 1500us\n", 2,
			  "must be a whole number of milliseconds");

	struct config cfg;
	char err[512], path[128];
	config_defaults(&cfg);
	struct tmpfile t;
	tmpfile_write(&t, "port = 1\nnode_name = a\0b\n", 25);
	assert_int_equal(config_load_file(&cfg, t.path, err, sizeof(err)), SL_EINVAL);
	unlink(t.path);
	snprintf(path, sizeof(path), "%s:2: line contains a NUL byte", t.path);
	assert_string_equal(err, path);
	assert_int_equal(cfg.port, 5433);
}

static void test_file_missing(void **state)
{
	(void)state;
	struct config cfg;
	char err[512] = "";
	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, "/nonexistent/sluice.conf", err, sizeof(err)),
			 SL_EIO);
	assert_non_null(strstr(err, "/nonexistent/sluice.conf"));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(cfg.port, 5433);

	/* A directory opens but does not read. */
	assert_int_equal(config_load_file(&cfg, "/tmp", err, sizeof(err)), SL_EIO);
	assert_non_null(strstr(err, "\"/tmp\""));
}

static void test_file_empty(void **state)
{
	(void)state;
	struct config cfg, before;
	char err[64] = "";
	config_defaults(&cfg);
	before = cfg;
	assert_int_equal(load_text(&cfg, "", err, sizeof(err), NULL, 0), 0);
	assert_int_equal(load_text(&cfg, "# only a comment", err, sizeof(err), NULL, 0), 0);
	assert_memory_equal(&before, &cfg, sizeof(cfg));
}

/* A config file loaded on top of a non-default config changes only its keys. */
static void test_file_layers(void **state)
{
	(void)state;
	struct config cfg;
	char err[256] = "";
	config_defaults(&cfg);
	expect_set(&cfg, "port", "7000");
	assert_int_equal(load_text(&cfg, "role = follower\n", err, sizeof(err), NULL, 0), 0);
	assert_int_equal(cfg.port, 7000);
	assert_int_equal(cfg.role, ROLE_FOLLOWER);
}

/* peers = 'name@host:port, ...': the list, and each way it can be wrong. */
static void test_members(void **state)
{
	(void)state;
	struct members m;
	char err[256];
	assert_int_equal(members_parse("", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 0);
	assert_int_equal(members_parse(" n1@127.0.0.1:7001,n2@host-2:7002 ,  n3@[::1]:7003, ", &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[0].name, "n1");
	assert_string_equal(m.v[0].addr, "127.0.0.1:7001");
	assert_string_equal(m.v[1].addr, "host-2:7002");
	assert_string_equal(m.v[2].addr, "[::1]:7003");
	assert_non_null(members_find(&m, "n2"));
	assert_null(members_find(&m, "n4"));
	const char *bad[] = { "n1", "@h:1", "n1@h", "n1@h:0", "n1@h:65536", "n1@h:x", "n1@:1x", "n1@h:1, n1@h:2",
			      "n 1@h:1", "n1@:" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(members_parse(bad[i], &m, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	char many[2048] = "";
	for (int i = 0; i <= MEMBERS_MAX; i++) {
		char one[32];
		snprintf(one, sizeof(one), "%sn%d@h:%d", i ? "," : "", i, 7000 + i);
		strcat(many, one);
	}
	assert_int_equal(members_parse(many, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_shown),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_unknown_and_case),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_show_canonical),
		cmocka_unit_test(test_show_roundtrip),
		cmocka_unit_test(test_show_small_buffer),
		cmocka_unit_test(test_print_help),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_quotes),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_synchronous),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_file_empty),
		cmocka_unit_test(test_file_layers),
		cmocka_unit_test(test_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
