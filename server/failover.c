/*
 * failover.c — automatic failover on a node (see failover.h): the
 * election core driven by a ticking thread, the vote file, and one link
 * thread per other member.
 *
 * Everything about the core happens under f->mu: a tick, a member's
 * message, an admin request. Its actions are carried out in order while
 * the lock is held — a vote is on disk before the answer that grants it
 * is queued — except for the sends, which only queue: each member's
 * thread sends its queue on its own link, so a slow or dead member holds
 * up nobody. The lease (lease.h) is written after every event, so the
 * write path sees a lost lease at once.
 *
 * The vote file, DATA_DIR/vote, is one line: "EPOCH NAME\n" (NAME "-"
 * when this node has not voted in EPOCH), replaced atomically
 * (recovery_file_write).
 */
#include "failover.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "election.h"
#include "log.h"
#include "members.h"
#include "peerdial.h"
#include "peerframe.h"
#include "recovery.h"
#include "sl_error.h"
#include "sl_time.h"
#include "syncrep.h"

#define TICK_MS 10
#define OUT_QUEUE 32
#define DIAL_TIMEOUT_MS 500
#define SEND_TIMEOUT_MS 1000
#define REDIAL_MIN_MS 50
/* Redials back off to a quarter of the lease at most: a member's peer port
 * closes for a moment when it changes role, and a new leader whose members
 * waited longer than its lease to dial again lost the lease it just took
 * (25006 on its first writes, and under load a step-down). */
#define REDIAL_LEASE_PARTS 4
#define CLOSE_POLL_MS 20 /* how soon an idle link notices the member closed it */

struct outlink {
	struct failover *f;
	int member;
	pthread_t thread;
	bool started;
	pthread_cond_t cond; /* under f->mu: something to send, or stop */
	struct peer_election q[OUT_QUEUE];
	unsigned head, n;
	bool linked;
	char last_err[256];
};

struct failover {
	const struct config *cfg;
	struct lease *lease;
	struct failover_hooks hooks;
	struct members members;
	int self;
	char vote_path[CONFIG_STR_MAX + 16];
	bool first_start;
	char warning[512];
	pthread_mutex_t mu;
	struct election e;
	bool broken;   /* a vote could not be made durable: this node no longer votes */
	struct outlink out[ELECTION_MAX_MEMBERS];
	pthread_t tick_thread;
	bool tick_started;
	atomic_bool stop;
	pthread_cond_t stop_cond; /* under mu: the tick thread's sleep */
};

/* ------------------------------------------------------------ the vote */

static int vote_load(struct failover *f, struct election_vote *v, char *err, size_t errlen)
{
	v->epoch = 0;
	v->voted_for = ELECTION_NOBODY;
	FILE *fp = fopen(f->vote_path, "r");
	if (!fp) {
		if (errno == ENOENT) {
			f->first_start = true;
			return 0;
		}
		snprintf(err, errlen, "could not read \"%s\": %s", f->vote_path, strerror(errno));
		return -1;
	}
	char line[256] = "", name[128] = "";
	uint64_t epoch = 0;
	bool ok = fgets(line, sizeof(line), fp) && sscanf(line, "%" SCNu64 " %127s", &epoch, name) == 2;
	fclose(fp);
	if (!ok) {
		snprintf(err, errlen, "\"%s\" is not a vote file (expected \"EPOCH NAME\")", f->vote_path);
		return -1;
	}
	v->epoch = epoch;
	const struct member *m = strcmp(name, "-") == 0 ? NULL : members_find(&f->members, name);
	v->voted_for = m ? (int)(m - f->members.v) : ELECTION_NOBODY;
	if (!m && strcmp(name, "-") != 0)
		log_warn("failover", "the vote file names a node that is no longer a member name=%s epoch=%" PRIu64,
			 name, epoch);
	return 0;
}

static int vote_store(struct failover *f, uint64_t epoch, int voted_for)
{
	char text[160];
	snprintf(text, sizeof(text), "%" PRIu64 " %s\n", epoch, voted_for >= 0 ? f->members.v[voted_for].name : "-");
	return recovery_file_write(f->vote_path, text); /* atomic and durable; logs a failure */
}

