/*
 * commitreply.h — what a committed job's reply says about its commit: the
 * commit's LSN (ParameterStatus sluice.commit_lsn, also what SHOW
 * sluice.commit_lsn gives), a WARNING when synchronous standbys did not
 * confirm it, and the error that replaces the reply when the client gave
 * up waiting (a commit it may not be told succeeded).
 *
 * These go before the job's final ReadyForQuery, so that a client sees
 * them with the command's result. Writer thread.
 */
#ifndef SL_COMMITREPLY_H
#define SL_COMMITREPLY_H

#include <stdint.h>

#include "executor.h"
#include "syncrep.h"

/* The synchronous_commit level the job's session asks for. */
int commitreply_level(const struct job *j);

/* The commit ending at lsn, and how its wait for standbys ended. */
void commitreply_done(struct job *j, uint64_t lsn, enum syncrep_result res);

/* The client cancelled while its commit waited for standbys. */
void commitreply_cancelled(struct job *j);

#endif
