/*
 * replica_internal.h — what the follower's files share: struct replica
 * and the functions each file gives the others.
 *
 * Threads: the receiver thread owns the link and appends to the log; the
 * applier thread owns the database writes (standby.c for page apply, a
 * logical connection for changesets). To install a new snapshot while
 * serving, the receiver stops the applier first and restarts it after.
 */
#ifndef SL_REPLICA_INTERNAL_H
#define SL_REPLICA_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "epochs.h"
#include "members.h"
#include "peerlink.h"
#include "replica.h"
#include "replay.h"
#include "replog.h"
#include "txnrec.h"

#define REPLICA_PATH_MAX (CONFIG_STR_MAX + 64)
#define REPLICA_LAG_RING 1024
/* The leader sends something at least every second while streaming:
 * silence longer than this means the follower's lag is unknown. */
#define REPLICA_SILENCE_MS 1500

/* Readers kept out while pages change (standby.c). */
struct standby {
	sqlite3 *db;
	sqlite3_file *file;
	bool held;
	const struct replica_readers *readers; /* while held */
};

struct replica {
	const struct config *cfg;
	char db_path[REPLICA_PATH_MAX];
	char log_dir[REPLICA_PATH_MAX];
	char base_path[REPLICA_PATH_MAX];    /* log/db-position */
	char commits_path[REPLICA_PATH_MAX]; /* log/apply-commits */
	char epochs_path[REPLICA_PATH_MAX];  /* log/epochs */
	char partial_path[REPLICA_PATH_MAX]; /* bootstrap.partial */
	char visible_path[REPLICA_PATH_MAX]; /* log/visible */
	char client_addr[PEER_STR_MAX];
	char leader[PEER_STR_MAX]; /* the leader's peer address (receiver thread; st has a copy) */
	struct members members;    /* peers: where else to look for the leader */
	char redirect[PEER_STR_MAX]; /* a follower said the leader is there (NOT_LEADER) */
	/* the election (replica_follow): the leader to follow, and the oldest
	 * epoch whose leader may still be followed */
	pthread_mutex_t elected_mu;
	char elected[PEER_STR_MAX];
	_Atomic uint64_t min_epoch;
	void (*promote_cb)(void *arg); /* the leader handed over (PROMOTE) */
	void *promote_arg;
	struct replog *log;
	struct epochs history;
	struct replica_readers readers;
	bool serving; /* clients may be reading: install snapshots page by page */
	/* this node led the epoch its log ends in (replica_open): reads are
	 * held (readers.hold) until the link to the leader streams, that is
	 * once its log is on the leader's history again or was cut back to it */
	atomic_bool unconfirmed;

	/* applier (its thread, or the receiver while the applier is stopped) */
	pthread_t apply_thread;
	bool apply_running;
	atomic_bool apply_stop;
	struct standby standby;
	sqlite3 *logical_db;     /* logical apply's connection, opened on first use */
	int db_fd;
	struct txnrec_walpos commit_pos[2]; /* apply-commits: [0] older, [1] newer */
	uint64_t commit_lsn[2];
	uint64_t pending_lsn;   /* end of the logical apply transaction committing now */
	atomic_bool pages_dirty; /* pages written since the database file was last fsynced */
	/* after a restart, the records before reapply_end may have been
	 * applied already: page deltas met ahead of their base are set aside
	 * in reapply and checked once apply has passed reapply_end */
	uint64_t reapply_end;
	struct replay_ahead reapply;
	/* while serving, records are applied up to here only: what the leader
	 * has made visible (PEER_VISIBLE), so no reader here sees a commit
	 * before the leader's readers may */
	atomic_uint_fast64_t visible_lsn;
	/* visible_lsn as kept in log/visible: nothing past it is applied
	 * before it moves (applier thread, or the receiver while the
	 * applier is stopped) */
	uint64_t visible_durable;
	pthread_mutex_t sync_mu; /* one fsync of the pages at a time */
	pthread_t sync_thread;   /* fsyncs the pages about once a second */
	bool sync_running;

