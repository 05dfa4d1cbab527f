/*
 * election.c — the election, lease and fencing core (see election.h).
 *
 * Why the lease is safe: a leader's lease runs lease_ms from the newest
 * heartbeat a majority answered; each of those members heard it no
 * earlier than it was sent, and votes only failover_ms after the last
 * leader message it heard (or after it restarted). Any majority that
 * elects a new leader holds one of them, so no new leader exists before
 * the old lease has run out, as long as failover_ms on the slowest clock
 * outlasts lease_ms on the fastest (election_config_check keeps a margin).
 * A member that adopted a newer epoch never answers the old leader's
 * heartbeats again.
 */
#include "election.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sl_assert.h"
#include "state_table.h"

/* failover_ms must outlast lease_ms by this factor: clocks may run a few
 * per cent apart, and a lease must be over before anyone votes. */
#define LEASE_MARGIN_NUM 3
#define LEASE_MARGIN_DEN 2

static const char *const role_names[ELECTION_ROLE_COUNT] = {
	[ELECTION_FOLLOWER] = "follower",
	[ELECTION_PRECANDIDATE] = "precandidate",
	[ELECTION_CANDIDATE] = "candidate",
	[ELECTION_LEADER] = "leader",
};

/* role_moves[from][to]: an admin request makes any member lead; a newer
 * epoch, a lost round or a lost lease makes it a follower. */
static const bool role_moves[ELECTION_ROLE_COUNT][ELECTION_ROLE_COUNT] = {
	[ELECTION_FOLLOWER] = { [ELECTION_FOLLOWER] = true, [ELECTION_PRECANDIDATE] = true, [ELECTION_LEADER] = true },
	[ELECTION_PRECANDIDATE] = { [ELECTION_FOLLOWER] = true, [ELECTION_CANDIDATE] = true, [ELECTION_LEADER] = true },
	[ELECTION_CANDIDATE] = { [ELECTION_FOLLOWER] = true, [ELECTION_LEADER] = true },
	[ELECTION_LEADER] = { [ELECTION_FOLLOWER] = true, [ELECTION_LEADER] = true },
};

static const struct state_table table = { ELECTION_ROLE_COUNT, role_names, &role_moves[0][0] };

const char *election_role_name(enum election_role role) { return state_table_name(&table, (int)role); }

bool election_role_can_move(enum election_role from, enum election_role to)
{
	return state_table_can_move(&table, (int)from, (int)to);
}

const char *election_msg_name(uint8_t type)
{
	static const char *const names[] = { "?", "HEARTBEAT", "HEARTBEAT_ACK", "PREVOTE_REQ",
					     "PREVOTE", "VOTE_REQ", "VOTE" };
	return type <= ELECTION_MSG_LAST ? names[type] : "?";
}

