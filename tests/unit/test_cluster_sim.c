/*
 * test_cluster_sim.c — a deterministic simulator for the election core
 * (cluster/election.c): N members (3 and 5 data nodes, and 2 data nodes +
 * a witness) on a seeded network that drops, delays, duplicates, reorders
 * and partitions messages, with members that crash and restart and clocks
 * that run at different rates. A leader appends entries while it holds a
 * lease; its heartbeats carry its log (as replication would), and it
 * acknowledges an entry once floor(N/2) data followers hold it — the
 * synchronous commit that makes failover lossless.
 *
 * After every step: at most one leader per epoch; epochs only grow; no two
 * members hold leases of different epochs at the same real time; a new
 * leader holds every acknowledged entry; no member acknowledges while
 * another leads a newer epoch. After the faults stop, one leader with a
 * lease must emerge (a core that never elects would pass the rest).
 *
 * usage: test_cluster_sim [SEED]   one seed, with its whole trace
 * Environment: SLUICE_LONG_TESTS=1 runs twenty times the seeds and steps.
 * A failing seed prints its last trace lines and how to replay it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election.h"

#define MAX_NODES 5
#define MAX_LOG 4096
#define MAX_MSGS 4096
#define MAX_ACKED 4096
#define TRACE_LINES 400
#define TICK_MS 10

struct node {
	struct election e;
	bool up;
	bool witness;
	struct election_vote disk; /* what PERSIST made durable */
	uint64_t log[MAX_LOG];     /* epoch of each entry; entry i has LSN i + 1 */
	int len;
	int acked_to;              /* leader: entries acknowledged so far */
	double rate;               /* clock rate against real time */
	int64_t offset;
	int64_t next_tick;         /* real ms */
	int64_t paused_until;      /* real ms: stopped (SIGSTOP) until then */
	uint64_t epoch_seen;       /* for "epochs only grow" */
};

struct msg {
	int from, to;
	int64_t at;                /* real ms of delivery */
	struct election_msg m;
	uint64_t *log;             /* HEARTBEAT: the leader's log when sent */
	int len;
};

struct sim {
	uint64_t seed, rng;
	int n;
	struct node nodes[MAX_NODES];
	struct msg msgs[MAX_MSGS];
	int nmsgs;
	bool cut[MAX_NODES][MAX_NODES]; /* the link between two members is down */
	int64_t now; /* real ms */
	/* fault rates of this run, per mille */
	int drop, dup, slow, crash, pause, part;
	struct {
		int lsn;
		uint64_t epoch;
	} acked[MAX_ACKED];
	int nacked;
	int leader_of[1 << 12]; /* epoch -> member + 1 */
	bool verbose;
	char trace[TRACE_LINES][160];
	unsigned ntrace;
	bool failed;
	int64_t elections, leaders, lease_steps;
};

static uint64_t rnd(struct sim *s)
{
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return s->rng = x;
}

static int chance(struct sim *s, int per_mille) { return (int)(rnd(s) % 1000) < per_mille; }

static void trace(struct sim *s, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	va_start(ap, fmt);
	int k = snprintf(line, sizeof(line), "%6" PRId64 " ", s->now);
	vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
	va_end(ap);
	if (s->verbose)
		printf("%s\n", line);
	snprintf(s->trace[s->ntrace++ % TRACE_LINES], sizeof(s->trace[0]), "%s", line);
}

static void fail(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	unsigned first = s->ntrace > TRACE_LINES ? s->ntrace - TRACE_LINES : 0;
	for (unsigned i = first; i < s->ntrace; i++)
		fprintf(stderr, "  %s\n", s->trace[i % TRACE_LINES]);
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL seed %" PRIu64 " at %" PRId64 " ms: ", s->seed, s->now);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  replay: tests/unit/test_cluster_sim %" PRIu64 "\n", s->seed);
}

static int64_t local(const struct sim *s, const struct node *nd) { return nd->offset + (int64_t)((double)s->now * nd->rate); }

/* ------------------------------------------------------------ network */

static void enqueue(struct sim *s, int from, int to, const struct election_msg *m)
{
	struct node *src = &s->nodes[from];
	if (s->cut[from][to] || chance(s, s->drop))
		return;
	int copies = chance(s, s->dup) ? 2 : 1;
	for (int c = 0; c < copies && s->nmsgs < MAX_MSGS; c++) {
		struct msg *q = &s->msgs[s->nmsgs++];
		memset(q, 0, sizeof(*q));
		q->from = from;
		q->to = to;
		q->m = *m;
		int64_t delay = 1 + (int64_t)(rnd(s) % 15);
		if (chance(s, s->slow))
			delay += 50 + (int64_t)(rnd(s) % 400);
		q->at = s->now + delay;
		if (m->type == ELECTION_HEARTBEAT && !src->witness) {
			q->len = src->len;
			q->log = malloc(sizeof(uint64_t) * (size_t)(src->len ? src->len : 1));
			memcpy(q->log, src->log, sizeof(uint64_t) * (size_t)src->len);
		}
	}
}