	/* receiver */
	pthread_t recv_thread;
	bool recv_running;
	atomic_bool stop;
	pthread_mutex_t send_mu; /* link and every send on it (the applier acknowledges too) */
	struct peerlink *link;   /* while connected */
	bool streaming;          /* past STREAM_START: acknowledgements may go */
	atomic_int_fast64_t last_contact_ms; /* monotonic: last frame from the leader while streaming */

	pthread_mutex_t mu; /* everything below */
	struct replica_status st;
	/* (end LSN, commit time) of records received, oldest first: the
	 * first one past the applied position tells the lag in time */
	struct {
		uint64_t end, ts;
	} recent[REPLICA_LAG_RING];
	unsigned recent_head, recent_count;
};

/* replica.c */
/* Moves the follower's state (any thread): the move is checked against
 * replica_state.c's table (a move it does not allow aborts) and logged at
 * debug level. replica_set_state_from moves only from `from`, and says
 * whether it did. */
void replica_set_state(struct replica *r, enum replica_state to);
bool replica_set_state_from(struct replica *r, enum replica_state from, enum replica_state to);
void replica_set_error(struct replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens the log and history (after a bootstrap: a fresh log from lsn). */
int replica_reset_log(struct replica *r, uint64_t lsn, const struct peer_welcome *w, char *err, size_t errlen);
/* Connects, authenticates and reads WELCOME (history merged). 0 or -1 with err. */
int replica_connect(struct replica *r, struct peerlink *pl, struct peer_welcome *w, char *err, size_t errlen);
/* The leader did not answer: look for it at the next of the other peers
 * (nothing without peers). */
void replica_next_leader(struct replica *r);
/* Receiver thread: switches to the leader the election named, if it is
 * another one; whether it did. */
bool replica_elected_leader(struct replica *r);
/* The epoch of the last record before the log's end (from the log or the history). */
uint64_t replica_last_epoch(struct replica *r);
/* log/visible: reads it into visible_durable (missing or unreadable:
 * dflt), or writes it durably. 0 or an SL_ code. */
void replica_visible_load(struct replica *r, uint64_t dflt);
int replica_visible_store(struct replica *r, uint64_t lsn);

/* rejoin.c */
enum rejoin_result { REJOIN_FOLLOW, REJOIN_REBOOTSTRAP, REJOIN_FAILED };
/* After WELCOME: 0 when this node's history is a prefix of the leader's
 * (the rest is added), 1 when they part before this log's end (*at),
 * -1 with err when this node knows a newer epoch than the leader. */
int rejoin_check_history(struct replica *r, const struct peer_welcome *w, uint64_t *at, char *err, size_t errlen);
/* Keeps the records past at in DATA_DIR/discarded, then cuts the log
 * back to at and takes the leader's history (FOLLOW), or says that the
 * database holds some of them (REBOOTSTRAP). */
enum rejoin_result rejoin_discard(struct replica *r, uint64_t at, const struct peer_welcome *w, char *err,
				  size_t errlen);

/* bootstrap.c: receives a snapshot on a connected link and installs it. */
int bootstrap_run(struct replica *r, struct peerlink *pl, const struct peer_welcome *w, char *err, size_t errlen);

/* receiver.c */
int receiver_start(struct replica *r);
void receiver_stop(struct replica *r);
/* Tells the leader the positions now (any thread); nothing when not linked. */
void receiver_ack(struct replica *r);

/* applier.c */
int applier_recover(struct replica *r, uint64_t *applied, char *err, size_t errlen);
int applier_start(struct replica *r, uint64_t from);
void applier_stop(struct replica *r);
/* Empties the WAL of logical applies (before pages are written directly). */
int applier_checkpoint(struct replica *r, char *err, size_t errlen);

/* standby.c */
int standby_open(struct standby *s, const char *db_path, char *err, size_t errlen);
void standby_close(struct standby *s);
/* Waits until no reader holds a snapshot, cancelling those that hold one
 * longer than max_delay_ms; new readers wait meanwhile (until release).
 * 0, or SL_EIO. */
int standby_exclude(struct standby *s, int64_t max_delay_ms, const struct replica_readers *readers,
		    atomic_bool *stop);
/* With readers excluded: every connection re-reads the database on its
 * next transaction, which is db_pages pages long. 0 or SL_EIO. */
int standby_publish(struct standby *s, uint32_t db_pages);
void standby_release(struct standby *s);

#endif
