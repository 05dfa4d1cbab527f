/*
 * state_table.c — reading a state machine's table (see state_table.h).
 */
#include "state_table.h"

#include "sl_assert.h"

static bool valid(const struct state_table *t, int state) { return state >= 0 && state < t->count; }

const char *state_table_name(const struct state_table *t, int state)
{
	SL_ASSERT(valid(t, state));
	return t->names[state];
}

bool state_table_can_move(const struct state_table *t, int from, int to)
{
	return valid(t, from) && valid(t, to) && t->moves[from * t->count + to];
}