/* A follower that accepted its leader's heartbeat takes the leader's log
 * as it was sent: it cuts its own where they part, then appends. */
static void replicate(struct sim *s, struct node *nd, const struct msg *q)
{
	if (nd->witness || !q->log)
		return;
	int i = 0;
	while (i < nd->len && i < q->len && nd->log[i] == q->log[i])
		i++;
	if (i < nd->len && i < q->len)
		nd->len = i; /* diverged: cut back to where they part */
	/* now one log is a prefix of the other; what this member holds past
	 * the leader's is the leader's own, from a newer heartbeat */
	if (q->len > nd->len) {
		memcpy(nd->log + nd->len, q->log + nd->len, sizeof(uint64_t) * (size_t)(q->len - nd->len));
		nd->len = q->len;
	}
	election_position(&nd->e, nd->len ? nd->log[nd->len - 1] : 0, (uint64_t)nd->len);
}

/* ------------------------------------------------------------ actions */

static void check_new_leader(struct sim *s, int id, uint64_t epoch)
{
	struct node *nd = &s->nodes[id];
	if (nd->witness)
		fail(s, "witness %d leads epoch %" PRIu64, id, epoch);
	if (epoch < (1u << 12)) {
		if (s->leader_of[epoch] && s->leader_of[epoch] != id + 1)
			fail(s, "two leaders in epoch %" PRIu64 ": %d and %d", epoch, s->leader_of[epoch] - 1, id);
		s->leader_of[epoch] = id + 1;
	}
	for (int k = 0; k < s->nacked; k++) {
		int lsn = s->acked[k].lsn;
		if (lsn > nd->len || nd->log[lsn - 1] != s->acked[k].epoch)
			fail(s, "new leader %d (epoch %" PRIu64 ") lacks acknowledged LSN %d of epoch %" PRIu64, id,
			     epoch, lsn, s->acked[k].epoch);
	}
	s->leaders++;
}

static void carry_out(struct sim *s, int id, const struct election_actions *acts)
{
	struct node *nd = &s->nodes[id];
	for (int i = 0; i < acts->n; i++) {
		const struct election_action *a = &acts->v[i];
		switch (a->kind) {
		case ELECTION_SEND:
			enqueue(s, id, a->to, &a->msg);
			break;
		case ELECTION_PERSIST:
			nd->disk.epoch = a->epoch;
			nd->disk.voted_for = a->to;
			break;
		case ELECTION_LEAD:
			trace(s, "n%d LEAD epoch=%" PRIu64 " log=%d", id, a->epoch, nd->len);
			check_new_leader(s, id, a->epoch);
			/* a new leader opens its epoch with a record of its own */
			if (nd->len < MAX_LOG) {
				nd->log[nd->len++] = a->epoch;
				election_position(&nd->e, a->epoch, (uint64_t)nd->len);
			}
			nd->acked_to = nd->len;
			break;
		case ELECTION_STEP_DOWN:
			trace(s, "n%d STEP_DOWN epoch=%" PRIu64, id, a->epoch);
			break;
		case ELECTION_FOLLOW:
			trace(s, "n%d FOLLOW n%d epoch=%" PRIu64, id, a->to, a->epoch);
			break;
		case ELECTION_FENCE:
			trace(s, "n%d FENCE epoch=%" PRIu64, id, a->epoch);
			break;
		case ELECTION_UNFENCE:
			trace(s, "n%d UNFENCE epoch=%" PRIu64, id, a->epoch);
			break;
		}
	}
}

/* ---------------------------------------------------------- the nodes */

static void boot(struct sim *s, int id)
{
	struct node *nd = &s->nodes[id];
	struct election_config cfg = {
		.nmembers = s->n,
		.self = id,
		.failover = true,
		.priority = (uint8_t)(nd->witness ? 0 : 1 + rnd(s) % 3),
		.heartbeat_ms = 100,
		.lease_ms = 600,
		.failover_ms = 1000,
		.jitter_ms = 300,
	};
	for (int i = 0; i < s->n; i++)
		cfg.witness[i] = s->nodes[i].witness;
	char err[256];
	if (election_config_check(&cfg, err, sizeof(err)) != 0)
		fail(s, "config refused: %s", err);
	election_init(&nd->e, &cfg, &nd->disk, nd->len ? nd->log[nd->len - 1] : 0, (uint64_t)nd->len, local(s, nd),
		      s->seed * 31 + (uint64_t)id + (uint64_t)s->now);
	nd->up = true;
	nd->next_tick = s->now;
}

