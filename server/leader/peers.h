/*
 * peers.h — the leader's side of the peer protocol: the peer port, one
 * sender thread per follower link, snapshots for new followers, and what
 * each follower has acknowledged (for sluice_replication and retention).
 *
 * Links run on threads of their own, not on the loop thread: a sender
 * blocks on log files, a snapshot and the socket, and a slow follower
 * must hold up nobody but itself. Records are always read from the log
 * files (through the page cache), so a follower that falls behind costs
 * memory for one batch, and never delays the others.
 */
#ifndef SL_PEERS_H
#define SL_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "commitlog.h"
#include "config.h"
#include "peermsg.h"
#include "syncrep.h"

struct peers;

/* A follower's link as the leader sees it; moves: follower_state.c's
 * table, made and checked in peers.c (follower_move). */
enum follower_state {
	FOLLOWER_STARTUP,      /* linked: handshake, snapshot, FOLLOW (a new follower starts here) */
	FOLLOWER_CATCHUP,      /* streaming, not yet sent the whole log */
	FOLLOWER_STREAMING,    /* streaming, has been sent the whole log once */
	FOLLOWER_DISCONNECTED, /* no link: its log is kept for it */
	FOLLOWER_DROPPED,      /* forgotten (it leaves sluice_replication) */
	FOLLOWER_STATE_COUNT,
};

/* The name shown in sluice_replication.state: "startup", "catchup",
 * "streaming", "disconnected", "dropped". */
const char *follower_state_name(enum follower_state state);
/* Whether the table allows the move (pure: for tests and the checked move). */
bool follower_state_can_move(enum follower_state from, enum follower_state to);

/* One follower as the leader sees it. */
struct follower_info {
	char name[PEER_STR_MAX];
	char address[PEER_STR_MAX]; /* where it serves clients */
	enum follower_state state;
	uint64_t sent_lsn, write_lsn, flush_lsn, replay_lsn;
	int64_t lag_bytes;
	/* how far behind in time, as PostgreSQL's replay_lag: the age of the
	 * oldest record sent and not yet replayed, else (for a second) how long
	 * the last one took from being durable here to the follower's replay
	 * acknowledgement */
	double lag_ms;
	const char *sync_state; /* "async", "potential", "sync", "quorum" (syncrep.h) */
	int64_t retained_bytes; /* log kept for it: from its flushed position to the end */
};

/*
 * Listens on cfg->peer_listen and serves followers from the log of cl,
 * telling sr what each acknowledges. On a follower (cl and sr NULL) the
 * port answers a peer that authenticates with NOT_LEADER, naming the
 * leader peers_on_redirect's function gives, so every node listens.
 * client_addr is where this node serves clients (told to followers).
 * 0, or -1 with err.
 */
int peers_start(struct peers **out, const struct config *cfg, struct commitlog *cl, struct syncrep *sr,
		const char *db_path, const char *client_addr, char *err, size_t errlen);
/* Closes every link and joins the threads. */
void peers_stop(struct peers *p);

/*
 * A planned switchover. fn(arg, name, peer_addr) runs on a link's thread
 * when the follower `name` asks for the leadership (SWITCHOVER). Once the
 * leader's log stops at end (no commit can follow), peers_handover has
 * that follower's sender send PROMOTE(end) as soon as it has sent it all;
 * peers_handover_sent says when it went.
 */
/* Follower mode: fn(arg, out, outlen) writes the leader's peer address
 * ("" when it hears from none). Any thread. */
void peers_on_redirect(struct peers *p, void (*fn)(void *arg, char *out, size_t outlen), void *arg);
/* fn(arg, name, m) runs on a link's thread for every election message
 * the member `name` sends (MEMBER_HELLO links); nonzero closes the link
 * (not a member). Without it such links are refused. */
void peers_on_member(struct peers *p, int (*fn)(void *arg, const char *name, const struct peer_election *m),
		     void *arg);
void peers_on_switchover(struct peers *p, void (*fn)(void *arg, const char *name, const char *peer_addr), void *arg);
int peers_handover(struct peers *p, const char *name, uint64_t end);
/* The follower's flushed position; false when it has no link. */
bool peers_follower_flushed(struct peers *p, const char *name, uint64_t *flush);
bool peers_handover_sent(struct peers *p, const char *name);

/*
 * Forgets a follower that is not connected: it leaves sluice_replication
 * and holds no log any more. 0, SL_ENOTFOUND, or SL_EAGAIN while it is
 * connected.
 */
int peers_drop_follower(struct peers *p, const char *name);

/* The followers seen since start, at most max; returns how many. */
int peers_followers(struct peers *p, struct follower_info *out, int max);

#endif
