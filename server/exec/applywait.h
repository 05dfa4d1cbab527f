/*
 * applywait.h — jobs committed with synchronous_commit = remote_apply,
 * held until the synchronous standbys have applied their commit.
 *
 * The writer parks them here once their commit is published (and
 * flushed by the standbys) and goes on with the next batch; one thread
 * waits for the standbys' apply acknowledgements and hands the jobs back
 * in commit order, with their reply told as commitreply.h says. A job
 * whose client cancels (or whose statement_timeout passes) meanwhile gets
 * 57014 at once.
 */
#ifndef SL_APPLYWAIT_H
#define SL_APPLYWAIT_H

#include <stdint.h>

#include "executor.h"
#include "syncrep.h"

struct applywait;

/* done(arg, job) hands a job back (any thread). NULL when out of resources. */
struct applywait *applywait_start(struct syncrep *sr, void (*done)(void *arg, struct job *j), void *arg);
/* The job's commit ended at lsn. */
void applywait_park(struct applywait *aw, struct job *j, uint64_t lsn);
/* Ends the thread; jobs still parked are told the server stops. */
void applywait_stop(struct applywait *aw);

#endif
