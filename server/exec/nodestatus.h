/*
 * nodestatus.h — the node's replication state as SQL: the eponymous
 * virtual tables sluice_status (one row: this node), sluice_replication
 * (one row per follower, on the leader) and sluice_members (one row per
 * member of `peers`, with automatic failover), sluice_current_lsn() and
 * sluice_wait_lsn(lsn, timeout_ms), which waits until this node's readers
 * see every commit up to lsn (for read-your-writes on a follower).
 */
#ifndef SL_NODESTATUS_H
#define SL_NODESTATUS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "peermsg.h"

struct peers;

struct node_info {
	const char *role;  /* "leader" or "follower" */
	char node_name[PEER_STR_MAX];
	uint64_t epoch;
	const char *log_mode;
	uint64_t current_lsn; /* leader: durable end of its log; follower: end of what it received and flushed */
	uint64_t applied_lsn;
	int64_t lag_bytes;
	double lag_ms;
	double staleness_ms;      /* follower: lag_ms, or how long the leader has been silent */
	const char *synchronous; /* leader: "off", "on" or "degraded" (synchronous standbys) */
	char state[32];
	char leader[PEER_STR_MAX];        /* follower: the leader's peer address */
	char leader_client[PEER_STR_MAX]; /* where the leader serves clients */
	char client_address[PEER_STR_MAX];
	char last_error[PEER_STR_MAX * 2];
	/* automatic failover (all empty when it is off) */
	char election[16];         /* "follower", "precandidate", "candidate", "leader" */
	char lease[16];            /* "held", "expired", "none" */
	int64_t heartbeat_age_ms;  /* since the leader was last heard; -1: never */
	char voted_for[PEER_STR_MAX];
	uint64_t vote_epoch;
	char last_election[8];     /* "won", "lost" */
	int64_t last_election_ms;
	char failover_warning[512];
};

/* A member of `peers` as this node sees it (automatic failover). */
struct member_info {
	char name[PEER_STR_MAX];
	char peer_address[PEER_STR_MAX];
	bool self, linked, leading;
	int64_t answered_age_ms; /* the leader: its newest answered heartbeat's age; -1: none, or not the leader */
	bool answering;          /* the leader: it answered within lease_timeout */
};

/* Where the tables' rows come from. */
struct nodestatus_source {
	void (*node)(void *arg, struct node_info *out);
	/* the members, at most max: how many (NULL: no automatic failover) */
	int (*members)(void *arg, struct member_info *out, int max);
	struct peers *peers; /* a leader's followers, or NULL */
	void *arg;
};

/* Set at start-up and at each change of role, before connections use it
 * (NULL: nothing to show). */
void nodestatus_set(const struct nodestatus_source *src);

/* This node's row of sluice_status now. */
void nodestatus_node(struct node_info *out);

/* Registers the tables and functions on a connection. SQLITE_OK or an error. */
int nodestatus_register(sqlite3 *db);
/* Whether name (any case) is one of the tables registered here. */
bool nodestatus_is_table(const char *name);

#endif
