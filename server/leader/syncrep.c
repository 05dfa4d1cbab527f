/*
 * syncrep.c — synchronous_standbys, the followers' acknowledgements and
 * the COMMIT's wait for them (see syncrep.h).
 *
 * One mutex guards the table of followers; a condition variable per
 * kind of wait (written or flushed; applied) wakes the waiters only when a
 * position they wait on moves. The table is small (a follower per peer
 * link), so the confirmed position is computed afresh each time.
 */
#include "syncrep.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "lsn.h"
#include "sl_time.h"

#define SYNCREP_MAX_FOLLOWERS 64
#define PROBE_MS 20

struct standby {
	char name[sizeof(((struct syncrep_rule *)0)->names[0])];
	bool streaming;
	uint64_t pos[3]; /* write, flush, apply */
};

struct syncrep {
	struct syncrep_rule rule;
	int64_t timeout_ms;
	int fallback;
	pthread_mutex_t mu;
	pthread_cond_t flushed, applied; /* write or flush moved; apply moved */
	struct standby standbys[SYNCREP_MAX_FOLLOWERS];
	int nstandbys;
	bool degraded;
	bool stopping;
	bool deposed; /* stopping because this node stepped down */
	const struct lease *lease;
	uint64_t high_lsn;       /* the highest LSN a commit asked about */
	uint64_t catchup_target; /* degraded: restored once this is confirmed */
};

/* ------------------------------------------------------------- the rule */

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A keyword followed by a space, a digit or '(': FIRST / ANY. */
static bool take_keyword(const char **pp, const char *kw)
{
	size_t n = strlen(kw);
	if (strncasecmp(*pp, kw, n) != 0)
		return false;
	char c = (*pp)[n];
	if (!isspace((unsigned char)c))
		return false;
	*pp = skip_space(*pp + n);
	return true;
}

