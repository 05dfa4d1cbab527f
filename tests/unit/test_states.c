/*
 * test_states.c — unit tests for the state tables: the follower's state
 * (replica/replica_state.c), a follower as the leader sees it
 * (server/leader/follower_state.c) and the node's role
 * (server/node_role.c). For each: the names are exactly the strings
 * users and scripts read, every move the code makes is allowed and
 * nothing else is, a few moves that must never happen are refused, and
 * values out of range move nowhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "peers.h"
#include "replica.h"
#include "server.h"

struct move {
	int from, to;
};

/* A table through its two functions, so one set of checks serves all. */
struct table {
	int count;
	const char *(*name)(int s);
	bool (*can_move)(int from, int to);
};

static const char *replica_name(int s) { return replica_state_name((enum replica_state)s); }
static bool replica_can(int f, int t) { return replica_state_can_move((enum replica_state)f, (enum replica_state)t); }
static const char *follower_name(int s) { return follower_state_name((enum follower_state)s); }
static bool follower_can(int f, int t)
{
	return follower_state_can_move((enum follower_state)f, (enum follower_state)t);
}
static const char *role_name(int s) { return node_role_name((enum node_role)s); }
static bool role_can(int f, int t) { return node_role_can_move((enum node_role)f, (enum node_role)t); }

static const struct table replica_table = { REPLICA_STATE_COUNT, replica_name, replica_can };
static const struct table follower_table = { FOLLOWER_STATE_COUNT, follower_name, follower_can };
static const struct table role_table = { NODE_ROLE_COUNT, role_name, role_can };

/* names[s] is state s's name: exactly, and a name leads back to its state. */
static void check_names(const struct table *t, const char *const *names, int n)
{
	assert_int_equal(t->count, n);
	for (int s = 0; s < n; s++) {
		assert_string_equal(t->name(s), names[s]);
		int back = -1;
		for (int u = 0; u < n; u++)
			if (strcmp(t->name(u), names[s]) == 0) {
				assert_int_equal(back, -1); /* no two states share a name */
				back = u;
			}
		assert_int_equal(back, s);
	}
}

static bool listed(const struct move *m, int n, int from, int to)
{
	for (int i = 0; i < n; i++)
		if (m[i].from == from && m[i].to == to)
			return true;
	return false;
}

/* The table allows exactly the moves listed; out of range moves nowhere. */
static void check_moves(const struct table *t, const struct move *m, int n)
{
	for (int from = 0; from < t->count; from++)
		for (int to = 0; to < t->count; to++)
			if (t->can_move(from, to) != listed(m, n, from, to))
				fail_msg("move %s -> %s: table says %s", t->name(from), t->name(to),
					 t->can_move(from, to) ? "allowed" : "refused");
	for (int s = 0; s < t->count; s++) {
		assert_false(t->can_move(s, t->count));
		assert_false(t->can_move(t->count, s));
		assert_false(t->can_move(s, -1));
		assert_false(t->can_move(-1, s));
	}
}

/* ------------------------------------------------ the follower's state */

static void test_replica_names(void **state)
{
	(void)state;
	const char *names[] = {
		[REPLICA_CONNECTING] = "connecting", [REPLICA_BOOTSTRAPPING] = "bootstrapping",
		[REPLICA_CATCHUP] = "catchup",       [REPLICA_STREAMING] = "streaming",
		[REPLICA_STOPPED] = "stopped",
	};
	check_names(&replica_table, names, 5);
	/* the state a replica starts in (calloc) */
	assert_int_equal(REPLICA_CONNECTING, 0);
}

static void test_replica_moves(void **state)
{
	(void)state;
	enum { C = REPLICA_CONNECTING, B = REPLICA_BOOTSTRAPPING, K = REPLICA_CATCHUP, S = REPLICA_STREAMING,
	       X = REPLICA_STOPPED };
	const struct move code[] = {
		{ C, B }, /* replica_open: no complete database; recv_main: REBOOTSTRAP to FOLLOW */
		{ C, K }, /* follow: STREAM_START */
		{ C, C }, /* recv_main: the leader not reached, again */
		{ B, K }, /* the first FOLLOW after a snapshot */
		{ B, C }, /* not reached after a snapshot */
		{ B, B }, /* REBOOTSTRAP right after a snapshot */
		{ K, S }, /* note_leader_end: has the leader's end */
		{ K, C }, /* link lost */
		{ S, C },
		{ K, B }, /* REBOOTSTRAP while streaming */
		{ S, B },
		/* apply failed (applier, its fsync thread, or rebootstrap's restart) */
		{ C, X }, { B, X }, { K, X }, { S, X }, { X, X },
		/* after apply stopped, only a new snapshot moves on (the link's
		 * comings and goings leave it stopped: replica_set_state) */
		{ X, B },
	};
	check_moves(&replica_table, code, (int)(sizeof(code) / sizeof(code[0])));
	/* streaming only after catchup, and never back */
	assert_false(replica_state_can_move(REPLICA_CONNECTING, REPLICA_STREAMING));
	assert_false(replica_state_can_move(REPLICA_BOOTSTRAPPING, REPLICA_STREAMING));
	assert_false(replica_state_can_move(REPLICA_STOPPED, REPLICA_STREAMING));
	assert_false(replica_state_can_move(REPLICA_STOPPED, REPLICA_CATCHUP));
	assert_false(replica_state_can_move(REPLICA_STOPPED, REPLICA_CONNECTING));
	assert_false(replica_state_can_move(REPLICA_STREAMING, REPLICA_CATCHUP));
	assert_false(replica_state_can_move(REPLICA_CATCHUP, REPLICA_CATCHUP));
	assert_false(replica_state_can_move(REPLICA_STREAMING, REPLICA_STREAMING));
}

