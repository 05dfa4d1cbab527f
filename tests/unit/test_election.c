/*
 * test_election.c — unit tests for the election core's rules, one member
 * at a time with hand-made messages (the simulator, test_cluster_sim.c,
 * checks the invariants of many together): timing settings are checked;
 * a member votes once per epoch, only for a candidate at least as up to
 * date, a tie going to the higher priority, and only once it has lost
 * the leader; a newer epoch is adopted at once and a leader steps down;
 * a lost lease fences, then steps down; the role table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "election.h"

static struct election_config config(int self, uint8_t priority)
{
	struct election_config c = { .nmembers = 3,
				     .self = self,
				     .failover = true,
				     .priority = priority,
				     .heartbeat_ms = 100,
				     .lease_ms = 600,
				     .failover_ms = 1000,
				     .jitter_ms = 300 };
	return c;
}

static void init(struct election *e, int self, uint8_t priority, uint64_t last_epoch, uint64_t last_lsn)
{
	struct election_config c = config(self, priority);
	struct election_vote v = { 0, ELECTION_NOBODY };
	election_init(e, &c, &v, last_epoch, last_lsn, 0, 42);
}

/* The first action of kind in acts, or NULL. */
static const struct election_action *find(const struct election_actions *acts, enum election_action_kind kind)
{
	for (int i = 0; i < acts->n; i++)
		if (acts->v[i].kind == kind)
			return &acts->v[i];
	return NULL;
}

static struct election_msg vote_req(uint64_t epoch, uint64_t last_epoch, uint64_t last_lsn, uint8_t priority)
{
	return (struct election_msg){ .type = ELECTION_VOTE_REQ, .epoch = epoch, .last_epoch = last_epoch,
				      .last_lsn = last_lsn, .priority = priority, .stamp = 5 };
}

static void test_config_check(void **state)
{
	(void)state;
	char err[256];
	struct election_config c = config(0, 1);
	assert_int_equal(election_config_check(&c, err, sizeof(err)), 0);
	c.failover_ms = 800; /* below 1.5 x 600 */
	assert_int_equal(election_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "1.5 times lease_timeout"));
	c = config(0, 1);
	c.lease_ms = 100; /* not above the heartbeat */
	assert_int_equal(election_config_check(&c, err, sizeof(err)), -1);
	c = config(3, 1); /* self outside the members */
	assert_int_equal(election_config_check(&c, err, sizeof(err)), -1);
}

static void test_vote_rules(void **state)
{
	(void)state;
	struct election e;
	struct election_actions a = { 0 };
	init(&e, 0, 1, 1, 100);
	/* still has its leader (it just started): no vote, epoch kept */
	struct election_msg m = vote_req(2, 1, 100, 1);
	election_receive(&e, 500, 1, &m, &a);
	assert_false(find(&a, ELECTION_SEND)->msg.granted);
	assert_int_equal(e.epoch, 1);
	/* lost it: a candidate behind it is refused, though the epoch is adopted */
	a.n = 0;
	m = vote_req(2, 1, 99, 1);
	election_receive(&e, 1500, 1, &m, &a);
	assert_false(find(&a, ELECTION_SEND)->msg.granted);
	assert_int_equal(e.epoch, 2);
	/* one as up to date: granted, and the vote persisted before the answer */
	a.n = 0;
	m = vote_req(2, 1, 100, 1);
	election_receive(&e, 2600, 1, &m, &a);
	assert_int_equal(a.v[0].kind, ELECTION_PERSIST);
	assert_int_equal(a.v[0].to, 1);
	assert_int_equal(a.v[1].kind, ELECTION_SEND);
	assert_true(a.v[1].msg.granted);
	/* a second candidate in the same epoch: refused */
	a.n = 0;
	election_receive(&e, 3700, 2, &m, &a);
	assert_false(find(&a, ELECTION_SEND)->msg.granted);
	assert_null(find(&a, ELECTION_PERSIST));
	/* a lower epoch: refused */
	a.n = 0;
	m = vote_req(1, 9, 999, 9);
	election_receive(&e, 4800, 2, &m, &a);
	assert_false(find(&a, ELECTION_SEND)->msg.granted);
}

static void test_priority_tie(void **state)
{
	(void)state;
	struct election e;
	struct election_actions a = { 0 };
	init(&e, 0, 50, 1, 100);
	struct election_msg m = vote_req(2, 1, 100, 10); /* as up to date, lower priority */
	election_receive(&e, 1500, 1, &m, &a);
	assert_false(find(&a, ELECTION_SEND)->msg.granted);
	a.n = 0;
	m = vote_req(3, 1, 101, 10); /* more up to date: priority does not matter */
	election_receive(&e, 2600, 1, &m, &a);
	assert_true(find(&a, ELECTION_SEND)->msg.granted);
}

/* A member alone with one other answering wins, holds the lease, loses
 * it without answers (FENCE), and steps down failover_ms later. */
