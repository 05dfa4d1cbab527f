/*
 * failover.h — automatic failover on a node: the election core
 * (cluster/election.h) connected to the clock, the vote file, the other
 * members' peer ports and this node's role.
 *
 * Active when failover = on and `peers` names three or more voters. Its
 * own thread ticks the core every few milliseconds; one thread per other
 * member keeps a MEMBER_HELLO link to that member's peer port and sends
 * what the core sends it; what members send here arrives through the
 * peer port (peers_on_member → failover_on_member). The core's decisions
 * reach the node as:
 *   - the lease (lease.h), which the replication log and synchronous
 *     commit read on every commit;
 *   - the role it wants (failover_wants): the loop thread compares it
 *     with the node's role and promotes or steps down (hooks.changed
 *     wakes it).
 */
#ifndef SL_FAILOVER_H
#define SL_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lease.h"
#include "members.h"
#include "peermsg.h"

struct failover;

struct failover_hooks {
	/* What the node should be changed (any thread; must not block). */
	void (*changed)(void *arg);
	/* This node's log position: the epoch of its last record and its
	 * end (0, 0 with no data). The failover thread, every tick. */
	void (*position)(void *arg, uint64_t *last_epoch, uint64_t *last_lsn);
	void *arg;
};

/* What sluice_status shows of the election. */
struct failover_status {
	const char *state;       /* "follower", "precandidate", "candidate", "leader" */
	uint64_t epoch;
	const char *lease;       /* "held", "expired", "none" */
	int64_t heartbeat_age_ms; /* since the leader was last heard (-1: never) */
	char leader[PEER_STR_MAX];
	char voted_for[PEER_STR_MAX];
	uint64_t vote_epoch;
	const char *last_election; /* "won", "lost", "" */
	int64_t last_election_ms;
	int voters;
	char warning[512];       /* the safety check's, "" when none */
};

/*
 * Starts failover for this node, or sets *out to NULL when it is not
 * active (failover off, or fewer than three voters in `peers`). Reads
 * DATA_DIR/vote. 0, or -1 with err (bad timing settings, this node not
 * in `peers`, an unreadable vote file).
 */
int failover_start(struct failover **out, const struct config *cfg, struct lease *lease,
		   const struct failover_hooks *hooks, char *err, size_t errlen);
void failover_stop(struct failover *f);

/* Whether this node never took part in an election (no vote file when it
 * started): a node configured as leader leads at once only then. */
bool failover_first_start(const struct failover *f);

/* The peer port's hook (peers_on_member): a member's message. Nonzero
 * when `name` is not a member. Any thread. */
int failover_on_member(void *f, const char *name, const struct peer_election *m);

/*
 * What the node should be: true with the epoch to lead at, or false with
 * the leader's peer address ("" when unknown) and its epoch. Any thread.
 */
bool failover_wants(struct failover *f, uint64_t *epoch, char *leader_peer, size_t len);

/* An administrator's promotion, or a planned handover's PROMOTE: this
 * node leads at the next epoch without a vote. */
void failover_admin_lead(struct failover *f);
/* The node handed its leadership over (planned switchover). */
void failover_stepped_down(struct failover *f);
/* The leader's log opened at epoch (at least the one elected). */
void failover_led(struct failover *f, uint64_t epoch);

void failover_status(struct failover *f, struct failover_status *out);

/* One member of `peers` as this node sees it (sluice_members). */
struct failover_member {
	char name[MEMBERS_NAME_MAX];
	char peer_address[MEMBERS_ADDR_MAX];
	bool self;
	bool linked;   /* this node's election link to it is up (never for itself) */
	bool leading;  /* it leads, as far as this node knows */
	/* the leader: how long ago it sent the newest heartbeat this member
	 * answered in its epoch; -1 when none was, or this node does not lead */
	int64_t answered_age_ms;
	bool answering; /* the leader: it answered within lease_timeout (itself: always) */
};

/* Every member, in the order of `peers`: how many (at most max). */
int failover_members(struct failover *f, struct failover_member *out, int max);

/*
 * The safety check: with N voters, acknowledged writes survive automatic
 * failover only when every COMMIT waits for floor(N/2) followers to flush
 * it, without falling back to async. 0 when the settings give that, else
 * -1 with why (which writes are at risk). Pure.
 */
int failover_safety_check(const struct config *cfg, int voters, char *why, size_t whylen);

#endif
