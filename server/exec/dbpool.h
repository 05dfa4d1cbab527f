/*
 * dbpool.h — the SQLite connections of one node: one writer connection and
 * a pool of reader connections, each with its own statement cache.
 *
 * Connections are not tied to threads: an executor thread runs a job on
 * whichever connection the job's session needs (SQLite is built
 * thread-safe), but never two jobs on one connection at once — a reader
 * connection belongs either to the pool or to exactly one session.
 *
 * On a leader every connection opens the database through the capture VFS
 * (capture.h): the writer's COMMIT returns only once the transaction is a
 * durable record in the replication log (commitlog.h). The writer thread
 * runs many sessions' work inside one SQLite transaction, a batch
 * (dbpool_batch_begin/commit): on the writer connection during a batch,
 * the backend's BEGIN IMMEDIATE, COMMIT and ROLLBACK become a savepoint, its
 * release and its rollback, so one session's failure undoes only its own
 * work, and one record and one fsync serve the whole batch. Checkpoints
 * run mostly on a thread of their own, off the commit path.
 */
#ifndef SL_DBPOOL_H
#define SL_DBPOOL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "commitlog.h"
#include "logical.h"
#include "replica.h"

#define DBCONN_CACHE_SIZE 64

/* What lets a running statement be stopped: a cancel flag and a deadline. */
struct interrupt {
	atomic_int cancel;      /* set by the loop thread on CancelRequest */
	int64_t deadline_ns;    /* monotonic; 0 = none (statement_timeout) */
	bool timed_out;         /* set when the deadline stopped it */
};

struct cached_stmt {
	char *sql;
	sqlite3_stmt *st;
	uint64_t last_used;
	bool in_use;
	bool writes_fn; /* it calls a SQL function that writes (slotfuncs.h) */
};

struct dbpool;

struct dbconn {
	sqlite3 *db;
	bool writer;
	struct dbpool *pool;
	struct cached_stmt cache[DBCONN_CACHE_SIZE];
	uint64_t use_clock;
	/* The job running on this connection now: read by the progress
	 * handler and by SQL functions such as pg_sleep and current_setting. */
	struct interrupt *intr;
	void *session;
	bool commit_seen; /* set by the commit hook (writer) */
	struct dbconn *next_free;
	struct dbconn *next_reader; /* every reader of the pool, free or not */
	/* a follower's page apply cancelled this reader's snapshot (40001) */
	atomic_bool standby_conflict;
	/* writer of a leader */
	bool batch;               /* inside a batch (see above) */
	bool solo;                /* the batch holds one session's block: its COMMIT commits the batch */
	char commit_error[320];   /* why the last batch commit was refused, until reported */
	/* the error a SQL function of sluice's raised, with its SQLSTATE and
	 * hint, until reported (sqlite3_result_error carries only text) */
	struct {
		char sqlstate[6];
		char message[320];
		char hint[320];
	} fn_error;
	struct logical *logical;  /* logical capture, when the log mode has it */
	bool vacuuming;           /* in dbconn_vacuum: SQLite attaches its temporary copy */
	bool probing;             /* in dbconn_reads_no_data: the authorizer notes reads */
	bool probe_read_data;     /* it saw a read of a table that is not a status table */
	bool prep_writes_fn;      /* the statement last prepared calls a SQL function that writes */
	bool slot_writing;        /* a slot function writes the slot table (slots.h) */
	sqlite3_stmt **ddl_stmts; /* uncached statements that do DDL */
	int nddl, ddl_cap;
};

/* Looks up a session setting for SQL functions; set by the server. */
typedef const char *(*dbpool_setting_fn)(void *session, const char *name);

struct dbpool {
	char *path;
	bool read_only;
	struct dbconn *writer; /* NULL on a read-only node */
	pthread_mutex_t mu;
	struct dbconn *free_readers;
	struct dbconn *readers; /* all of them */
	/* a follower's readers' gate: an enum replica_gate */
	atomic_int gate;
	int nreaders;
	atomic_uint_fast64_t commit_count; /* commits made visible by the writer */
	atomic_bool failed;               /* a write or fsync failed: writes stop */
	/* a leader whose lease ran out while commits waited for standbys
	 * publishes them unconfirmed (40003 to their clients): reads are
	 * refused from then on, until standbys confirm a later commit; a
	 * former leader's follower holds reads until it has rejoined (replica.h) */
	atomic_bool unconfirmed;
	struct commitlog *cl;             /* the leader's replication log, or NULL */
	dbpool_setting_fn setting;
	/* the checkpointer thread and its connection (see dbpool.c) */
	sqlite3 *ckpt_db;
	pthread_t ckpt_thread;
	bool ckpt_running, ckpt_wanted, ckpt_stop;
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cond;
	int checkpoint_frames; /* WAL length at which the checkpointer is woken */
};

/*
 * Opens (creating if needed) the database at path in WAL mode. A read-only
 * pool has no writer. Returns 0 or an SL_E code with err filled.
 */
