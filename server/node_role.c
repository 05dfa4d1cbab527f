/*
 * node_role.c — the node's roles and the moves between them (server.h).
 * runtime.c makes the moves (set_role), checking each against this table:
 * follower → promoting → leader, and leader → demoting → follower.
 */
#include "server.h"

#include "state_table.h"

static const char *const role_names[NODE_ROLE_COUNT] = {
	[NODE_FOLLOWER] = "follower",
	[NODE_PROMOTING] = "promoting",
	[NODE_LEADER] = "leader",
	[NODE_DEMOTING] = "demoting",
};

/* role_moves[from][to]: the moves a node's role may make. */
static const bool role_moves[NODE_ROLE_COUNT][NODE_ROLE_COUNT] = {
	[NODE_FOLLOWER][NODE_PROMOTING] = true,
	[NODE_PROMOTING][NODE_LEADER] = true,
	[NODE_LEADER][NODE_DEMOTING] = true,
	[NODE_DEMOTING][NODE_FOLLOWER] = true,
};

static const struct state_table table = { NODE_ROLE_COUNT, role_names, &role_moves[0][0] };

const char *node_role_name(enum node_role role)
{
	return state_table_name(&table, (int)role);
}

bool node_role_can_move(enum node_role from, enum node_role to)
{
	return state_table_can_move(&table, (int)from, (int)to);
}