/* ------------------------------------------------------------- actions */

static const char *member_name(const struct failover *f, int i)
{
	return i >= 0 && i < f->members.n ? f->members.v[i].name : "-";
}

static void enqueue(struct failover *f, int to, const struct election_msg *m)
{
	struct outlink *o = &f->out[to];
	if (o->n == OUT_QUEUE) { /* the oldest goes: a newer message says more */
		o->head = (o->head + 1) % OUT_QUEUE;
		o->n--;
	}
	struct peer_election *q = &o->q[(o->head + o->n) % OUT_QUEUE];
	q->type = m->type;
	q->granted = m->granted;
	q->priority = m->priority;
	q->epoch = m->epoch;
	q->last_epoch = m->last_epoch;
	q->last_lsn = m->last_lsn;
	q->stamp = m->stamp;
	o->n++;
	pthread_cond_signal(&o->cond);
}

/* f->mu held: what the core decided, in order. Returns whether the role
 * the node should have, or its leader, changed. */
static bool carry_out(struct failover *f, const struct election_actions *acts)
{
	bool changed = false;
	for (int i = 0; i < acts->n; i++) {
		const struct election_action *a = &acts->v[i];
		switch (a->kind) {
		case ELECTION_SEND:
			if (!f->broken)
				enqueue(f, a->to, &a->msg);
			break;
		case ELECTION_PERSIST:
			if (f->broken)
				break;
			if (vote_store(f, a->epoch, a->to) != 0) {
				/* a vote that is not durable is never sent: this node stops voting */
				log_error("failover", "could not write the vote file, this node takes no further part "
						      "in elections path=%s", f->vote_path);
				f->broken = true;
			} else if (a->to >= 0 && a->to != f->self) {
				log_info("failover", "voted candidate=%s epoch=%" PRIu64, member_name(f, a->to), a->epoch);
			}
			break;
		case ELECTION_LEAD:
			log_info("failover", "elected leader epoch=%" PRIu64 " election_ms=%" PRId64, a->epoch,
				 f->e.last_election_ms);
			changed = true;
			break;
		case ELECTION_STEP_DOWN:
			log_info("failover", "stepping down epoch=%" PRIu64 " reason=\"%s\"", a->epoch,
				 f->e.epoch > a->epoch ? "a member is in a newer epoch"
						       : "the lease has been lost for failover_timeout");
			changed = true;
			break;
		case ELECTION_FOLLOW:
			log_info("failover", "following leader=%s epoch=%" PRIu64, member_name(f, a->to), a->epoch);
			changed = true;
			break;
		case ELECTION_FENCE:
			log_warn("failover",
				 "leader lease lost: writes stop and waiting commits fail with 40003 epoch=%" PRIu64
				 " reason=\"no majority answered within lease_timeout\"", a->epoch);
			break;
		case ELECTION_UNFENCE:
			log_info("failover", "leader lease regained: writes resume epoch=%" PRIu64, a->epoch);
			break;
		}
	}
	lease_set(f->lease, election_lease_until(&f->e));
	return changed;
}

/* f->mu held: logs what an event did to the election's state. */
static void note_role(struct failover *f, enum election_role before, int64_t now)
{
	enum election_role after = f->e.role;
	if (after == before)
		return;
	if (after == ELECTION_PRECANDIDATE && before == ELECTION_FOLLOWER)
		log_info("failover", "starting an election epoch=%" PRIu64 " reason=\"no leader heard for %" PRId64
				     " ms\"", f->e.epoch + 1, now - f->e.heard_ms);
	else if (after == ELECTION_CANDIDATE)
		log_info("failover", "pre-vote won, asking for votes epoch=%" PRIu64, f->e.epoch);
	else if (after == ELECTION_FOLLOWER && (before == ELECTION_PRECANDIDATE || before == ELECTION_CANDIDATE) &&
		 f->e.leader == ELECTION_NOBODY)
		log_info("failover", "election not won, trying again epoch=%" PRIu64 " reason=\"no majority answered "
				     "in time\"", f->e.epoch);
}