static void deliver(struct sim *s)
{
	for (int i = 0; i < s->nmsgs;) {
		struct msg q = s->msgs[i];
		if (q.at > s->now || s->nodes[q.to].paused_until > s->now) {
			i++; /* a paused member reads its socket when it wakes */
			continue;
		}
		s->msgs[i] = s->msgs[--s->nmsgs];
		struct node *dst = &s->nodes[q.to];
		if (dst->up && !s->cut[q.from][q.to]) {
			struct election_actions acts = { 0 };
			if (s->verbose)
				trace(s, "n%d <- n%d %s epoch=%" PRIu64 " granted=%d pos=%" PRIu64 "/%" PRIu64, q.to,
				      q.from, election_msg_name(q.m.type), q.m.epoch, q.m.granted, q.m.last_epoch,
				      q.m.last_lsn);
			election_receive(&dst->e, local(s, dst), q.from, &q.m, &acts);
			if (q.m.type == ELECTION_HEARTBEAT && dst->e.role == ELECTION_FOLLOWER &&
			    dst->e.leader == q.from && dst->e.epoch == q.m.epoch)
				replicate(s, dst, &q);
			carry_out(s, q.to, &acts);
		}
		free(q.log);
	}
}

/* The leader writes, and acknowledges what enough followers hold. */
static void client_write(struct sim *s, int id)
{
	struct node *nd = &s->nodes[id];
	int64_t t = local(s, nd);
	if (!nd->up || nd->paused_until > s->now || nd->e.role != ELECTION_LEADER || !election_has_lease(&nd->e, t))
		return;
	if (nd->len < MAX_LOG - 8 && chance(s, 300))
		nd->log[nd->len++] = nd->e.epoch;
	election_position(&nd->e, nd->e.epoch, (uint64_t)nd->len);
	int need = s->n / 2; /* floor(N/2) followers */
	while (nd->acked_to < nd->len && s->nacked < MAX_ACKED) {
		uint64_t lsn = (uint64_t)nd->acked_to + 1;
		int have = 0;
		for (int i = 0; i < s->n; i++)
			if (i != id && !s->nodes[i].witness && nd->e.match[i] >= lsn)
				have++;
		if (have < need)
			break;
		for (int i = 0; i < s->n; i++)
			if (s->nodes[i].up && s->nodes[i].e.role == ELECTION_LEADER && s->nodes[i].e.epoch > nd->e.epoch)
				fail(s, "n%d acknowledges in epoch %" PRIu64 " while n%d leads epoch %" PRIu64, id,
				     nd->e.epoch, i, s->nodes[i].e.epoch);
		s->acked[s->nacked].lsn = (int)lsn;
		s->acked[s->nacked].epoch = nd->log[lsn - 1];
		s->nacked++;
		nd->acked_to++;
	}
}

static void check(struct sim *s)
{
	int holder = -1;
	for (int i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (nd->e.epoch < nd->epoch_seen)
			fail(s, "n%d went back from epoch %" PRIu64 " to %" PRIu64, i, nd->epoch_seen, nd->e.epoch);
		nd->epoch_seen = nd->e.epoch;
		if (!nd->up || !election_has_lease(&nd->e, local(s, nd)))
			continue;
		s->lease_steps++;
		if (holder >= 0)
			fail(s, "n%d (epoch %" PRIu64 ") and n%d (epoch %" PRIu64 ") hold leases at once", holder,
			     s->nodes[holder].e.epoch, i, nd->e.epoch);
		holder = i;
	}
}

/* --------------------------------------------------------------- faults */

static void nemesis(struct sim *s)
{
	if (chance(s, s->crash)) {
		int id = (int)(rnd(s) % (uint64_t)s->n);
		struct node *nd = &s->nodes[id];
		if (nd->up) {
			trace(s, "n%d crashes", id);
			nd->up = false;
		} else {
			trace(s, "n%d restarts", id);
			boot(s, id);
		}
	}
	if (chance(s, s->pause)) {
		int id = (int)(rnd(s) % (uint64_t)s->n);
		s->nodes[id].paused_until = s->now + 200 + (int64_t)(rnd(s) % 3000);
		trace(s, "n%d pauses until %" PRId64, id, s->nodes[id].paused_until);
	}
	if (chance(s, s->part)) {
		int kind = (int)(rnd(s) % 3);
		bool side[MAX_NODES];
		for (int i = 0; i < s->n; i++)
			side[i] = rnd(s) % 2;
		char what[64] = "";
		for (int i = 0; i < s->n; i++)
			for (int j = i + 1; j < s->n; j++) {
				/* two sides, or single links cut (a bridge), or whole again */
				bool cut = kind == 0 ? side[i] != side[j] : kind == 1 ? rnd(s) % 3 == 0 : false;
				s->cut[i][j] = s->cut[j][i] = cut;
				if (cut && strlen(what) < sizeof(what) - 8)
					snprintf(what + strlen(what), sizeof(what) - strlen(what), " %d-%d", i, j);
			}
		trace(s, "links cut:%s", what[0] ? what : " none");
	}
}

