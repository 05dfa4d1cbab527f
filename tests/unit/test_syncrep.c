/*
 * test_syncrep.c — unit tests for server/syncrep.c: synchronous_standbys
 * parsing (every form, every refusal), the position FIRST k and ANY k
 * confirm at each level, sync_state, and the wait: confirmed, woken by an
 * acknowledgement, timed out into the degraded state and back, and given
 * up by its probe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "sl_time.h"
#include "syncrep.h"

static struct syncrep_rule parse_ok(const char *text)
{
	struct syncrep_rule r;
	char err[256] = "";
	int rc = syncrep_rule_parse(text, &r, err, sizeof(err));
	if (rc != 0)
		fail_msg("\"%s\" refused: %s", text, err);
	return r;
}

static void parse_bad(const char *text, const char *why)
{
	struct syncrep_rule r;
	char err[256] = "";
	assert_int_equal(syncrep_rule_parse(text, &r, err, sizeof(err)), -1);
	if (!strstr(err, why))
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, why);
}

static void test_parse(void **state)
{
	(void)state;
	struct syncrep_rule r = parse_ok("");
	assert_int_equal(r.k, 0);
	r = parse_ok("   ");
	assert_int_equal(r.k, 0);
	r = parse_ok("a");
	assert_false(r.any);
	assert_int_equal(r.k, 1);
	assert_int_equal(r.nnames, 1);
	assert_string_equal(r.names[0], "a");
	r = parse_ok("node2, node3");
	assert_false(r.any);
	assert_int_equal(r.k, 1);
	assert_int_equal(r.nnames, 2);
	assert_string_equal(r.names[1], "node3");
	r = parse_ok("FIRST 2 (a, b, c)");
	assert_false(r.any);
	assert_int_equal(r.k, 2);
	assert_int_equal(r.nnames, 3);
	r = parse_ok("any 2(a,b ,c)");
	assert_true(r.any);
	assert_int_equal(r.k, 2);
	assert_string_equal(r.names[2], "c");
	r = parse_ok("2 (x, y)");
	assert_false(r.any);
	assert_int_equal(r.k, 2);
	r = parse_ok("FIRST 1 (\"127.0.0.1:5433\", \"we\"\"ird\")");
	assert_string_equal(r.names[0], "127.0.0.1:5433");
	assert_string_equal(r.names[1], "we\"ird");
	r = parse_ok("(a, b)");
	assert_int_equal(r.k, 1);
	assert_int_equal(r.nnames, 2);

	parse_bad("FIRST 0 (a)", "between 1 and");
	parse_bad("ANY -1 (a)", "between 1 and");
	parse_bad("FIRST 3 (a, b)", "only 2 listed");
	parse_bad("ANY 1 a", "\"(\" expected");
	parse_bad("FIRST 1 (a, a)", "listed twice");
	parse_bad("*", "list the standbys by node_name");
	parse_bad("FIRST 1 (a", "\")\" expected");
	parse_bad("a b", "unexpected");
	parse_bad("a,", "a standby name is expected");
	parse_bad("FIRST 1 (\"a)", "unterminated");
}

static struct syncrep *make(const char *text, int64_t timeout_ms, int fallback)
{
	struct syncrep_rule r = parse_ok(text);
	struct syncrep *sr = syncrep_new(&r, timeout_ms, fallback, NULL);
	assert_non_null(sr);
	return sr;
}

static void test_first(void **state)
{
	(void)state;
	struct syncrep *sr = make("FIRST 1 (a, b)", 1000, SYNC_FALLBACK_BLOCK);
	assert_true(syncrep_enabled(sr));
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 0); /* nobody yet */
	syncrep_update(sr, "b", true, 300, 200, 100);
	assert_int_equal(syncrep_confirmed(sr, SYNC_REMOTE_WRITE), 300);
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 200);
	assert_int_equal(syncrep_confirmed(sr, SYNC_REMOTE_APPLY), 100);
	assert_string_equal(syncrep_state(sr, "b"), "sync");
	assert_string_equal(syncrep_state(sr, "a"), "potential");
	syncrep_update(sr, "a", true, 50, 40, 30); /* a comes first when streaming */
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 40);
	assert_string_equal(syncrep_state(sr, "a"), "sync");
	assert_string_equal(syncrep_state(sr, "b"), "potential");
	assert_string_equal(syncrep_state(sr, "x"), "async");
	syncrep_update(sr, "a", false, 50, 40, 30); /* a's link is gone */
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 200);
	assert_string_equal(syncrep_state(sr, "b"), "sync");
	syncrep_free(sr);

	sr = make("FIRST 2 (a, b, c)", 1000, SYNC_FALLBACK_BLOCK);
	syncrep_update(sr, "a", true, 0, 500, 0);
	syncrep_update(sr, "c", true, 0, 700, 0);
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 500); /* the slower of the two */
	syncrep_update(sr, "c", false, 0, 700, 0);
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 0); /* only one left */
	syncrep_free(sr);
}