int dbpool_open(const char *path, bool read_only, int64_t checkpoint_wal_size, struct commitlog *cl,
		dbpool_setting_fn setting, struct dbpool **out, char *err, size_t errlen);
void dbpool_close(struct dbpool *pool);

/* A reader connection for one session (opened on demand); NULL with err. */
struct dbconn *dbpool_acquire(struct dbpool *pool, char *err, size_t errlen);
void dbpool_release(struct dbpool *pool, struct dbconn *c);

/*
 * A statement for sql from the connection's cache, or freshly prepared when
 * the cached one is in use. Returns the SQLite result code; on success *st
 * is ready to bind and *tail points after the first statement in sql.
 */
int dbconn_prepare(struct dbconn *c, const char *sql, sqlite3_stmt **st, const char **tail);
/* Whether the statement dbconn_prepare gave last writes: SQLite says it
 * may, or it calls a SQL function that writes (slotfuncs.h). Such a
 * statement runs on the writer. */
bool dbconn_prepared_writes(struct dbconn *c, sqlite3_stmt *st);
/* Gives a statement back: reset, bindings cleared, cached or finalized. */
void dbconn_unprepare(struct dbconn *c, sqlite3_stmt *st);
/*
 * Whether sql reads nothing stored in the database: only the node's own
 * status tables (nodestatus.h) and expressions. Prepared afresh, never
 * from the cache, so that the authorizer sees every table it reads (no
 * virtual table but those), and as EXPLAIN, whose program must open no
 * b-tree (the schema's, or a table that took a status table's name).
 */
bool dbconn_reads_no_data(struct dbconn *c, const char *sql);
/*
 * Raises an error of sluice's own SQL (a function, a virtual table) with
 * its SQLSTATE and hint (NULL for none): kept in c->fn_error until the
 * statement's failure is reported, for sqlite3_result_error and xFilter
 * errors carry only text. Returns the message as kept.
 */
const char *dbconn_raise(struct dbconn *c, const char *sqlstate, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same for a virtual table's method: also its error text; returns
 * SQLITE_ERROR for the method to return. */
int dbconn_vtab_error(struct dbconn *c, sqlite3_vtab *vt, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Runs SQL that returns no rows (BEGIN, COMMIT, SAVEPOINT…). On the
 * writer during a batch, transaction control becomes savepoints. */
int dbconn_exec(struct dbconn *c, const char *sql);
/* VACUUM (which attaches a temporary database, as the sandbox allows only
 * here); a passive checkpoint of the WAL (CHECKPOINT, through the C API:
 * the sandbox refuses PRAGMA wal_checkpoint). SQLite result codes. */
int dbconn_vacuum(struct dbconn *c);
int dbconn_checkpoint(struct dbconn *c);
/* sqlite3_step, capturing DDL in order on the writer. */
int dbconn_step(struct dbconn *c, sqlite3_stmt *st);
/* Why the capture refused the last statement prepared on c, or NULL. */
const char *dbconn_denied(struct dbconn *c);

/*
 * Writer thread: opens a batch (BEGIN IMMEDIATE). A solo batch is for one
 * session that may hold a transaction block across jobs: the block's
 * COMMIT commits the batch there and then (durably) and opens the next, so
 * the session's replies never wait for, nor run ahead of, its commit.
 */
int dbpool_batch_begin(struct dbpool *pool, bool solo);
/*
 * Writer thread: commits the batch; durable in the log when it returns 0.
 * On failure the batch is rolled back and the outcome of its work is
 * unknown to its clients (the record may have reached the log); a failure
 * of the log stops all writes (pool->failed).
 */
int dbpool_batch_commit(struct dbpool *pool);
/* Writer thread: whether SQLite ended the batch's transaction by itself (an
 * interrupt or I/O error rolls back everything); the batch is then over. */
bool dbpool_batch_lost(struct dbpool *pool);

/*
 * A follower's page apply waited max_standby_delay for readers: every
 * reader connection holding a snapshot loses it (its running statement is
 * stopped, its transaction rolled back) and reports SQLSTATE 40001 until
 * it is released. Any thread; arg is the pool.
 */
void dbpool_cancel_snapshots(void *arg);
/* Sets the readers' gate: while page apply waits, the executor starts no
 * job of a session that holds no snapshot (executor.c), so that a stream
 * of new reads cannot keep apply waiting; while the follower re-fetches a
 * snapshot, every reading job is refused. */
void dbpool_gate(void *arg, enum replica_gate state);
enum replica_gate dbpool_gate_state(struct dbpool *pool);
/* Sets or clears pool->unconfirmed (above). Any thread; arg is the pool. */
void dbpool_hold_reads(void *arg, bool unconfirmed);
/* Commits made visible so far (for snapshot conflict checks). */
uint64_t dbpool_commit_count(struct dbpool *pool);

int64_t monotonic_ns(void);

#endif
