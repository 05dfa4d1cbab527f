/*
 * epochs.h — the epoch history: which leader wrote which stretch of the log.
 *
 * A durable list of (epoch, start LSN, leader id), one line each in a text
 * file rewritten atomically (write a temporary file, fsync, rename, fsync
 * the directory). Like PostgreSQL's timeline history, it tells whether
 * another node's position lies on this node's history, and if not, where
 * the two histories part.
 */
#ifndef SL_EPOCHS_H
#define SL_EPOCHS_H

#include <stddef.h>
#include <stdint.h>

#define EPOCHS_LEADER_MAX 64

struct epoch_entry {
	uint64_t epoch;
	uint64_t start_lsn;
	char leader[EPOCHS_LEADER_MAX]; /* the leader's node_name */
};

struct epochs {
	struct epoch_entry *v; /* ascending epoch and start LSN */
	size_t n;
	char *path;
};

/* Loads path (a missing file is an empty history). SL_ECORRUPT names the line. */
int epochs_load(struct epochs *h, const char *path, char *err, size_t errlen);
void epochs_free(struct epochs *h);
/* Adds an entry durably. epoch must be greater than the last one and
 * start_lsn not less than its start; else SL_EINVAL. */
int epochs_append(struct epochs *h, uint64_t epoch, uint64_t start_lsn, const char *leader);
/* The newest epoch, 0 when empty. */
uint64_t epochs_current(const struct epochs *h);

enum epochs_verdict {
	EPOCHS_ON_HISTORY, /* their log is a prefix of ours */
	EPOCHS_DIVERGED,   /* they hold records we do not: *diverge_lsn is where ours part */
	EPOCHS_AHEAD,      /* their epoch is newer than ours, or they are past our end */
};

/*
 * Is another node's last position (their_epoch, their_lsn: the epoch of
 * their last record and the end of their log) on this history, given that
 * our log ends at our_end_lsn? An epoch we never had, or a position past
 * the point where we moved on to the next epoch, is DIVERGED, with
 * *diverge_lsn the last LSN both histories share.
 *
 * Precisely, with end_e = the start of our epoch after e, or our_end_lsn
 * when e is our newest:
 *   e > our newest epoch                       AHEAD
 *   e ours, their_lsn <= end_e                 ON_HISTORY
 *   e ours, their_lsn > end_e, e our newest    AHEAD
 *   e ours, their_lsn > end_e, e older         DIVERGED at end_e
 *   e not ours (older than our newest)         DIVERGED at min(their_lsn,
 *                                              start of our first epoch > e)
 * Epoch 0 ("no record yet") counts as ours, ending where our first epoch
 * starts (our_end_lsn when we have none). *diverge_lsn (may be NULL) is
 * set only for DIVERGED.
 */
enum epochs_verdict epochs_check(const struct epochs *h, uint64_t our_end_lsn, uint64_t their_epoch,
				 uint64_t their_lsn, uint64_t *diverge_lsn);

/*
 * Replaces the whole history, durably, with v[0..n) (ascending epochs and
 * start LSNs, valid leader names; else SL_EINVAL and h unchanged). A
 * follower whose log has become a prefix of its leader's takes the
 * leader's history this way.
 */
int epochs_replace(struct epochs *h, const struct epoch_entry *v, size_t n);

enum epochs_parting {
	EPOCHS_SAME,  /* ours is a prefix of theirs (or equal) */
	EPOCHS_PART,  /* they disagree about an epoch: *at is the last LSN both share */
	EPOCHS_NEWER, /* ours knows an epoch newer than all of theirs */
};

/*
 * Compares two histories entry by entry (epoch, start LSN, leader): where
 * they first differ, the histories part at the smaller of the two entries'
 * start LSNs. Epoch numbers alone do not make histories equal: two nodes
 * promoted by force in the same epoch start different branches. When ours
 * runs out first it is a prefix; when theirs runs out first, ours is newer.
 */
enum epochs_parting epochs_compare(const struct epochs *ours, const struct epoch_entry *theirs, size_t n,
				   uint64_t *at);

#endif
