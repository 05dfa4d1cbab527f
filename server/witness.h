/*
 * witness.h — running a node with role = witness (witness.c): it votes
 * and counts toward the leader's lease, keeps no data and never leads.
 */
#ifndef SL_WITNESS_H
#define SL_WITNESS_H

#include "config.h"

/* Runs until SIGTERM or SIGINT; the process's exit status. */
int witness_run(const struct config *cfg);

#endif
