/*
 * state_table.h — a state machine as data: the names of its states and a
 * table of the moves allowed between them. Each machine keeps its own
 * table (replica/replica_state.c, server/leader/follower_state.c,
 * server/node_role.c) and reads it through these two functions; the code
 * that moves a state checks the move with SL_ASSERT.
 */
#ifndef SL_STATE_TABLE_H
#define SL_STATE_TABLE_H

#include <stdbool.h>

struct state_table {
	int count;                /* states 0 .. count - 1 */
	const char *const *names; /* count names */
	const bool *moves;        /* count x count: moves[from * count + to] */
};

/* The state's name; an invalid state is a bug (SL_ASSERT). */
const char *state_table_name(const struct state_table *t, int state);
/* Whether from may move to; false for an invalid state. */
bool state_table_can_move(const struct state_table *t, int from, int to);

#endif