int election_config_check(const struct election_config *cfg, char *err, size_t errlen)
{
	if (cfg->nmembers < 1 || cfg->nmembers > ELECTION_MAX_MEMBERS || cfg->self < 0 ||
	    cfg->self >= cfg->nmembers) {
		snprintf(err, errlen, "a cluster has 1 to %d members", ELECTION_MAX_MEMBERS);
		return -1;
	}
	if (cfg->heartbeat_ms <= 0 || cfg->lease_ms <= cfg->heartbeat_ms) {
		snprintf(err, errlen, "lease_timeout (%" PRId64 " ms) must be longer than heartbeat_interval (%" PRId64
			 " ms)", cfg->lease_ms, cfg->heartbeat_ms);
		return -1;
	}
	if (cfg->failover_ms * LEASE_MARGIN_DEN < cfg->lease_ms * LEASE_MARGIN_NUM) {
		snprintf(err, errlen,
			 "failover_timeout (%" PRId64 " ms) must be at least 1.5 times lease_timeout (%" PRId64
			 " ms), or a new leader could be elected while the old one still holds its lease",
			 cfg->failover_ms, cfg->lease_ms);
		return -1;
	}
	if (cfg->jitter_ms < 0) {
		snprintf(err, errlen, "the election jitter cannot be negative");
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- helpers */

static void emit(struct election_actions *out, struct election_action a)
{
	SL_ASSERT(out->n < ELECTION_MAX_ACTIONS);
	out->v[out->n++] = a;
}

static void send_to(struct election_actions *out, int to, struct election_msg m)
{
	emit(out, (struct election_action){ .kind = ELECTION_SEND, .to = to, .msg = m });
}

static void send_all(struct election *e, struct election_actions *out, struct election_msg m)
{
	for (int i = 0; i < e->cfg.nmembers; i++)
		if (i != e->cfg.self)
			send_to(out, i, m);
}

static void persist(struct election *e, struct election_actions *out)
{
	emit(out, (struct election_action){ .kind = ELECTION_PERSIST, .to = e->voted_for, .epoch = e->epoch });
}

static void move_role(struct election *e, enum election_role to)
{
	SL_ASSERT(election_role_can_move(e->role, to));
	e->role = to;
}

static uint64_t next_random(struct election *e)
{
	uint64_t x = e->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	e->rng = x;
	return x;
}

/* The election timer starts again: failover_ms plus jitter from now. */
static void reset_timer(struct election *e, int64_t now)
{
	int64_t jitter = e->cfg.jitter_ms > 0 ? (int64_t)(next_random(e) % (uint64_t)e->cfg.jitter_ms) : 0;
	e->deadline_ms = now + e->cfg.failover_ms + jitter;
}

/* Whether this member may stand: failover on, a priority, a data node
 * with data (one that has not bootstrapped holds nothing to lead with). */
static bool can_lead(const struct election *e)
{
	return e->cfg.failover && e->cfg.priority > 0 && !e->cfg.witness[e->cfg.self] && e->cfg.nmembers > 1 &&
	       (e->last_epoch > 0 || e->last_lsn > 0);
}

int election_majority(const struct election *e) { return e->cfg.nmembers / 2 + 1; }

/* Whether this member has lost the leader too, so that it may vote. */
static bool lost_leader(const struct election *e, int64_t now)
{
	return e->role != ELECTION_LEADER && now - e->heard_ms >= e->cfg.failover_ms;
}

static int cmp_position(uint64_t ae, uint64_t al, uint64_t be, uint64_t bl)
{
	if (ae != be)
		return ae < be ? -1 : 1;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

/* Whether a candidate's request deserves this member's (pre-)vote, apart
 * from the epoch: it is at least as up to date, and a tie goes to the
 * higher failover priority. */
static bool candidate_fit(const struct election *e, const struct election_msg *m)
{
	int c = cmp_position(m->last_epoch, m->last_lsn, e->last_epoch, e->last_lsn);
	if (c < 0)
		return false;
	if (c == 0 && can_lead(e) && m->priority < e->cfg.priority)
		return false;
	return true;
}

static int count_granted(const struct election *e)
{
	int n = 0;
	for (int i = 0; i < e->cfg.nmembers; i++)
		n += e->granted[i];
	return n;
}

/* led_epoch: the epoch a leader stops leading (its own, or older than
 * the one it just adopted). */
static void become_follower(struct election *e, int64_t now, uint64_t led_epoch, struct election_actions *out)
{
	if (e->role == ELECTION_LEADER)
		emit(out, (struct election_action){ .kind = ELECTION_STEP_DOWN, .epoch = led_epoch });
	move_role(e, ELECTION_FOLLOWER);
	e->fenced = false;
	e->lease_lost_ms = 0;
	reset_timer(e, now);
}

/* A message from a newer epoch: this member adopts it (and a leader or a
 * candidate of an older one becomes a follower). */
static void adopt_epoch(struct election *e, int64_t now, uint64_t epoch, struct election_actions *out)
{
	SL_ASSERT(epoch > e->epoch);
	uint64_t led = e->epoch;
	e->epoch = epoch;
	e->voted_for = ELECTION_NOBODY;
	e->leader = ELECTION_NOBODY;
	persist(e, out);
	become_follower(e, now, led, out);
}

static struct election_msg answer(const struct election *e, uint8_t type, bool granted, uint64_t stamp)
{
	return (struct election_msg){ .type = type,
				      .granted = granted,
				      .epoch = e->epoch,
				      .last_epoch = e->last_epoch,
				      .last_lsn = e->last_lsn,
				      .stamp = stamp };
}

static struct election_msg request(const struct election *e, uint8_t type, uint64_t epoch, int64_t now)
{
	return (struct election_msg){ .type = type,
				      .priority = e->cfg.priority,
				      .epoch = epoch,
				      .last_epoch = e->last_epoch,
				      .last_lsn = e->last_lsn,
				      .stamp = (uint64_t)now };
}

/* ------------------------------------------------------------ the lease */

int64_t election_lease_until(const struct election *e)
{
	if (e->role != ELECTION_LEADER)
		return 0;
	if (!e->cfg.failover)
		return INT64_MAX; /* no automatic failover: nobody else can be elected */
	/* the (majority - 1)-th newest stamp the others answered; itself counts too */
	int64_t top[ELECTION_MAX_MEMBERS];
	int n = 0;
	for (int i = 0; i < e->cfg.nmembers; i++) {
		if (i == e->cfg.self)
			continue;
		int64_t v = e->acked[i];
		int j = n++;
		while (j > 0 && top[j - 1] < v) {
			top[j] = top[j - 1];
			j--;
		}
		top[j] = v;
	}
	int need = election_majority(e) - 1;
	if (need == 0)
		return INT64_MAX;
	int64_t stamp = top[need - 1];
	return stamp < 0 ? 0 : stamp + e->cfg.lease_ms;
}

bool election_has_lease(const struct election *e, int64_t now) { return now < election_lease_until(e); }

static void heartbeat_all(struct election *e, int64_t now, struct election_actions *out)
{
	send_all(e, out, request(e, ELECTION_HEARTBEAT, e->epoch, now));
	e->next_beat_ms = now + e->cfg.heartbeat_ms;
}

/* The leader's lease: fence when it runs out, unfence when it is back,
 * step down when it has been gone for failover_ms. */
static void check_lease(struct election *e, int64_t now, struct election_actions *out)
{
	if (election_has_lease(e, now)) {
		if (e->fenced)
			emit(out, (struct election_action){ .kind = ELECTION_UNFENCE, .epoch = e->epoch });
		e->fenced = false;
		e->lease_lost_ms = 0;
		return;
	}
	if (!e->fenced) {
		e->fenced = true;
		e->lease_lost_ms = now;
		emit(out, (struct election_action){ .kind = ELECTION_FENCE, .epoch = e->epoch });
	} else if (now - e->lease_lost_ms >= e->cfg.failover_ms) {
		e->leader = ELECTION_NOBODY;
		e->heard_ms = now;
		become_follower(e, now, e->epoch, out);
	}
}

static void become_leader(struct election *e, int64_t now, struct election_actions *out)
{
	move_role(e, ELECTION_LEADER);
	e->leader = e->cfg.self;
	e->fenced = false;
	e->lease_lost_ms = 0;
	memset(e->match, 0, sizeof(e->match));
	e->last_election_won = true;
	e->last_election_ms = e->election_started_ms ? now - e->election_started_ms : 0;
	e->election_started_ms = 0;
	emit(out, (struct election_action){ .kind = ELECTION_LEAD, .epoch = e->epoch });
	heartbeat_all(e, now, out);
}

/* ---------------------------------------------------------- elections */

static void start_round(struct election *e, int64_t now, enum election_role role)
{
	move_role(e, role);
	e->round_ms = now;
	memset(e->granted, 0, sizeof(e->granted));
	e->granted[e->cfg.self] = true;
}

static void start_prevote(struct election *e, int64_t now, struct election_actions *out)
{
	if (!e->election_started_ms)
		e->election_started_ms = now;
	start_round(e, now, ELECTION_PRECANDIDATE);
	e->leader = ELECTION_NOBODY;
	send_all(e, out, request(e, ELECTION_PREVOTE_REQ, e->epoch + 1, now));
}

static void start_vote(struct election *e, int64_t now, struct election_actions *out)
{
	start_round(e, now, ELECTION_CANDIDATE);
	e->epoch++;
	e->voted_for = e->cfg.self;
	persist(e, out);
	if (count_granted(e) >= election_majority(e)) {
		become_leader(e, now, out);
		return;
	}
	send_all(e, out, request(e, ELECTION_VOTE_REQ, e->epoch, now));
}

static void lose_round(struct election *e, int64_t now, struct election_actions *out)
{
	e->last_election_won = false;
	e->last_election_ms = now - e->election_started_ms;
	become_follower(e, now, e->epoch, out);
	/* try again after a jitter only: the leader is still missing */
	int64_t jitter = e->cfg.jitter_ms > 0 ? (int64_t)(next_random(e) % (uint64_t)e->cfg.jitter_ms) : 0;
	e->deadline_ms = now + e->cfg.heartbeat_ms + jitter;
}

/* -------------------------------------------------------------- events */

void election_init(struct election *e, const struct election_config *cfg, const struct election_vote *vote,
		   uint64_t last_epoch, uint64_t last_lsn, int64_t now_ms, uint64_t seed)
{
	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	e->role = ELECTION_FOLLOWER;
	e->epoch = vote->epoch > last_epoch ? vote->epoch : last_epoch;
	e->voted_for = vote->epoch == e->epoch ? vote->voted_for : ELECTION_NOBODY;
	e->leader = ELECTION_NOBODY;
	e->last_epoch = last_epoch;
	e->last_lsn = last_lsn;
	e->heard_ms = now_ms; /* a member that starts votes only failover_ms later */
	e->rng = seed * 2654435761u + 0x9E3779B97F4A7C15ull;
	if (!e->rng)
		e->rng = 1;
	for (int i = 0; i < ELECTION_MAX_MEMBERS; i++)
		e->acked[i] = -1;
	reset_timer(e, now_ms);
}

void election_tick(struct election *e, int64_t now, struct election_actions *out)
{
	switch (e->role) {
	case ELECTION_LEADER:
		if (now >= e->next_beat_ms)
			heartbeat_all(e, now, out);
		check_lease(e, now, out);
		break;
	case ELECTION_FOLLOWER:
		if (can_lead(e) && now >= e->deadline_ms)
			start_prevote(e, now, out);
		break;
	case ELECTION_PRECANDIDATE:
	case ELECTION_CANDIDATE:
		if (now - e->round_ms >= e->cfg.failover_ms)
			lose_round(e, now, out);
		break;
	case ELECTION_ROLE_COUNT:
		SL_ASSERT(false);
	}
}

static void on_heartbeat(struct election *e, int64_t now, int from, const struct election_msg *m,
			 struct election_actions *out)
{
	if (m->epoch < e->epoch || (m->epoch == e->epoch && e->role == ELECTION_LEADER)) {
		send_to(out, from, answer(e, ELECTION_HEARTBEAT_ACK, false, m->stamp));
		return;
	}
	if (m->epoch > e->epoch)
		adopt_epoch(e, now, m->epoch, out);
	else if (e->role != ELECTION_FOLLOWER)
		become_follower(e, now, e->epoch, out);
	e->election_started_ms = 0;
	e->heard_ms = now;
	e->last_heartbeat_ms = now;
	reset_timer(e, now);
	if (e->leader != from) {
		e->leader = from;
		emit(out, (struct election_action){ .kind = ELECTION_FOLLOW, .to = from, .epoch = e->epoch });
	}
	send_to(out, from, answer(e, ELECTION_HEARTBEAT_ACK, true, m->stamp));
}

static void on_heartbeat_ack(struct election *e, int64_t now, int from, const struct election_msg *m,
			     struct election_actions *out)
{
	if (e->role != ELECTION_LEADER || m->epoch != e->epoch || !m->granted)
		return;
	int64_t stamp = (int64_t)m->stamp;
	if (stamp > now) /* a stamp this leader never sent */
		return;
	if (stamp > e->acked[from])
		e->acked[from] = stamp;
	if (m->last_epoch == e->epoch)
		e->match[from] = m->last_lsn;
	check_lease(e, now, out);
}

static void on_prevote_req(struct election *e, int64_t now, int from, const struct election_msg *m,
			   struct election_actions *out)
{
	bool grant = m->epoch > e->epoch && lost_leader(e, now) && candidate_fit(e, m);
	send_to(out, from, answer(e, ELECTION_PREVOTE, grant, m->stamp));
}

static void on_vote_req(struct election *e, int64_t now, int from, const struct election_msg *m,
			struct election_actions *out)
{
	if (m->epoch < e->epoch || !lost_leader(e, now)) {
		send_to(out, from, answer(e, ELECTION_VOTE, false, m->stamp));
		return;
	}
	if (m->epoch > e->epoch)
		adopt_epoch(e, now, m->epoch, out);
	bool grant = (e->voted_for == ELECTION_NOBODY || e->voted_for == from) && candidate_fit(e, m);
	if (grant && e->voted_for != from) {
		e->voted_for = from;
		e->heard_ms = now; /* as if it heard a leader: it votes for no one else soon */
		reset_timer(e, now);
		persist(e, out);
	}
	send_to(out, from, answer(e, ELECTION_VOTE, grant, m->stamp));
}

static void on_vote(struct election *e, int64_t now, int from, const struct election_msg *m,
		    enum election_role round, struct election_actions *out)
{
	if (e->role != round || m->stamp != (uint64_t)e->round_ms || !m->granted)
		return;
	if (round == ELECTION_CANDIDATE && m->epoch != e->epoch)
		return;
	e->granted[from] = true;
	if (count_granted(e) < election_majority(e))
		return;
	if (round == ELECTION_PRECANDIDATE) {
		start_vote(e, now, out);
		return;
	}
	/* the voters answered this round: the lease starts from its stamp */
	for (int i = 0; i < e->cfg.nmembers; i++)
		e->acked[i] = e->granted[i] ? e->round_ms : -1;
	become_leader(e, now, out);
}

void election_receive(struct election *e, int64_t now, int from, const struct election_msg *m,
		      struct election_actions *out)
{
	if (from < 0 || from >= e->cfg.nmembers || from == e->cfg.self)
		return;
	/* a newer epoch is adopted at once, except from a request: a
	 * (pre-)vote request only proposes one, and a member that still has
	 * its leader must not be disturbed by it */
	bool request = m->type == ELECTION_PREVOTE_REQ || m->type == ELECTION_VOTE_REQ;
	if (!request && m->type != ELECTION_HEARTBEAT && m->epoch > e->epoch)
		adopt_epoch(e, now, m->epoch, out);
	switch (m->type) {
	case ELECTION_HEARTBEAT:
		on_heartbeat(e, now, from, m, out);
		break;
	case ELECTION_HEARTBEAT_ACK:
		on_heartbeat_ack(e, now, from, m, out);
		break;
	case ELECTION_PREVOTE_REQ:
		on_prevote_req(e, now, from, m, out);
		break;
	case ELECTION_PREVOTE:
		on_vote(e, now, from, m, ELECTION_PRECANDIDATE, out);
		break;
	case ELECTION_VOTE_REQ:
		on_vote_req(e, now, from, m, out);
		break;
	case ELECTION_VOTE:
		on_vote(e, now, from, m, ELECTION_CANDIDATE, out);
		break;
	default:
		break;
	}
}

void election_link_up(struct election *e, int64_t now, int to, struct election_actions *out)
{
	if (e->role == ELECTION_LEADER && to >= 0 && to < e->cfg.nmembers && to != e->cfg.self)
		send_to(out, to, request(e, ELECTION_HEARTBEAT, e->epoch, now));
}

void election_position(struct election *e, uint64_t last_epoch, uint64_t last_lsn)
{
	e->last_epoch = last_epoch;
	e->last_lsn = last_lsn;
	if (last_epoch > e->epoch) /* its own log cannot be ahead of its epoch */
		e->epoch = last_epoch;
}

void election_admin_lead(struct election *e, int64_t now, uint64_t min_epoch, struct election_actions *out)
{
	if (e->role == ELECTION_LEADER)
		return;
	uint64_t base = e->epoch > min_epoch ? e->epoch : min_epoch;
	e->epoch = (base > e->last_epoch ? base : e->last_epoch) + 1;
	e->voted_for = e->cfg.self;
	persist(e, out);
	/* the administrator vouches that the old leader is gone or fenced:
	 * the lease starts as if everyone had answered now */
	for (int i = 0; i < e->cfg.nmembers; i++)
		e->acked[i] = now;
	e->election_started_ms = 0;
	become_leader(e, now, out);
}

void election_stepped_down(struct election *e, int64_t now, struct election_actions *out)
{
	(void)out;
	if (e->role != ELECTION_LEADER)
		return;
	move_role(e, ELECTION_FOLLOWER);
	e->leader = ELECTION_NOBODY;
	e->fenced = false;
	e->heard_ms = now;
	reset_timer(e, now);
}