static void after_event(struct failover *f, const struct election_actions *acts, enum election_role before,
			int64_t now)
{
	note_role(f, before, now);
	bool changed = carry_out(f, acts);
	if (changed && f->hooks.changed)
		f->hooks.changed(f->hooks.arg);
}

/* --------------------------------------------------------------- links */

/* Waits on o->cond up to ms (f->mu held). */
static void wait_ms(pthread_cond_t *c, pthread_mutex_t *mu, int ms)
{
	struct timespec t = sl_deadline(CLOCK_MONOTONIC, ms);
	pthread_cond_timedwait(c, mu, &t);
}

/* Whether the member closed the link or refused it (it sends nothing else). */
static bool link_closed(struct peerlink *pl, struct outlink *o)
{
	struct pollfd p = { .fd = pl->fd, .events = POLLIN };
	if (poll(&p, 1, 0) <= 0)
		return false;
	uint8_t type;
	uint64_t epoch;
	int rc = peerlink_recv(pl, &type, &epoch, 0);
	if (rc == SL_ETIMEDOUT)
		return false;
	char text[PEER_STR_MAX * 2] = "";
	if (rc == 0 && type == PEER_ERROR && peer_text_get(pl->payload.data, pl->payload.len, text) == 0)
		log_warn("failover", "member refused the link name=%s reason=\"%s\"", member_name(o->f, o->member),
			 text);
	return true;
}