/* --------------------------------------- a follower as the leader sees it */

static void test_follower_names(void **state)
{
	(void)state;
	const char *names[] = {
		[FOLLOWER_STARTUP] = "startup",		  [FOLLOWER_CATCHUP] = "catchup",
		[FOLLOWER_STREAMING] = "streaming",	  [FOLLOWER_DISCONNECTED] = "disconnected",
		[FOLLOWER_DROPPED] = "dropped",
	};
	check_names(&follower_table, names, 5);
	/* the state of a registry slot just cleared (memset) */
	assert_int_equal(FOLLOWER_STARTUP, 0);
}

static void test_follower_moves(void **state)
{
	(void)state;
	enum { U = FOLLOWER_STARTUP, K = FOLLOWER_CATCHUP, S = FOLLOWER_STREAMING, D = FOLLOWER_DISCONNECTED,
	       X = FOLLOWER_DROPPED };
	const struct move code[] = {
		{ U, K }, /* stream: STREAM_START sent */
		{ K, S }, /* stream: nothing more to send */
		{ U, D }, { K, D }, { S, D }, /* follower_release: the link ended */
		{ U, U }, { K, U }, { S, U }, /* follower_claim: a newer link replaces one */
		{ D, U },		      /* follower_claim: it came back */
		{ D, X },		      /* follower_forget */
	};
	check_moves(&follower_table, code, (int)(sizeof(code) / sizeof(code[0])));
	assert_false(follower_state_can_move(FOLLOWER_STARTUP, FOLLOWER_STREAMING));
	assert_false(follower_state_can_move(FOLLOWER_STREAMING, FOLLOWER_CATCHUP));
	assert_false(follower_state_can_move(FOLLOWER_DISCONNECTED, FOLLOWER_CATCHUP));
	assert_false(follower_state_can_move(FOLLOWER_DISCONNECTED, FOLLOWER_STREAMING));
	/* only a follower without a link is forgotten; a forgotten one moves no more */
	assert_false(follower_state_can_move(FOLLOWER_STREAMING, FOLLOWER_DROPPED));
	assert_false(follower_state_can_move(FOLLOWER_STARTUP, FOLLOWER_DROPPED));
	for (int to = 0; to < FOLLOWER_STATE_COUNT; to++)
		assert_false(follower_state_can_move(FOLLOWER_DROPPED, (enum follower_state)to));
}

/* ------------------------------------------------------- the node's role */

static void test_role_names(void **state)
{
	(void)state;
	const char *names[] = {
		[NODE_FOLLOWER] = "follower",
		[NODE_PROMOTING] = "promoting",
		[NODE_LEADER] = "leader",
		[NODE_DEMOTING] = "demoting",
	};
	check_names(&role_table, names, 4);
}

static void test_role_moves(void **state)
{
	(void)state;
	const struct move code[] = {
		{ NODE_FOLLOWER, NODE_PROMOTING }, /* server_promote */
		{ NODE_PROMOTING, NODE_LEADER },
		{ NODE_LEADER, NODE_DEMOTING }, /* server_step_down */
		{ NODE_DEMOTING, NODE_FOLLOWER },
	};
	check_moves(&role_table, code, 4);
	/* never straight across, never back half-way */
	assert_false(node_role_can_move(NODE_FOLLOWER, NODE_LEADER));
	assert_false(node_role_can_move(NODE_LEADER, NODE_FOLLOWER));
	assert_false(node_role_can_move(NODE_PROMOTING, NODE_FOLLOWER));
	assert_false(node_role_can_move(NODE_DEMOTING, NODE_LEADER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replica_names),  cmocka_unit_test(test_replica_moves),
		cmocka_unit_test(test_follower_names), cmocka_unit_test(test_follower_moves),
		cmocka_unit_test(test_role_names),     cmocka_unit_test(test_role_moves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