static void step(struct sim *s, bool faults)
{
	s->now += 1 + (int64_t)(rnd(s) % 5);
	deliver(s);
	for (int i = 0; i < s->n; i++) {
		struct node *nd = &s->nodes[i];
		if (!nd->up || nd->next_tick > s->now || nd->paused_until > s->now)
			continue;
		nd->next_tick = s->now + TICK_MS;
		struct election_actions acts = { 0 };
		enum election_role before = nd->e.role;
		election_tick(&nd->e, local(s, nd), &acts);
		if (before == ELECTION_FOLLOWER && nd->e.role == ELECTION_PRECANDIDATE)
			s->elections++;
		carry_out(s, i, &acts);
		client_write(s, i);
	}
	if (faults)
		nemesis(s);
	check(s);
}

/* ------------------------------------------------------------------ run */

static bool run(uint64_t seed, int n, bool witness, int steps, bool verbose)
{
	static struct sim sim;
	struct sim *s = &sim;
	for (int i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].log);
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->rng = seed * 0x9E3779B97F4A7C15ull + 1;
	s->n = n;
	s->verbose = verbose;
	s->drop = (int)(rnd(s) % 200);
	s->dup = (int)(rnd(s) % 50);
	s->slow = (int)(rnd(s) % 50);
	s->crash = 1 + (int)(rnd(s) % 2);
	s->pause = (int)(rnd(s) % 3);
	s->part = 1 + (int)(rnd(s) % 3);
	s->now = 1000;
	for (int i = 0; i < n; i++) {
		struct node *nd = &s->nodes[i];
		nd->witness = witness && i == n - 1;
		nd->disk.voted_for = ELECTION_NOBODY;
		if (!nd->witness) { /* every data node starts from the same snapshot: epoch 1 */
			nd->log[0] = 1;
			nd->len = 1;
		}
		nd->rate = 0.97 + (double)(rnd(s) % 61) / 1000.0;
		nd->offset = (int64_t)(rnd(s) % 100000);
		boot(s, i);
	}
	trace(s, "seed=%" PRIu64 " n=%d witness=%d drop=%d dup=%d slow=%d crash=%d pause=%d part=%d", seed, n,
	      witness, s->drop, s->dup, s->slow, s->crash, s->pause, s->part);
	for (int k = 0; k < steps && !s->failed; k++)
		step(s, true);
	/* the faults stop: every member up, the network whole but for its
	 * usual losses; one leader must emerge */
	trace(s, "quiesce");
	memset(s->cut, 0, sizeof(s->cut));
	for (int i = 0; i < n; i++) {
		s->nodes[i].paused_until = 0;
		if (!s->nodes[i].up)
			boot(s, i);
	}
	s->drop = s->drop > 50 ? 50 : s->drop;
	int64_t until = s->now + 8000;
	while (s->now < until && !s->failed)
		step(s, false);
	int holders = 0;
	for (int i = 0; i < n; i++)
		holders += election_has_lease(&s->nodes[i].e, local(s, &s->nodes[i]));
	if (holders != 1)
		fail(s, "after 8 s without faults %d members hold a lease", holders);
	for (int i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].log);
	s->nmsgs = 0;
	if (verbose)
		printf("acknowledged %d entries, %" PRId64 " elections, %" PRId64 " leaders\n", s->nacked,
		       s->elections, s->leaders);
	return !s->failed;
}

int main(int argc, char **argv)
{
	const struct {
		const char *name;
		int n;
		bool witness;
	} shapes[] = { { "3 data nodes", 3, false }, { "5 data nodes", 5, false }, { "2 data nodes + witness", 3, true } };
	if (argc > 1) {
		uint64_t seed = strtoull(argv[1], NULL, 10);
		int shape = (int)(seed % 3);
		printf("seed %" PRIu64 ": %s\n", seed, shapes[shape].name);
		return run(seed, shapes[shape].n, shapes[shape].witness, 8000, true) ? 0 : 1;
	}
	bool lng = getenv("SLUICE_LONG_TESTS") && strcmp(getenv("SLUICE_LONG_TESTS"), "1") == 0;
	int seeds = lng ? 6000 : 600;
	int steps = lng ? 40000 : 8000;
	int failed = 0;
	for (int k = 0; k < seeds; k++) {
		uint64_t seed = (uint64_t)k + 1;
		int shape = (int)(seed % 3);
		if (!run(seed, shapes[shape].n, shapes[shape].witness, steps, false))
			failed++;
	}
	printf("cluster simulation: %d seeds x %d steps (3, 5, 2 + witness): %d failed\n", seeds, steps, failed);
	return failed ? 1 : 0;
}
