/*
 * replica.h — a follower: it bootstraps from the leader's snapshot, keeps
 * the leader's records in a log of its own, applies them to its database,
 * and serves that database read-only meanwhile.
 *
 *   replica_open    before the database is opened for clients: prepares
 *                   data_dir, bootstrapping first (blocking, retried until
 *                   it succeeds) when there is no complete database, and
 *                   finds the applied position after a crash;
 *   replica_start   once the reader pool is open: starts the receiver
 *                   thread (the link to the leader) and the applier thread;
 *   replica_stop    stops both.
 *
 * Durable state in data_dir: sluice.db; log/ (the leader's records from
 * the snapshot's LSN on, the epoch history, db-position: up to where the
 * database file holds every record; apply-commits: for logical apply, the
 * WAL commits of the last two apply transactions). A database without
 * db-position is half-copied and never served.
 */
#ifndef SL_REPLICA_H
#define SL_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "peermsg.h"

struct replica;

/* Where the follower's link and apply stand; moves: replica_state.c's
 * table, by one function (replica_set_state). */
enum replica_state {
	REPLICA_CONNECTING,    /* looking for the leader (the state at start) */
	REPLICA_BOOTSTRAPPING, /* fetching and installing a snapshot */
	REPLICA_CATCHUP,       /* streaming, behind the leader's durable end */
	REPLICA_STREAMING,     /* streaming, has had the leader's durable end */
	REPLICA_STOPPED,       /* apply failed (fail-stop) */
	REPLICA_STATE_COUNT,
};

/* The name shown in sluice_status.state: "connecting", "bootstrapping",
 * "catchup", "streaming", "stopped". */
const char *replica_state_name(enum replica_state state);
/* Whether the table allows the move (pure: for tests and the checked move). */
bool replica_state_can_move(enum replica_state from, enum replica_state to);

struct replica_status {
	enum replica_state state;
	uint64_t epoch;
	uint64_t flushed_lsn; /* end of the records received and made durable */
	uint64_t last_epoch;  /* the epoch of the record before flushed_lsn (elections compare these) */
	uint64_t applied_lsn;
	uint64_t leader_end;  /* the leader's durable end, as last heard */
	double lag_ms;        /* age of the oldest record received, visible and not applied */
	double staleness_ms;  /* lag_ms, or when the leader has been silent too long, how long */
	char leader_peer[PEER_STR_MAX]; /* where this follower looks for its leader */
	char leader_name[PEER_STR_MAX];
	char leader_client[PEER_STR_MAX];
	char last_error[PEER_STR_MAX * 2];
	unsigned log_mode;    /* sections of the last record applied */
};

/* What the applier needs of the node's readers (dbpool.h). */
/* Whether readers may start new read transactions on a follower. */
enum replica_gate {
	REPLICA_GATE_OPEN,
	/* page apply waits for the readers' locks: new reads wait (briefly) */
	REPLICA_GATE_APPLYING,
	/* the database holds transactions the leader discarded and is about
	 * to be replaced by a new snapshot: new reads are refused */
	REPLICA_GATE_REFETCHING,
};

struct replica_readers {
	/* Cancels every reader holding a snapshot (SQLSTATE 40001 to its client). */
	void (*cancel)(void *arg);
	/* The readers' gate (enum replica_gate). */
	void (*gate)(void *arg, enum replica_gate state);
	/* Held: readers are refused (a former leader, until it has rejoined). */
	void (*hold)(void *arg, bool held);
	void *arg;
};

/* leader: the leader's peer address (host:port); may be empty when
 * cfg->peers names others to ask. */
int replica_open(struct replica **out, const struct config *cfg, const char *leader, const char *db_path,
		 const char *client_addr, char *err, size_t errlen);
int replica_start(struct replica *r, const struct replica_readers *readers, char *err, size_t errlen);

void replica_stop(struct replica *r);
/* fn(arg) runs on the receiver thread when the leader hands over to this
 * node (PROMOTE: this node has the leader's whole log). Before start. */
void replica_on_promote(struct replica *r, void (*fn)(void *arg), void *arg);
/* Asks the leader, over the link, to hand over to this node, which will
 * serve followers at peer_addr. 0, or -1 when not streaming. */
int replica_request_switchover(struct replica *r, const char *peer_addr);
/*
 * Before this node leads: stops the link, applies every record the log
 * holds (what it received becomes committed history), empties SQLite's WAL
 * of logical applies and records that the database holds the whole log,
 * so that the leader's log opens on this data directory with nothing to
 * replay. Waits up to timeout_ms for apply. 0, or -1 with err (apply
 * failed or took too long; the follower's threads are stopped either way).
 */
/*
 * Automatic failover (any thread): the member at leader_peer leads
 * `epoch`. A link to a leader of an older epoch ends at once and none is
 * made again (its frames are refused); the next link goes to leader_peer.
 */
void replica_follow(struct replica *r, const char *leader_peer, uint64_t epoch);
int replica_finish(struct replica *r, int timeout_ms, char *err, size_t errlen);
void replica_close(struct replica *r);
void replica_status(struct replica *r, struct replica_status *out);

#endif
