/*
 * executor.h — the threads that run SQL, so the event loop never does.
 *
 * One writer thread owns the writer connection; a pool of reader threads
 * runs read-only work: reader_threads of them from the start, and one more
 * whenever a job comes while every one is busy, up to max_reader_threads,
 * so that a few long reads never hold up a short one. The loop thread
 * hands a session's pending protocol messages over as a job; the executor
 * routes it (writer or readers), runs it, and hands it back through an
 * ev_async with the replies in job->out. When the client's socket had
 * nothing else queued (job->reply_fd), the executor thread sends the
 * replies itself before handing the job back, so the answer does not wait
 * for the loop thread to wake up; whatever the socket does not take stays
 * in job->out for the loop to send.
 *
 * The writer serves one transaction at a time: while a session holds an
 * open write transaction, other sessions' write jobs wait (bounded by
 * lock_timeout, cancel and statement_timeout). Other sessions' ready jobs
 * share one SQLite transaction, a batch (dbpool.h), which commits as one
 * durable log record before any of them is answered; with synchronous
 * standbys, once they acknowledged it as the sessions' synchronous_commit
 * asks (commitreply.h says what the replies then carry).
 */
#ifndef SL_EXECUTOR_H
#define SL_EXECUTOR_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "dbpool.h"
#include "session.h"
#include "syncrep.h"
#include "tls.h"

enum job_kind {
	JOB_MESSAGES, /* run the protocol messages in `in` */
	JOB_CLOSE,    /* end the session: roll back, free statements */
	JOB_STREAM,   /* a replication stream's next messages (walsender.h) */
};

struct job {
	enum job_kind kind;
	struct session *sess;
	struct buf in;   /* whole protocol messages, type byte first */
	size_t pos;      /* next message to run */
	size_t stmt_index; /* within a simple query: next statement to run */
	struct buf out;  /* replies */
	size_t ready_at; /* where in out the last ReadyForQuery starts */
	struct interrupt intr;
	bool to_writer;  /* set by the backend: continue on the writer */
	bool fatal;      /* close the client connection after sending out */
	bool streaming;  /* the job started a replication stream (START_REPLICATION) */
	bool stream_idle; /* JOB_STREAM: nothing to send: the stream caught up */
	bool internal;   /* the connection's own query (a slot confirmation): out is not the client's */
	int64_t enqueued_ns;
	struct dbconn *temp; /* reader connection borrowed for this job only */
	bool writer_forbidden;   /* let through while another session holds the writer */
	char forced_sqlstate[6]; /* set while the job waited (for the writer or */
	char forced_message[200]; /* at the readers' gate): its next statement fails so */
	void *owner;     /* the client connection (loop side) */
	uint64_t commit_lsn; /* remote_apply: the commit it waits to see applied (applywait.h) */
	int reply_fd;    /* the client socket to send replies on at once, or -1 */
	SSL *reply_ssl;  /* its TLS session, or NULL: in clear */
	pthread_mutex_t *reply_mu; /* held around every call on reply_ssl */
	struct job *next;
};

/* Jobs in a line (a job is in one at a time, through job->next). */
struct job_queue {
	struct job *head, *tail;
};

void job_queue_push(struct job_queue *q, struct job *j);
struct job *job_queue_pop(struct job_queue *q); /* NULL when empty */
/* Takes out j, which follows prev (NULL: j is the head). */
void job_queue_remove(struct job_queue *q, struct job *j, struct job *prev);

struct executor;

typedef void (*executor_done_fn)(struct job *job);

/* sr: the synchronous standbys commits wait for (NULL: none). */
int executor_start(struct executor **out, struct dbpool *pool, const struct config *cfg, struct syncrep *sr,
		   struct ev_loop *loop, executor_done_fn done);
/* Stops the threads after the jobs in hand; call from the loop thread. */
void executor_stop(struct executor *ex);
/*
 * Stops the threads after the jobs in hand, from any thread, while the
 * loop goes on taking back what finishes (the loop must submit nothing
 * meanwhile); executor_stop on the loop thread then frees the rest.
 */
void executor_drain(struct executor *ex);
/* Loop thread: queue a job. */
void executor_submit(struct executor *ex, struct job *job);
/* Loop thread: ask the running or waiting job to stop. */
void executor_cancel(struct executor *ex, struct job *job);

struct job *job_new(struct session *sess, void *owner);
void job_free(struct job *job);

#endif