static void *out_main(void *arg)
{
	struct outlink *o = arg;
	struct failover *f = o->f;
	const struct member *m = &f->members.v[o->member];
	const struct member *me = &f->members.v[f->self];
	int backoff = REDIAL_MIN_MS;
	int64_t longest = f->e.cfg.lease_ms / REDIAL_LEASE_PARTS;
	int redial_max = longest > REDIAL_MIN_MS ? (int)longest : REDIAL_MIN_MS;
	pthread_mutex_lock(&f->mu);
	while (!atomic_load(&f->stop)) {
		pthread_mutex_unlock(&f->mu);
		struct peerlink pl;
		char err[256];
		struct peerdial d = { m->addr, PEER_MEMBER_HELLO, f->cfg->cluster_id, f->cfg->cluster_secret, me->name,
				      "", DIAL_TIMEOUT_MS, SEND_TIMEOUT_MS, NULL };
		int rc = peerdial_open(&pl, &d, err, sizeof(err));
		pthread_mutex_lock(&f->mu);
		if (rc != 0 && backoff == 0) {
			backoff = REDIAL_MIN_MS; /* the first try again comes at once */
			continue;
		}
		if (rc != 0) {
			if (strcmp(err, o->last_err) != 0)
				log_debug("failover", "cannot reach member name=%s reason=\"%s\"", m->name, err);
			snprintf(o->last_err, sizeof(o->last_err), "%s", err);
			wait_ms(&f->stop_cond, &f->mu, backoff);
			backoff = backoff * 2 < redial_max ? backoff * 2 : redial_max;
			continue;
		}
		backoff = 0; /* a link that ends is made again at once, once */
		o->last_err[0] = '\0';
		o->linked = true;
		struct election_actions acts = { 0 };
		int64_t now = sl_monotonic_ms();
		enum election_role before = f->e.role;
		election_link_up(&f->e, now, o->member, &acts);
		after_event(f, &acts, before, now);
		while (!atomic_load(&f->stop)) {
			if (o->n == 0) {
				wait_ms(&o->cond, &f->mu, CLOSE_POLL_MS);
				pthread_mutex_unlock(&f->mu);
				bool closed = link_closed(&pl, o);
				pthread_mutex_lock(&f->mu);
				if (closed)
					break;
				continue;
			}
			struct peer_election q = o->q[o->head];
			o->head = (o->head + 1) % OUT_QUEUE;
			o->n--;
			pthread_mutex_unlock(&f->mu);
			struct buf b;
			buf_init(&b);
			peer_election_put(&b, &q);
			pl.epoch = q.epoch;
			rc = b.oom ? -1 : peerlink_send(&pl, PEER_ELECTION, b.data, b.len, SEND_TIMEOUT_MS);
			buf_free(&b);
			pthread_mutex_lock(&f->mu);
			if (rc != 0) {
				/* the member restarted its peer port (a change of role):
				 * the message goes again on the next link, made at once */
				if (o->n < OUT_QUEUE) {
					o->head = (o->head + OUT_QUEUE - 1) % OUT_QUEUE;
					o->q[o->head] = q;
					o->n++;
				}
				break;
			}
		}
		o->linked = false;
		pthread_mutex_unlock(&f->mu);
		peerlink_close(&pl);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---------------------------------------------------------------- ticks */

static void *tick_main(void *arg)
{
	struct failover *f = arg;
	pthread_mutex_lock(&f->mu);
	while (!atomic_load(&f->stop)) {
		pthread_mutex_unlock(&f->mu);
		uint64_t last_epoch = 0, last_lsn = 0;
		f->hooks.position(f->hooks.arg, &last_epoch, &last_lsn);
		pthread_mutex_lock(&f->mu);
		if (last_epoch || last_lsn)
			election_position(&f->e, last_epoch, last_lsn);
		struct election_actions acts = { 0 };
		int64_t now = sl_monotonic_ms();
		enum election_role before = f->e.role;
		election_tick(&f->e, now, &acts);
		after_event(f, &acts, before, now);
		wait_ms(&f->stop_cond, &f->mu, TICK_MS);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int failover_on_member(void *arg, const char *name, const struct peer_election *m)
{
	struct failover *f = arg;
	const struct member *mb = members_find(&f->members, name);
	if (!mb || (int)(mb - f->members.v) == f->self)
		return -1;
	struct election_msg msg = { .type = m->type,
				    .granted = m->granted,
				    .priority = m->priority,
				    .epoch = m->epoch,
				    .last_epoch = m->last_epoch,
				    .last_lsn = m->last_lsn,
				    .stamp = m->stamp };
	pthread_mutex_lock(&f->mu);
	struct election_actions acts = { 0 };
	int64_t now = sl_monotonic_ms();
	enum election_role before = f->e.role;
	election_receive(&f->e, now, (int)(mb - f->members.v), &msg, &acts);
	after_event(f, &acts, before, now);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

/* ------------------------------------------------------------- the node */

bool failover_wants(struct failover *f, uint64_t *epoch, char *leader_peer, size_t len)
{
	pthread_mutex_lock(&f->mu);
	bool lead = f->e.role == ELECTION_LEADER;
	*epoch = f->e.epoch;
	int leader = f->e.leader;
	snprintf(leader_peer, len, "%s", !lead && leader >= 0 ? f->members.v[leader].addr : "");
	pthread_mutex_unlock(&f->mu);
	return lead;
}

void failover_admin_lead(struct failover *f)
{
	pthread_mutex_lock(&f->mu);
	struct election_actions acts = { 0 };
	int64_t now = sl_monotonic_ms();
	enum election_role before = f->e.role;
	election_admin_lead(&f->e, now, 0, &acts);
	log_info("failover", "leading by an administrator's request epoch=%" PRIu64, f->e.epoch);
	after_event(f, &acts, before, now);
	pthread_mutex_unlock(&f->mu);
}

void failover_stepped_down(struct failover *f)
{
	pthread_mutex_lock(&f->mu);
	struct election_actions acts = { 0 };
	int64_t now = sl_monotonic_ms();
	enum election_role before = f->e.role;
	election_stepped_down(&f->e, now, &acts);
	after_event(f, &acts, before, now);
	pthread_mutex_unlock(&f->mu);
}

void failover_led(struct failover *f, uint64_t epoch)
{
	pthread_mutex_lock(&f->mu);
	if (f->e.role == ELECTION_LEADER && epoch > f->e.epoch) {
		/* the log held a newer epoch than the election knew: lead under it */
		f->e.epoch = epoch;
		f->e.voted_for = f->self;
		if (vote_store(f, epoch, f->self) != 0)
			f->broken = true;
	}
	pthread_mutex_unlock(&f->mu);
}

bool failover_first_start(const struct failover *f) { return f->first_start; }

int failover_members(struct failover *f, struct failover_member *out, int max)
{
	pthread_mutex_lock(&f->mu);
	int64_t now = sl_monotonic_ms();
	int n = f->members.n < max ? f->members.n : max;
	for (int i = 0; i < n; i++) {
		struct failover_member *m = &out[i];
		snprintf(m->name, sizeof(m->name), "%s", f->members.v[i].name);
		snprintf(m->peer_address, sizeof(m->peer_address), "%s", f->members.v[i].addr);
		m->self = i == f->self;
		m->linked = !m->self && f->out[i].linked;
		m->leading = f->e.leader == i;
		bool leading_here = f->e.role == ELECTION_LEADER;
		m->answered_age_ms = -1;
		if (leading_here && m->self)
			m->answered_age_ms = 0;
		else if (leading_here && f->e.acked[i] >= 0)
			m->answered_age_ms = now - f->e.acked[i];
		m->answering = m->answered_age_ms >= 0 && m->answered_age_ms <= f->e.cfg.lease_ms;
	}
	pthread_mutex_unlock(&f->mu);
	return n;
}

void failover_status(struct failover *f, struct failover_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->mu);
	int64_t now = sl_monotonic_ms();
	out->state = election_role_name(f->e.role);
	out->epoch = f->e.epoch;
	out->lease = f->e.role != ELECTION_LEADER ? "none" : election_has_lease(&f->e, now) ? "held" : "expired";
	out->heartbeat_age_ms = f->e.role == ELECTION_LEADER ? 0
				: f->e.last_heartbeat_ms ? now - f->e.last_heartbeat_ms : -1;
	snprintf(out->leader, sizeof(out->leader), "%s", f->e.leader >= 0 ? member_name(f, f->e.leader) : "");
	snprintf(out->voted_for, sizeof(out->voted_for), "%s",
		 f->e.voted_for >= 0 ? member_name(f, f->e.voted_for) : "");
	out->vote_epoch = f->e.voted_for >= 0 ? f->e.epoch : 0;
	out->last_election = f->e.last_election_ms == 0 && !f->e.last_election_won ? ""
			     : f->e.last_election_won ? "won" : "lost";
	out->last_election_ms = f->e.last_election_ms;
	out->voters = f->members.n;
	snprintf(out->warning, sizeof(out->warning), "%s", f->warning);
	pthread_mutex_unlock(&f->mu);
}

int failover_safety_check(const struct config *cfg, int voters, char *why, size_t whylen)
{
	struct syncrep_rule rule;
	char err[256];
	int need = voters / 2;
	if (syncrep_rule_parse(cfg->synchronous_standbys, &rule, err, sizeof(err)) != 0)
		rule.k = 0;
	const char *gap = NULL;
	char buf[256];
	if (rule.k < need) {
		snprintf(buf, sizeof(buf), "synchronous_standbys requires %d follower%s", rule.k, rule.k == 1 ? "" : "s");
		gap = buf;
	} else if (cfg->synchronous_commit < SYNC_ON) {
		gap = "synchronous_commit is below on";
	} else if (cfg->synchronous_fallback == SYNC_FALLBACK_ASYNC) {
		gap = "synchronous_fallback = async answers commits without the standbys after synchronous_timeout";
	}
	if (!gap)
		return 0;
	snprintf(why, whylen,
		 "automatic failover may lose acknowledged writes: with %d voters every COMMIT must wait for %d "
		 "follower%s to flush it (synchronous_standbys, synchronous_commit = on, synchronous_fallback = "
		 "block), but %s; at risk: commits acknowledged before enough followers flushed them",
		 voters, need, need == 1 ? "" : "s", gap);
	return -1;
}

int failover_start(struct failover **out, const struct config *cfg, struct lease *lease,
		   const struct failover_hooks *hooks, char *err, size_t errlen)
{
	*out = NULL;
	struct members members;
	if (members_parse(cfg->peers, &members, err, errlen) != 0)
		return -1;
	if (!cfg->failover || members.n < 3)
		return 0;
	const struct member *me = members_find(&members, cfg->node_name);
	if (!me) {
		snprintf(err, errlen, "automatic failover needs this node (node_name \"%s\") in peers", cfg->node_name);
		return -1;
	}
	if (!cfg->cluster_secret[0]) {
		snprintf(err, errlen, "automatic failover needs a cluster_secret");
		return -1;
	}
	struct election_config ec = {
		.nmembers = members.n,
		.self = (int)(me - members.v),
		.failover = true,
		.priority = cfg->role == ROLE_WITNESS ? 0 : (uint8_t)cfg->failover_priority,
		.heartbeat_ms = cfg->heartbeat_interval_ms,
		.lease_ms = cfg->lease_timeout_ms,
		.failover_ms = cfg->failover_timeout_ms,
		.jitter_ms = cfg->failover_timeout_ms * 3 / 10,
	};
	ec.witness[ec.self] = cfg->role == ROLE_WITNESS;
	if (election_config_check(&ec, err, errlen) != 0)
		return -1;
	struct failover *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->cfg = cfg;
	f->lease = lease;
	f->hooks = *hooks;
	f->members = members;
	f->self = ec.self;
	snprintf(f->vote_path, sizeof(f->vote_path), "%s/vote", cfg->data_dir);
	struct election_vote vote;
	if (vote_load(f, &vote, err, errlen) != 0) {
		free(f);
		return -1;
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->stop_cond, &attr);
	for (int i = 0; i < members.n; i++)
		pthread_cond_init(&f->out[i].cond, &attr);
	pthread_condattr_destroy(&attr);
	uint64_t last_epoch = 0, last_lsn = 0;
	hooks->position(hooks->arg, &last_epoch, &last_lsn);
	uint64_t seed = (uint64_t)sl_wall_us() ^ ((uint64_t)getpid() << 20);
	election_init(&f->e, &ec, &vote, last_epoch, last_lsn, sl_monotonic_ms(), seed);
	lease_set(lease, 0);
	if (cfg->role != ROLE_WITNESS && failover_safety_check(cfg, members.n, f->warning, sizeof(f->warning)) != 0)
		log_warn("failover", "%s", f->warning);
	*out = f;
	atomic_store(&f->stop, false);
	for (int i = 0; i < members.n; i++) {
		if (i == f->self)
			continue;
		f->out[i].f = f;
		f->out[i].member = i;
		if (pthread_create(&f->out[i].thread, NULL, out_main, &f->out[i]) != 0) {
			snprintf(err, errlen, "could not start a member link thread");
			return -1;
		}
		f->out[i].started = true;
	}
	if (pthread_create(&f->tick_thread, NULL, tick_main, f) != 0) {
		snprintf(err, errlen, "could not start the failover thread");
		return -1;
	}
	f->tick_started = true;
	log_info("failover", "automatic failover on voters=%d self=%s epoch=%" PRIu64 " heartbeat_ms=%" PRId64
			     " lease_ms=%" PRId64 " failover_ms=%" PRId64 "%s",
		 members.n, me->name, f->e.epoch, ec.heartbeat_ms, ec.lease_ms, ec.failover_ms,
		 ec.witness[ec.self] ? " witness=on" : "");
	return 0;
}

void failover_stop(struct failover *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	atomic_store(&f->stop, true);
	pthread_cond_broadcast(&f->stop_cond);
	for (int i = 0; i < f->members.n; i++)
		pthread_cond_broadcast(&f->out[i].cond);
	pthread_mutex_unlock(&f->mu);
	if (f->tick_started)
		pthread_join(f->tick_thread, NULL);
	for (int i = 0; i < f->members.n; i++)
		if (f->out[i].started)
			pthread_join(f->out[i].thread, NULL);
	lease_set(f->lease, 0);
	for (int i = 0; i < f->members.n; i++)
		pthread_cond_destroy(&f->out[i].cond);
	pthread_cond_destroy(&f->stop_cond);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
