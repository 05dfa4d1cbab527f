/*
 * syncrep.h — the leader's synchronous replication: which followers a
 * COMMIT waits for (synchronous_standbys), what they acknowledged, and the
 * wait itself, with its timeout and fallback.
 *
 * The rule is PostgreSQL's synchronous_standby_names: `FIRST k (a, b, c)`
 * waits for the k highest-priority followers that are streaming (the
 * others listed are "potential"), `ANY k (a, b, c)` for any k of those
 * listed ("quorum"); a bare list means FIRST 1. Only followers streaming
 * on a live link count, and only their acknowledgements in this epoch.
 *
 * A position confirmed at a level (remote_write, on = flushed,
 * remote_apply) is the highest LSN the rule holds as acknowledged there.
 * With synchronous_fallback = async, a wait that outlasts
 * synchronous_timeout puts the leader in the degraded state: commits stop
 * waiting until the standbys have confirmed everything committed so far.
 */
#ifndef SL_SYNCREP_H
#define SL_SYNCREP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "lease.h"

#define SYNCREP_MAX_NAMES 16

struct syncrep_rule {
	bool any;  /* ANY k (quorum) rather than FIRST k (priority) */
	int k;     /* 0: no synchronous standbys */
	int nnames;
	char names[SYNCREP_MAX_NAMES][CONFIG_STR_MAX / 8];
};

/* Parses synchronous_standbys; "" gives k = 0. 0, or -1 with err. */
int syncrep_rule_parse(const char *text, struct syncrep_rule *out, char *err, size_t errlen);

enum syncrep_result {
	SYNCREP_CONFIRMED, /* the rule acknowledged the LSN */
	SYNCREP_DEGRADED,  /* not confirmed: timed out (fallback async), or degraded already */
	SYNCREP_STOPPED,   /* not confirmed: the waiter's probe gave up, or the server stops */
	SYNCREP_DEPOSED,   /* not confirmed: this node stepped down (syncrep_depose) */
};

struct syncrep;

/* lease: the leader's (lease.h); a wait confirms nothing once it has run
 * out, and ends with SYNCREP_DEPOSED (NULL: no lease). */
struct syncrep *syncrep_new(const struct syncrep_rule *rule, int64_t timeout_ms, int fallback,
			    const struct lease *lease);
void syncrep_free(struct syncrep *sr);

/* Whether any follower must acknowledge commits. */
bool syncrep_enabled(const struct syncrep *sr);
bool syncrep_degraded(struct syncrep *sr);

/*
 * A follower's state (peer link threads): streaming means it is on a live
 * link and has caught up once; positions are its acknowledged write,
 * flush and apply LSNs.
 */
void syncrep_update(struct syncrep *sr, const char *name, bool streaming, uint64_t write_lsn, uint64_t flush_lsn,
		    uint64_t apply_lsn);

/* "async", "potential", "sync" or "quorum", for sluice_replication. */
const char *syncrep_state(struct syncrep *sr, const char *name);

/* The LSN the rule has confirmed at level (SYNC_REMOTE_WRITE and above). */
uint64_t syncrep_confirmed(struct syncrep *sr, int level);

/*
 * Waits until the rule confirms lsn at level, calling probe(arg) about
 * every 20 ms (a probe returning true ends the wait: SYNCREP_STOPPED).
 * After synchronous_timeout: with fallback async, SYNCREP_DEGRADED (and
 * the leader is degraded from then on); with block, a warning in the log
 * and the wait goes on. While degraded, returns SYNCREP_DEGRADED at once.
 */
enum syncrep_result syncrep_wait(struct syncrep *sr, uint64_t lsn, int level, bool (*probe)(void *arg), void *arg);

/* Ends every wait (server shutdown). */
void syncrep_shutdown(struct syncrep *sr);
/* As syncrep_shutdown, because this node steps down: waits end with
 * SYNCREP_DEPOSED (the commit's outcome is unknown to its client). */
void syncrep_depose(struct syncrep *sr);

#endif