static void test_any(void **state)
{
	(void)state;
	struct syncrep *sr = make("ANY 2 (a, b, c)", 1000, SYNC_FALLBACK_BLOCK);
	syncrep_update(sr, "a", true, 0, 100, 0);
	syncrep_update(sr, "b", true, 0, 300, 0);
	syncrep_update(sr, "c", true, 0, 200, 0);
	syncrep_update(sr, "z", true, 0, 900, 0); /* not listed: does not count */
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 200);
	syncrep_update(sr, "c", false, 0, 200, 0);
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 100);
	syncrep_update(sr, "b", false, 0, 300, 0);
	assert_int_equal(syncrep_confirmed(sr, SYNC_ON), 0);
	assert_string_equal(syncrep_state(sr, "a"), "quorum");
	assert_string_equal(syncrep_state(sr, "b"), "quorum");
	assert_string_equal(syncrep_state(sr, "z"), "async");
	syncrep_free(sr);

	sr = make("", 1000, SYNC_FALLBACK_BLOCK);
	assert_false(syncrep_enabled(sr));
	assert_string_equal(syncrep_state(sr, "a"), "async");
	assert_int_equal(syncrep_wait(sr, 1000, SYNC_ON, NULL, NULL), SYNCREP_CONFIRMED);
	syncrep_free(sr);
}

struct acker {
	struct syncrep *sr;
	uint64_t lsn;
};

static void *ack_later(void *arg)
{
	struct acker *a = arg;
	sl_sleep_ms(50);
	syncrep_update(a->sr, "a", true, a->lsn, a->lsn, 0);
	return NULL;
}

static int probes;
static bool give_up_third(void *arg)
{
	(void)arg;
	return ++probes >= 3;
}

static void test_wait(void **state)
{
	(void)state;
	struct syncrep *sr = make("FIRST 1 (a)", 200, SYNC_FALLBACK_ASYNC);
	syncrep_update(sr, "a", true, 100, 100, 0);
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, NULL, NULL), SYNCREP_CONFIRMED);
	assert_int_equal(syncrep_wait(sr, 500, SYNC_LOCAL, NULL, NULL), SYNCREP_CONFIRMED);

	/* woken by the acknowledgement */
	struct acker a = { sr, 150 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ack_later, &a), 0);
	int64_t start = sl_monotonic_ms();
	assert_int_equal(syncrep_wait(sr, 150, SYNC_ON, NULL, NULL), SYNCREP_CONFIRMED);
	assert_true(sl_monotonic_ms() - start < 190);
	pthread_join(t, NULL);

	/* remote_apply is not confirmed by a flush */
	start = sl_monotonic_ms();
	assert_int_equal(syncrep_wait(sr, 150, SYNC_REMOTE_APPLY, NULL, NULL), SYNCREP_DEGRADED);
	assert_true(sl_monotonic_ms() - start >= 200);
	assert_true(syncrep_degraded(sr));
	/* degraded: no waiting */
	start = sl_monotonic_ms();
	assert_int_equal(syncrep_wait(sr, 400, SYNC_ON, NULL, NULL), SYNCREP_DEGRADED);
	assert_true(sl_monotonic_ms() - start < 100);
	/* back once a standby confirms what had been committed when it last
	 * acknowledged: 150 when degraded, 400 since */
	syncrep_update(sr, "a", true, 140, 140, 0);
	assert_true(syncrep_degraded(sr));
	syncrep_update(sr, "a", true, 300, 300, 0);
	assert_true(syncrep_degraded(sr));
	syncrep_update(sr, "a", true, 400, 400, 400);
	assert_false(syncrep_degraded(sr));
	assert_int_equal(syncrep_wait(sr, 400, SYNC_REMOTE_APPLY, NULL, NULL), SYNCREP_CONFIRMED);
	syncrep_free(sr);

	/* block: past the timeout the wait goes on, until the probe gives up */
	sr = make("FIRST 1 (a)", 10, SYNC_FALLBACK_BLOCK);
	probes = 0;
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, give_up_third, NULL), SYNCREP_STOPPED);
	assert_int_equal(probes, 3);
	assert_false(syncrep_degraded(sr));
	syncrep_shutdown(sr);
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, NULL, NULL), SYNCREP_STOPPED);
	syncrep_free(sr);
}

/* Without the leader lease nothing is confirmed: a wait fails with
 * DEPOSED (40003 to the client), also for a position the standbys hold,
 * and also when the lease runs out while it waits. */
static void test_lease(void **state)
{
	(void)state;
	struct syncrep_rule r = parse_ok("FIRST 1 (a)");
	struct lease lease;
	lease_set(&lease, INT64_MAX);
	struct syncrep *sr = syncrep_new(&r, 5000, SYNC_FALLBACK_BLOCK, &lease);
	syncrep_update(sr, "a", true, 100, 100, 100);
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, NULL, NULL), SYNCREP_CONFIRMED);
	lease_set(&lease, 0);
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, NULL, NULL), SYNCREP_DEPOSED);
	lease_set(&lease, sl_monotonic_ms() + 100);
	int64_t start = sl_monotonic_ms();
	assert_int_equal(syncrep_wait(sr, 200, SYNC_ON, NULL, NULL), SYNCREP_DEPOSED);
	assert_true(sl_monotonic_ms() - start >= 100);
	assert_true(sl_monotonic_ms() - start < 1000);
	lease_set(&lease, INT64_MAX); /* the lease is back */
	assert_int_equal(syncrep_wait(sr, 100, SYNC_ON, NULL, NULL), SYNCREP_CONFIRMED);
	syncrep_free(sr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_first),
		cmocka_unit_test(test_any),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_lease),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
