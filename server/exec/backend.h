/*
 * backend.h — runs a session's protocol messages on an executor thread:
 * simple and extended query, transaction control, SET/SHOW, cursors.
 * The replies go into job->out; nothing here touches a socket.
 */
#ifndef SL_BACKEND_H
#define SL_BACKEND_H

#include <stdbool.h>

#include "dbpool.h"
#include "executor.h"

enum backend_result {
	BACKEND_DONE,      /* every message ran; replies are in job->out */
	BACKEND_TO_WRITER, /* stopped before a write: run the rest on the writer */
};

/* Runs the job's messages from job->pos. on_writer: this is the writer thread. */
enum backend_result backend_run(struct job *job, struct dbpool *pool, bool on_writer);

/* Ends the session: closes portals, rolls back, gives connections back. */
void backend_close_session(struct job *job, struct dbpool *pool);

/* Loop thread: whether the job should start on the writer. */
bool backend_wants_writer(const struct job *job, const struct dbpool *pool);

/* How the writer may run a job (see executor.c). */
enum backend_batch {
	BATCH_JOIN,  /* self-contained: may share a batch with other sessions' jobs */
	BATCH_ALONE, /* may open or continue a transaction block: a batch of its own */
	BATCH_NONE,  /* VACUUM or CHECKPOINT: outside any transaction */
};

/* Writer thread, before running a job that is not the writer holder's. */
enum backend_batch backend_batch_kind(const struct job *job);

/* Executor: make the job fail at its next write with this error instead
 * (lock timeout, cancel or statement timeout while waiting for the writer). */
void backend_set_forced_error(struct job *job, const char *sqlstate, const char *message);

#endif