/* One name: an identifier, or a double-quoted one. */
static int take_name(const char **pp, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *p = *pp;
	size_t n = 0;
	if (*p == '"') {
		for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
			if (*p == '"')
				p++; /* a doubled quote */
			if (n + 1 >= outlen)
				goto too_long;
			out[n++] = *p;
		}
		if (*p != '"') {
			snprintf(err, errlen, "unterminated quoted name");
			return -1;
		}
		p++;
	} else {
		while (*p && (isalnum((unsigned char)*p) || strchr("_-.:", *p))) {
			if (n + 1 >= outlen)
				goto too_long;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	if (n == 0) {
		snprintf(err, errlen, *p == '*' ? "\"*\" is not supported: list the standbys by node_name"
						: "a standby name is expected at \"%s\"", p);
		return -1;
	}
	*pp = p;
	return 0;
too_long:
	snprintf(err, errlen, "a standby name is longer than %zu bytes", outlen - 1);
	return -1;
}

int syncrep_rule_parse(const char *text, struct syncrep_rule *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *p = skip_space(text);
	if (!*p)
		return 0;
	bool counted = false;
	out->k = 1;
	if (take_keyword(&p, "FIRST"))
		counted = true;
	else if (take_keyword(&p, "ANY"))
		counted = out->any = true;
	if (counted || isdigit((unsigned char)*p)) {
		char *end;
		errno = 0;
		long k = strtol(p, &end, 10);
		if (end == p || errno || k < 1 || k > SYNCREP_MAX_NAMES) {
			snprintf(err, errlen, "the number of synchronous standbys must be between 1 and %d",
				 SYNCREP_MAX_NAMES);
			return -1;
		}
		out->k = (int)k;
		p = skip_space(end);
		if (*p != '(') {
			snprintf(err, errlen, "\"(\" expected after the number of standbys");
			return -1;
		}
	}
	bool paren = *p == '(';
	if (paren)
		p = skip_space(p + 1);
	for (;;) {
		if (out->nnames == SYNCREP_MAX_NAMES) {
			snprintf(err, errlen, "more than %d standbys listed", SYNCREP_MAX_NAMES);
			return -1;
		}
		char *name = out->names[out->nnames];
		if (take_name(&p, name, sizeof(out->names[0]), err, errlen) != 0)
			return -1;
		for (int i = 0; i < out->nnames; i++)
			if (strcmp(out->names[i], name) == 0) {
				snprintf(err, errlen, "standby \"%s\" is listed twice", name);
				return -1;
			}
		out->nnames++;
		p = skip_space(p);
		if (*p != ',')
			break;
		p = skip_space(p + 1);
	}
	if (paren) {
		if (*p != ')') {
			snprintf(err, errlen, "\")\" expected at \"%s\"", p);
			return -1;
		}
		p = skip_space(p + 1);
	}
	if (*p) {
		snprintf(err, errlen, "unexpected \"%s\"", p);
		return -1;
	}
	if (out->k > out->nnames) {
		snprintf(err, errlen, "%d synchronous standbys asked for, but only %d listed", out->k, out->nnames);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the table */

struct syncrep *syncrep_new(const struct syncrep_rule *rule, int64_t timeout_ms, int fallback,
			    const struct lease *lease)
{
	struct syncrep *sr = calloc(1, sizeof(*sr));
	if (!sr)
		return NULL;
	sr->rule = *rule;
	sr->timeout_ms = timeout_ms;
	sr->fallback = fallback;
	sr->lease = lease;
	pthread_mutex_init(&sr->mu, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sr->flushed, &attr);
	pthread_cond_init(&sr->applied, &attr);
	pthread_condattr_destroy(&attr);
	return sr;
}

void syncrep_free(struct syncrep *sr)
{
	if (!sr)
		return;
	pthread_mutex_destroy(&sr->mu);
	pthread_cond_destroy(&sr->flushed);
	pthread_cond_destroy(&sr->applied);
	free(sr);
}

bool syncrep_enabled(const struct syncrep *sr) { return sr && sr->rule.k > 0; }

bool syncrep_degraded(struct syncrep *sr)
{
	if (!sr)
		return false;
	pthread_mutex_lock(&sr->mu);
	bool d = sr->degraded;
	pthread_mutex_unlock(&sr->mu);
	return d;
}

static struct standby *find_standby(struct syncrep *sr, const char *name)
{
	for (int i = 0; i < sr->nstandbys; i++)
		if (strcmp(sr->standbys[i].name, name) == 0)
			return &sr->standbys[i];
	return NULL;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* mu held: the position the rule confirms at level (0 when it cannot). */
static uint64_t confirmed_locked(struct syncrep *sr, int level)
{
	const struct syncrep_rule *rule = &sr->rule;
	int at = level >= SYNC_REMOTE_APPLY ? 2 : level >= SYNC_ON ? 1 : 0;
	uint64_t pos[SYNCREP_MAX_NAMES];
	int n = 0;
	for (int i = 0; i < rule->nnames && (rule->any || n < rule->k); i++) {
		struct standby *s = find_standby(sr, rule->names[i]);
		if (s && s->streaming)
			pos[n++] = s->pos[at];
	}
	if (n == 0 || n < rule->k)
		return 0;
	if (!rule->any) { /* FIRST k: the slowest of the k chosen */
		uint64_t min = pos[0];
		for (int i = 1; i < n; i++)
			min = pos[i] < min ? pos[i] : min;
		return min;
	}
	qsort(pos, (size_t)n, sizeof(pos[0]), cmp_desc);
	return pos[rule->k - 1];
}

uint64_t syncrep_confirmed(struct syncrep *sr, int level)
{
	pthread_mutex_lock(&sr->mu);
	uint64_t c = confirmed_locked(sr, level);
	pthread_mutex_unlock(&sr->mu);
	return c;
}

void syncrep_update(struct syncrep *sr, const char *name, bool streaming, uint64_t write_lsn, uint64_t flush_lsn,
		    uint64_t apply_lsn)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->mu);
	struct standby *s = find_standby(sr, name);
	if (!s && sr->nstandbys < SYNCREP_MAX_FOLLOWERS) {
		s = &sr->standbys[sr->nstandbys++];
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	bool flushed = true, applied = true; /* what may confirm more now */
	if (s) {
		flushed = s->streaming != streaming || s->pos[0] != write_lsn || s->pos[1] != flush_lsn;
		applied = s->streaming != streaming || s->pos[2] != apply_lsn;
		s->streaming = streaming;
		s->pos[0] = write_lsn;
		s->pos[1] = flush_lsn;
		s->pos[2] = apply_lsn;
	}
	if (sr->degraded && sr->rule.k > 0) {
		/* back once the standbys confirm what was committed as of their
		 * previous acknowledgement: they keep up again */
		uint64_t c = confirmed_locked(sr, SYNC_ON);
		if (c >= sr->catchup_target && c > 0) {
			sr->degraded = false;
			char at[LSN_TEXT_MAX];
			log_info("syncrep", "synchronous replication restored confirmed=%s", lsn_format(c, at));
		} else {
			sr->catchup_target = sr->high_lsn;
		}
	}
	if (flushed)
		pthread_cond_broadcast(&sr->flushed);
	if (applied)
		pthread_cond_broadcast(&sr->applied);
	pthread_mutex_unlock(&sr->mu);
}

const char *syncrep_state(struct syncrep *sr, const char *name)
{
	if (!syncrep_enabled(sr))
		return "async";
	const struct syncrep_rule *rule = &sr->rule;
	int listed = -1;
	for (int i = 0; i < rule->nnames; i++)
		if (strcmp(rule->names[i], name) == 0)
			listed = i;
	if (listed < 0)
		return "async";
	if (rule->any)
		return "quorum";
	/* FIRST k: sync when among the first k listed that are streaming */
	pthread_mutex_lock(&sr->mu);
	int chosen = 0;
	const char *state = "potential";
	for (int i = 0; i < rule->nnames && chosen < rule->k; i++) {
		struct standby *s = find_standby(sr, rule->names[i]);
		if (!s || !s->streaming)
			continue;
		chosen++;
		if (i == listed)
			state = "sync";
	}
	pthread_mutex_unlock(&sr->mu);
	return state;
}

/* ------------------------------------------------------------- waiting */

enum syncrep_result syncrep_wait(struct syncrep *sr, uint64_t lsn, int level, bool (*probe)(void *arg), void *arg)
{
	if (!syncrep_enabled(sr) || level < SYNC_REMOTE_WRITE)
		return SYNCREP_CONFIRMED;
	int64_t start = sl_monotonic_ms(), last_probe = start;
	bool warned = false;
	char at[LSN_TEXT_MAX];
	pthread_mutex_lock(&sr->mu);
	if (lsn > sr->high_lsn)
		sr->high_lsn = lsn;
	for (;;) {
		if (!lease_holds(sr->lease)) {
			log_warn("syncrep", "a commit waiting for standbys fails: this node lost its leader lease lsn=%s",
				 lsn_format(lsn, at));
			pthread_mutex_unlock(&sr->mu);
			return SYNCREP_DEPOSED; /* never success: another leader may be elected */
		}
		if (confirmed_locked(sr, level) >= lsn) {
			pthread_mutex_unlock(&sr->mu);
			return SYNCREP_CONFIRMED;
		}
		if (sr->degraded) {
			pthread_mutex_unlock(&sr->mu);
			return SYNCREP_DEGRADED;
		}
		if (sr->stopping)
			break;
		int64_t waited = sl_monotonic_ms() - start;
		if (waited >= sr->timeout_ms && sr->fallback == SYNC_FALLBACK_ASYNC) {
			sr->degraded = true;
			sr->catchup_target = sr->high_lsn;
			log_warn("syncrep",
				 "synchronous replication degraded: standbys did not confirm lsn=%s within "
				 "synchronous_timeout; commits go on without them",
				 lsn_format(lsn, at));
			pthread_mutex_unlock(&sr->mu);
			return SYNCREP_DEGRADED;
		}
		if (waited >= sr->timeout_ms && !warned) {
			warned = true;
			log_warn("syncrep", "a commit has waited %" PRId64 " ms for synchronous standbys lsn=%s", waited,
				 lsn_format(lsn, at));
		}
		struct timespec t = sl_deadline(CLOCK_MONOTONIC, PROBE_MS);
		pthread_cond_timedwait(level >= SYNC_REMOTE_APPLY ? &sr->applied : &sr->flushed, &sr->mu, &t);
		if (probe && sl_monotonic_ms() - last_probe >= PROBE_MS) {
			pthread_mutex_unlock(&sr->mu);
			bool give_up = probe(arg);
			last_probe = sl_monotonic_ms();
			pthread_mutex_lock(&sr->mu);
			if (give_up)
				break;
		}
	}
	enum syncrep_result res = sr->deposed ? SYNCREP_DEPOSED : SYNCREP_STOPPED;
	pthread_mutex_unlock(&sr->mu);
	return res;
}

void syncrep_depose(struct syncrep *sr)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->mu);
	sr->deposed = true;
	pthread_mutex_unlock(&sr->mu);
	syncrep_shutdown(sr);
}

void syncrep_shutdown(struct syncrep *sr)
{
	if (!sr)
		return;
	pthread_mutex_lock(&sr->mu);
	sr->stopping = true;
	pthread_cond_broadcast(&sr->flushed);
	pthread_cond_broadcast(&sr->applied);
	pthread_mutex_unlock(&sr->mu);
}
