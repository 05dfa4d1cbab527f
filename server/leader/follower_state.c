/*
 * follower_state.c — the states of a follower's link as the leader sees
 * it, and the moves between them (peers.h). peers.c makes the moves
 * (follower_move, with the registry's lock held), checking each against
 * this table. Only the link that serves a follower now moves its state:
 * an older link that a reconnect replaced moves nothing.
 *
 *   startup → catchup → streaming → disconnected → dropped
 *
 * and from startup, catchup or streaming: disconnected when the link
 * ends, startup again when a newer link of the same follower replaces it;
 * from disconnected: startup when it comes back. A dropped follower's
 * slot is free: if it comes back, it starts afresh in startup.
 */
#include "peers.h"

#include "state_table.h"

static const char *const state_names[FOLLOWER_STATE_COUNT] = {
	[FOLLOWER_STARTUP] = "startup",
	[FOLLOWER_CATCHUP] = "catchup",
	[FOLLOWER_STREAMING] = "streaming",
	[FOLLOWER_DISCONNECTED] = "disconnected",
	[FOLLOWER_DROPPED] = "dropped",
};

/* state_moves[from][to]: the moves a follower's state may make. */
static const bool state_moves[FOLLOWER_STATE_COUNT][FOLLOWER_STATE_COUNT] = {
	[FOLLOWER_STARTUP][FOLLOWER_CATCHUP] = true,       /* STREAM_START sent */
	[FOLLOWER_STARTUP][FOLLOWER_DISCONNECTED] = true,
	[FOLLOWER_STARTUP][FOLLOWER_STARTUP] = true,       /* a newer link */
	[FOLLOWER_CATCHUP][FOLLOWER_STREAMING] = true,     /* nothing more to send */
	[FOLLOWER_CATCHUP][FOLLOWER_DISCONNECTED] = true,
	[FOLLOWER_CATCHUP][FOLLOWER_STARTUP] = true,
	[FOLLOWER_STREAMING][FOLLOWER_DISCONNECTED] = true,
	[FOLLOWER_STREAMING][FOLLOWER_STARTUP] = true,
	[FOLLOWER_DISCONNECTED][FOLLOWER_STARTUP] = true,  /* it came back */
	[FOLLOWER_DISCONNECTED][FOLLOWER_DROPPED] = true,  /* forgotten */
};

static const struct state_table table = { FOLLOWER_STATE_COUNT, state_names, &state_moves[0][0] };

const char *follower_state_name(enum follower_state state)
{
	return state_table_name(&table, (int)state);
}

bool follower_state_can_move(enum follower_state from, enum follower_state to)
{
	return state_table_can_move(&table, (int)from, (int)to);
}