static void test_election_and_lease(void **state)
{
	(void)state;
	struct election e;
	struct election_actions a = { 0 };
	init(&e, 0, 1, 1, 100);
	election_tick(&e, 1299, &a);
	election_tick(&e, 1400, &a); /* failover_ms + jitter (below 300) passed */
	assert_int_equal(e.role, ELECTION_PRECANDIDATE);
	const struct election_action *req = find(&a, ELECTION_SEND);
	assert_int_equal(req->msg.type, ELECTION_PREVOTE_REQ);
	assert_int_equal(req->msg.epoch, 2);
	struct election_msg yes = { .type = ELECTION_PREVOTE, .granted = 1, .epoch = 1, .stamp = req->msg.stamp };
	a.n = 0;
	election_receive(&e, 1401, 1, &yes, &a);
	assert_int_equal(e.role, ELECTION_CANDIDATE);
	assert_int_equal(e.epoch, 2);
	assert_int_equal(find(&a, ELECTION_PERSIST)->to, 0);
	req = find(&a, ELECTION_SEND);
	assert_int_equal(req->msg.type, ELECTION_VOTE_REQ);
	struct election_msg vote = { .type = ELECTION_VOTE, .granted = 1, .epoch = 2, .stamp = req->msg.stamp };
	a.n = 0;
	election_receive(&e, 1402, 2, &vote, &a);
	assert_int_equal(e.role, ELECTION_LEADER);
	assert_int_equal(find(&a, ELECTION_LEAD)->epoch, 2);
	/* the lease runs from the vote request's stamp */
	assert_true(election_has_lease(&e, 1401 + 599));
	assert_false(election_has_lease(&e, 1401 + 600));
	a.n = 0;
	election_tick(&e, 2100, &a);
	assert_non_null(find(&a, ELECTION_FENCE));
	/* an answer to a heartbeat brings it back */
	struct election_msg ack = { .type = ELECTION_HEARTBEAT_ACK, .granted = 1, .epoch = 2, .stamp = 2100 };
	a.n = 0;
	election_receive(&e, 2110, 1, &ack, &a);
	assert_non_null(find(&a, ELECTION_UNFENCE));
	assert_true(election_has_lease(&e, 2699));
	/* a stamp it never sent counts for nothing */
	ack.stamp = 99999;
	election_receive(&e, 2120, 1, &ack, &a);
	assert_false(election_has_lease(&e, 2700));
	a.n = 0;
	election_tick(&e, 2700, &a);
	assert_non_null(find(&a, ELECTION_FENCE));
	a.n = 0;
	election_tick(&e, 3700, &a); /* failover_ms without the lease */
	assert_non_null(find(&a, ELECTION_STEP_DOWN));
	assert_int_equal(e.role, ELECTION_FOLLOWER);
}

static void test_newer_epoch(void **state)
{
	(void)state;
	struct election e;
	struct election_actions a = { 0 };
	init(&e, 0, 1, 1, 100);
	election_admin_lead(&e, 0, 0, &a);
	assert_int_equal(e.role, ELECTION_LEADER);
	assert_int_equal(e.epoch, 2);
	/* an answer from a newer epoch: the leader steps down at once */
	struct election_msg ack = { .type = ELECTION_HEARTBEAT_ACK, .granted = 0, .epoch = 5 };
	a.n = 0;
	election_receive(&e, 10, 1, &ack, &a);
	assert_non_null(find(&a, ELECTION_STEP_DOWN));
	assert_int_equal(e.epoch, 5);
	assert_false(election_has_lease(&e, 11));
	/* a heartbeat of an older epoch is refused with the newer one */
	struct election_msg hb = { .type = ELECTION_HEARTBEAT, .epoch = 4, .stamp = 20 };
	a.n = 0;
	election_receive(&e, 20, 2, &hb, &a);
	const struct election_action *ans = find(&a, ELECTION_SEND);
	assert_false(ans->msg.granted);
	assert_int_equal(ans->msg.epoch, 5);
	assert_null(find(&a, ELECTION_FOLLOW));
	/* one of this epoch is followed */
	hb.epoch = 5;
	a.n = 0;
	election_receive(&e, 30, 2, &hb, &a);
	assert_int_equal(find(&a, ELECTION_FOLLOW)->to, 2);
	assert_true(find(&a, ELECTION_SEND)->msg.granted);
}

static void test_never_leads(void **state)
{
	(void)state;
	struct election e;
	struct election_actions a = { 0 };
	init(&e, 0, 0, 1, 100); /* priority 0 */
	for (int64_t t = 0; t < 10000; t += 10)
		election_tick(&e, t, &a);
	assert_int_equal(e.role, ELECTION_FOLLOWER);
	assert_int_equal(a.n, 0);
	init(&e, 0, 1, 0, 0); /* no data yet */
	for (int64_t t = 0; t < 10000; t += 10)
		election_tick(&e, t, &a);
	assert_int_equal(e.role, ELECTION_FOLLOWER);
	init(&e, 0, 1, 1, 100);
	e.cfg.witness[0] = true; /* a witness */
	for (int64_t t = 0; t < 10000; t += 10)
		election_tick(&e, t, &a);
	assert_int_equal(e.role, ELECTION_FOLLOWER);
	assert_int_equal(a.n, 0);
}

static void test_role_table(void **state)
{
	(void)state;
	assert_string_equal(election_role_name(ELECTION_FOLLOWER), "follower");
	assert_string_equal(election_role_name(ELECTION_PRECANDIDATE), "precandidate");
	assert_string_equal(election_role_name(ELECTION_CANDIDATE), "candidate");
	assert_string_equal(election_role_name(ELECTION_LEADER), "leader");
	assert_true(election_role_can_move(ELECTION_FOLLOWER, ELECTION_PRECANDIDATE));
	assert_true(election_role_can_move(ELECTION_CANDIDATE, ELECTION_LEADER));
	assert_false(election_role_can_move(ELECTION_FOLLOWER, ELECTION_CANDIDATE)); /* no vote without a pre-vote */
	assert_false(election_role_can_move(ELECTION_LEADER, ELECTION_CANDIDATE));
	assert_false(election_role_can_move(ELECTION_ROLE_COUNT, ELECTION_LEADER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_check),   cmocka_unit_test(test_vote_rules),
		cmocka_unit_test(test_priority_tie),   cmocka_unit_test(test_election_and_lease),
		cmocka_unit_test(test_newer_epoch),    cmocka_unit_test(test_never_leads),
		cmocka_unit_test(test_role_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
