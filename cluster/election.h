/*
 * election.h — the election, lease and fencing core of one member: a pure
 * state machine (election.c) that does no I/O, reads no clock and starts
 * no thread. Events go in (a tick with the time, a message from a peer, a
 * link that came up, the node's log position, an admin request); actions
 * come out (send a message, persist the vote, lead at epoch E, step down,
 * follow a leader, fence or unfence writes), to be carried out in order.
 * server/failover.c connects it to the node; tests/unit/test_cluster_sim.c
 * drives several through a simulated network.
 *
 * The rules (docs/ARCHITECTURE.md, "Automatic failover"):
 *   - The leader heartbeats every heartbeat_ms and holds a lease until
 *     lease_ms after the newest heartbeat that a majority of the voters
 *     (itself and a witness counted) answered in its epoch. Without a
 *     lease it fences writes; still without one after failover_ms, it
 *     steps down.
 *   - A member that has heard no leader for failover_ms plus jitter runs
 *     a pre-vote, then asks for votes for epoch + 1. A member votes once
 *     per epoch (the vote is persisted before it is sent), only for a
 *     candidate whose (last epoch, last LSN) is at least its own, with a
 *     lower failover priority losing a tie, and only once it has lost the
 *     leader itself for failover_ms. A majority wins.
 *   - Every message carries the sender's epoch: a higher one is adopted
 *     at once (a leader steps down), a lower one is refused.
 * Safety needs failover_ms > lease_ms with a margin for clock rates
 * (election_config_check).
 */
#ifndef SL_ELECTION_H
#define SL_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELECTION_MAX_MEMBERS 16
#define ELECTION_MAX_ACTIONS (4 * ELECTION_MAX_MEMBERS + 8)
#define ELECTION_NOBODY (-1)

/* Where this member stands; moves: election.c's table. */
enum election_role {
	ELECTION_FOLLOWER,
	ELECTION_PRECANDIDATE, /* asking whether it could win (pre-vote) */
	ELECTION_CANDIDATE,    /* asking for votes at its new epoch */
	ELECTION_LEADER,
	ELECTION_ROLE_COUNT,
};

enum election_msg_type {
	ELECTION_HEARTBEAT = 1, /* leader: I lead this epoch */
	ELECTION_HEARTBEAT_ACK, /* answer: granted, or refused with a higher epoch */
	ELECTION_PREVOTE_REQ,   /* would you vote for me at epoch (sent as the proposed one)? */
	ELECTION_PREVOTE,
	ELECTION_VOTE_REQ,
	ELECTION_VOTE,
	ELECTION_MSG_LAST = ELECTION_VOTE,
};

struct election_msg {
	uint8_t type;
	uint8_t granted;     /* answers */
	uint8_t priority;    /* requests: the candidate's failover priority */
	uint64_t epoch;      /* the sender's epoch (PREVOTE_REQ: the one it proposes) */
	uint64_t last_epoch; /* requests: the candidate's log position; ACK: the follower's */
	uint64_t last_lsn;
	uint64_t stamp;      /* HEARTBEAT and VOTE_REQ: the sender's clock, echoed in the answer */
};

enum election_action_kind {
	ELECTION_SEND,       /* msg to member `to` */
	ELECTION_PERSIST,    /* make (epoch, voted_for) durable before anything after it */
	ELECTION_LEAD,       /* become the leader at epoch */
	ELECTION_STEP_DOWN,  /* stop leading: become a follower (leader unknown) */
	ELECTION_FOLLOW,     /* member `to` leads epoch */
	ELECTION_FENCE,      /* stop accepting writes; fail waiting commits (40003) */
	ELECTION_UNFENCE,    /* the lease holds again: accept writes */
};

struct election_action {
	enum election_action_kind kind;
	int to;              /* SEND, FOLLOW: a member; PERSIST: voted_for */
	uint64_t epoch;      /* PERSIST, LEAD, FOLLOW */
	struct election_msg msg;
};

struct election_actions {
	int n;
	struct election_action v[ELECTION_MAX_ACTIONS];
};

struct election_config {
	int nmembers;        /* voters, this member included */
	int self;            /* this member's index */
	bool witness[ELECTION_MAX_MEMBERS]; /* votes and counts toward the lease; never leads */
	bool failover;       /* false: never starts an election (manual promotion only) */
	uint8_t priority;    /* this member's failover_priority; 0: never leads */
	int64_t heartbeat_ms, lease_ms, failover_ms, jitter_ms;
};

/* What the member has persisted: its epoch and whom it voted for in it. */
struct election_vote {
	uint64_t epoch;
	int voted_for; /* ELECTION_NOBODY when it has not voted in epoch */
};

struct election {
	struct election_config cfg;
	enum election_role role;
	uint64_t epoch;
	int voted_for;
	int leader;              /* the member known to lead epoch, or NOBODY */
	uint64_t last_epoch, last_lsn; /* this member's log position */
	int64_t heard_ms;        /* when it last heard the leader (or granted a vote) */
	int64_t deadline_ms;     /* election timer: when to try to lead */
	int64_t round_ms;        /* when the pre-vote or vote round started */
	int64_t next_beat_ms;    /* leader: next heartbeat */
	int64_t lease_lost_ms;   /* leader: since when without a lease (0: has one) */
	bool fenced;             /* leader: writes stopped */
	bool granted[ELECTION_MAX_MEMBERS]; /* this round's (pre-)votes */
	int64_t acked[ELECTION_MAX_MEMBERS]; /* leader: newest stamp each answered (-1: none) */
	uint64_t match[ELECTION_MAX_MEMBERS]; /* leader: each follower's flushed LSN in this epoch */
	uint64_t rng;            /* jitter: xorshift state */
	/* for status */
	int64_t election_started_ms, last_election_ms;
	bool last_election_won;
	int64_t last_heartbeat_ms;
};

/* Checks the timing settings; 0, or -1 with err. */
int election_config_check(const struct election_config *cfg, char *err, size_t errlen);

/* A member starts as a follower with what it persisted and its log
 * position; seed makes the jitter (any value; the same one repeats it). */
void election_init(struct election *e, const struct election_config *cfg, const struct election_vote *vote,
		   uint64_t last_epoch, uint64_t last_lsn, int64_t now_ms, uint64_t seed);

/* Events. Each appends the actions to carry out, in order, to out. */
void election_tick(struct election *e, int64_t now_ms, struct election_actions *out);
void election_receive(struct election *e, int64_t now_ms, int from, const struct election_msg *m,
		      struct election_actions *out);
/* A link to member `to` came up: a leader heartbeats it at once. */
void election_link_up(struct election *e, int64_t now_ms, int to, struct election_actions *out);
/* The node's log position moved (last record's epoch, end LSN). */
void election_position(struct election *e, uint64_t last_epoch, uint64_t last_lsn);
/* An administrator (or a planned handover) makes this member lead now, at
 * the next epoch after min_epoch and its own: no vote is asked. */
void election_admin_lead(struct election *e, int64_t now_ms, uint64_t min_epoch, struct election_actions *out);
/* The node stopped leading by itself (a planned handover). */
void election_stepped_down(struct election *e, int64_t now_ms, struct election_actions *out);

/* Whether this member leads with a lease at now_ms: it may acknowledge. */
bool election_has_lease(const struct election *e, int64_t now_ms);
/* Until when the lease holds (local clock), 0 without one. */
int64_t election_lease_until(const struct election *e);
int election_majority(const struct election *e);

const char *election_role_name(enum election_role role);
bool election_role_can_move(enum election_role from, enum election_role to);
const char *election_msg_name(uint8_t type);

#endif
