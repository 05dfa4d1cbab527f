/*
 * replica_state.c — the follower's states and the moves between them
 * (replica.h). The state is moved only by replica_set_state (replica.c),
 * which checks each move against this table.
 *
 * The receiver thread moves between connecting, bootstrapping, catchup
 * and streaming; the applier thread (and its fsync thread) moves to
 * stopped from any state when apply fails. The receiver goes on after
 * that: a lost link, a reconnect or a new snapshot move on from stopped
 * (a new snapshot restarts the applier; the others do not).
 */
#include "replica.h"

#include "state_table.h"

static const char *const state_names[REPLICA_STATE_COUNT] = {
	[REPLICA_CONNECTING] = "connecting",
	[REPLICA_BOOTSTRAPPING] = "bootstrapping",
	[REPLICA_CATCHUP] = "catchup",
	[REPLICA_STREAMING] = "streaming",
	[REPLICA_STOPPED] = "stopped",
};

/* state_moves[from][to]: the moves the follower's state may make. */
static const bool state_moves[REPLICA_STATE_COUNT][REPLICA_STATE_COUNT] = {
	/* no complete database, or the leader answers REBOOTSTRAP (or a
	 * history that parts inside the database) to FOLLOW */
	[REPLICA_CONNECTING][REPLICA_BOOTSTRAPPING] = true,
	[REPLICA_CONNECTING][REPLICA_CATCHUP] = true, /* STREAM_START */
	[REPLICA_CONNECTING][REPLICA_CONNECTING] = true, /* not reached: retried */
	[REPLICA_CONNECTING][REPLICA_STOPPED] = true,
	/* a snapshot installed: FOLLOW from it, or not reached */
	[REPLICA_BOOTSTRAPPING][REPLICA_CATCHUP] = true,
	[REPLICA_BOOTSTRAPPING][REPLICA_CONNECTING] = true,
	[REPLICA_BOOTSTRAPPING][REPLICA_BOOTSTRAPPING] = true, /* REBOOTSTRAP again */
	[REPLICA_BOOTSTRAPPING][REPLICA_STOPPED] = true, /* also: the applier did not restart */
	[REPLICA_CATCHUP][REPLICA_STREAMING] = true, /* has the leader's durable end */
	[REPLICA_CATCHUP][REPLICA_CONNECTING] = true, /* link lost */
	[REPLICA_CATCHUP][REPLICA_BOOTSTRAPPING] = true, /* REBOOTSTRAP while streaming */
	[REPLICA_CATCHUP][REPLICA_STOPPED] = true,
	[REPLICA_STREAMING][REPLICA_CONNECTING] = true,
	[REPLICA_STREAMING][REPLICA_BOOTSTRAPPING] = true,
	[REPLICA_STREAMING][REPLICA_STOPPED] = true,
	/* the receiver after apply failed (see above); stopped twice when
	 * apply and its fsync thread fail together */
	[REPLICA_STOPPED][REPLICA_BOOTSTRAPPING] = true,
	[REPLICA_STOPPED][REPLICA_STOPPED] = true,
};

static const struct state_table table = { REPLICA_STATE_COUNT, state_names, &state_moves[0][0] };

const char *replica_state_name(enum replica_state state)
{
	return state_table_name(&table, (int)state);
}

bool replica_state_can_move(enum replica_state from, enum replica_state to)
{
	return state_table_can_move(&table, (int)from, (int)to);
}
