/*
 * peers.c — the peer port and the leader's sender threads (see peers.h;
 * the conversation is specified in docs/PROTOCOL.md).
 *
 * A link: HELLO / CHALLENGE / AUTH (peeraccept.h), WELCOME, then the
 * follower asks either for a snapshot (SNAPSHOT_REQ: SNAP_BEGIN, SNAP_DATA
 * pieces, SNAP_END, then the stream from the snapshot's LSN) or to go on
 * from its position (FOLLOW: checked against the epoch history; a
 * position this leader cannot serve gets REBOOTSTRAP). Streaming sends
 * RECORDS frames of whole records read from the log, HEARTBEAT when idle,
 * and reads the follower's ACKs, which also set the log retention kept
 * for it (by its node name, so it survives a reconnect).
 */
#include "peers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>


#include "epochs.h"
#include "log.h"
#include "lsn.h"
#include "netaddr.h"
#include "peeraccept.h"
#include "peerlink.h"
#include "record.h"
#include "sl_assert.h"
#include "sl_error.h"
#include "sl_time.h"
#include "snapshot.h"
#include "syncrep.h"

#define MAX_FOLLOWERS 64
#define MAX_LINKS (2 * MAX_FOLLOWERS) /* authenticated peer connections at once */
#define MAX_PENDING_LINKS 16         /* connections still in the handshake; the oldest makes room */
#define HANDSHAKE_TIMEOUT_MS 3000    /* for HELLO, then for AUTH */
#define BATCH_BYTES (8u << 20)      /* records per RECORDS frame, about (one fsync each on the follower) */
#define SNAP_PIECE (256u << 10)     /* bytes of database per SNAP_DATA, at most */
#define HEARTBEAT_MS 1000 /* a heartbeat at least this often */
#define BEAT_MIN_MS 100   /* and when caught up, at most this often */
#define ACK_POLL_MS 200
#define GATHER_WAIT_MS 100
#define LAG_RING 4096
#define MAX_MEMBER_LINKS 16 /* members' election links at once */

/* A follower by name: what it acknowledged, and which link serves it. */
struct follower {
	bool used;
	struct follower_info info;
	uint64_t link_gen; /* the link that owns it now */
	int fd;            /* that link's socket, -1 when none */
	bool caught_up;
	int64_t disconnected_ms; /* monotonic, when its last link ended */
	uint64_t handover_end; /* send PROMOTE at this LSN (0: no handover) */
	bool handover_sent;
	uint64_t last_lag_us;  /* commit to replay acknowledgement, last measured */
	int64_t last_lag_at;   /* when (monotonic ms) */
	/* (end LSN, when it was durable here) of batches sent, for lag in time */
	struct {
		uint64_t end, ts;
	} ring[LAG_RING];
	unsigned head, count;
};

struct link {
	struct peers *p;
	pthread_t thread;
	int fd;
	uint64_t gen;
	char addr[80];
	atomic_bool done;
	atomic_bool authenticated; /* past the handshake: out of the pending budget */
	struct link *next;
};

struct peers {
	const struct config *cfg;
	struct commitlog *cl;
	struct replog *log;
	struct syncrep *sr; /* what the followers acknowledged, for COMMITs */
	char db_path[CONFIG_STR_MAX + 32];
	char client_addr[PEER_STR_MAX];
	char node_name[PEER_STR_MAX];
	int listen_fd;
	int wake[2];
	pthread_t accept_thread;
	bool accept_started;
	atomic_bool stop;
	pthread_mutex_t mu; /* links, followers */
	struct link *links;
	uint64_t next_gen;
	struct follower followers[MAX_FOLLOWERS];
	/* on a follower (cl NULL): where its leader is, told to those who dial */
	void (*leader_of)(void *arg, char *out, size_t outlen);
	void *leader_of_arg;
	/* a follower asked for the leadership (SWITCHOVER) */
	void (*on_switchover)(void *arg, const char *name, const char *peer_addr);
	void *switchover_arg;
	/* a member's election message (failover.h) */
	int (*on_member)(void *arg, const char *name, const struct peer_election *m);
	void *member_arg;
	int member_fd[MAX_MEMBER_LINKS]; /* each member's link here (-1: none) */
	char member_name[MAX_MEMBER_LINKS][PEER_STR_MAX];
};

/* ---------------------------------------------------------- the registry */

/* p->mu held: the follower's state moves, checked against
 * follower_state.c's table. */
static void follower_move(struct follower *f, enum follower_state to)
{
	enum follower_state from = f->info.state;
	SL_ASSERT(follower_state_can_move(from, to));
	f->info.state = to;
	if (from != to)
		log_debug("peers", "follower state changed name=%s from=%s to=%s", f->info.name,
			  follower_state_name(from), follower_state_name(to));
}

/* p->mu held: tells synchronous commit what the follower has now. */
static void follower_report(struct peers *p, const struct follower *f)
{
	bool streaming = f->fd >= 0 && f->caught_up;
	syncrep_update(p->sr, f->info.name, streaming, f->info.write_lsn, f->info.flush_lsn, f->info.replay_lsn);
}

static struct follower *follower_claim(struct peers *p, const struct peer_hello *h, struct link *ln)
{
	pthread_mutex_lock(&p->mu);
	struct follower *f = NULL, *free_slot = NULL;
	for (int i = 0; i < MAX_FOLLOWERS; i++) {
		if (p->followers[i].used && strcmp(p->followers[i].info.name, h->node_name) == 0)
			f = &p->followers[i];
		else if (!p->followers[i].used && !free_slot)
			free_slot = &p->followers[i];
	}
	if (!f && free_slot) {
		f = free_slot;
		memset(f, 0, sizeof(*f));
		f->used = true;
		f->fd = -1;
		f->info.state = FOLLOWER_STARTUP; /* the state a new follower starts in */
		snprintf(f->info.name, sizeof(f->info.name), "%s", h->node_name);
	}
	if (f) {
		if (f->fd >= 0) { /* a newer link of the same follower wins */
			log_warn("peers", "follower reconnected, closing its older link name=%s", h->node_name);
			shutdown(f->fd, SHUT_RDWR);
		}
		f->link_gen = ln->gen;
		f->fd = ln->fd;
		f->caught_up = false;
		f->head = f->count = 0;
		f->last_lag_at = 0;
		follower_move(f, FOLLOWER_STARTUP);
		snprintf(f->info.address, sizeof(f->info.address), "%s", h->client_addr);
		follower_report(p, f);
	}
	pthread_mutex_unlock(&p->mu);
	return f;
}

static void follower_release(struct peers *p, struct follower *f, struct link *ln)
{
	pthread_mutex_lock(&p->mu);
	if (f->link_gen == ln->gen) {
		f->fd = -1;
		f->disconnected_ms = sl_monotonic_ms();
		follower_move(f, FOLLOWER_DISCONNECTED);
		follower_report(p, f);
	}
	pthread_mutex_unlock(&p->mu);
}

/* Records up to sent went out; they were durable here at durable_us. */
static void follower_sent(struct peers *p, struct follower *f, uint64_t sent, uint64_t durable_us)
{
	pthread_mutex_lock(&p->mu);
	f->info.sent_lsn = sent;
	unsigned at = (f->head + f->count) % LAG_RING;
	if (f->count == LAG_RING)
		f->head = (f->head + 1) % LAG_RING;
	else
		f->count++;
	f->ring[at].end = sent;
	f->ring[at].ts = durable_us;
	pthread_mutex_unlock(&p->mu);
}

static void follower_acked(struct peers *p, struct follower *f, const struct peer_ack *a)
{
	pthread_mutex_lock(&p->mu);
	f->info.write_lsn = a->write_lsn;
	f->info.flush_lsn = a->flush_lsn;
	f->info.replay_lsn = a->apply_lsn;
	uint64_t newest = 0;
	while (f->count > 0 && f->ring[f->head].end <= a->apply_lsn) {
		newest = f->ring[f->head].ts;
		f->head = (f->head + 1) % LAG_RING;
		f->count--;
	}
	uint64_t now = sl_wall_us();
	if (newest) {
		f->last_lag_us = now > newest ? now - newest : 0;
		f->last_lag_at = sl_monotonic_ms();
	}
	follower_report(p, f);
	pthread_mutex_unlock(&p->mu);
	/* the follower keeps what it flushed: the leader need not any more */
	replog_retain(p->log, f->info.name, a->flush_lsn);
}

int peers_followers(struct peers *p, struct follower_info *out, int max)
{
	if (!p->cl)
		return 0;
	int n = 0;
	uint64_t end = replog_durable_lsn(p->log);
	uint64_t now = sl_wall_us();
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < MAX_FOLLOWERS && n < max; i++) {
		struct follower *f = &p->followers[i];
		if (!f->used)
			continue;
		out[n] = f->info;
		out[n].lag_bytes = end > f->info.replay_lsn ? (int64_t)(end - f->info.replay_lsn) : 0;
		out[n].lag_ms = 0;
		if (sl_monotonic_ms() - f->last_lag_at < 1000)
			out[n].lag_ms = (double)f->last_lag_us / 1000.0;
		if (f->count > 0 && out[n].lag_bytes > 0 && now > f->ring[f->head].ts &&
		    (double)(now - f->ring[f->head].ts) / 1000.0 > out[n].lag_ms)
			out[n].lag_ms = (double)(now - f->ring[f->head].ts) / 1000.0;
		out[n].sync_state = syncrep_state(p->sr, f->info.name);
		/* retention keeps the log from its flushed position on */
		out[n].retained_bytes = end > f->info.flush_lsn ? (int64_t)(end - f->info.flush_lsn) : 0;
		n++;
	}
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* ------------------------------------------------------------- the link */

/* HELLO, CHALLENGE, AUTH, WELCOME. 0 or -1 (logged). */
static int handshake(struct peers *p, struct peerlink *pl, struct peer_hello *h, bool *member)
{
	int tmo = (int)p->cfg->replication_timeout_ms;
	if (tmo > HANDSHAKE_TIMEOUT_MS)
		tmo = HANDSHAKE_TIMEOUT_MS; /* a stranger holds a pending slot this long at most */
	char err[512];
	if (peerlink_tls_accept(pl, tmo, err, sizeof(err)) != 0) {
		log_warn("peers", "peer link refused peer=%s reason=\"%s\"", pl->peer, err);
		return -1;
	}
	struct peeraccept a = { p->cfg->cluster_id, p->cfg->cluster_secret, tmo, NULL };
	if (peeraccept_auth(pl, &a, h, member) != 0)
		return -1;
	if (*member) /* election messages follow (member_link) */
		return 0;
	if (!p->cl) { /* not the leader: say which node is */
		char leader[PEER_STR_MAX] = "";
		pthread_mutex_lock(&p->mu);
		void (*leader_of)(void *, char *, size_t) = p->leader_of;
		void *arg = p->leader_of_arg;
		pthread_mutex_unlock(&p->mu);
		if (leader_of)
			leader_of(arg, leader, sizeof(leader));
		peerlink_send_text(pl, PEER_NOT_LEADER, leader, tmo);
		return -1;
	}
	const struct epochs *hist = commitlog_history(p->cl);
	struct peer_welcome w = { .log_mode = (uint8_t)commitlog_mode(p->cl) };
	snprintf(w.node_name, sizeof(w.node_name), "%s", p->node_name);
	snprintf(w.client_addr, sizeof(w.client_addr), "%s", p->client_addr);
	size_t n = hist->n > PEER_MAX_EPOCHS ? PEER_MAX_EPOCHS : hist->n;
	size_t from = hist->n - n; /* the newest, if ever there are more */
	w.epochs = calloc(n ? n : 1, sizeof(*w.epochs));
	if (!w.epochs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		w.epochs[i].epoch = hist->v[from + i].epoch;
		w.epochs[i].start_lsn = hist->v[from + i].start_lsn;
		snprintf(w.epochs[i].leader, sizeof(w.epochs[i].leader), "%s", hist->v[from + i].leader);
	}
	w.nepochs = (uint32_t)n;
	struct buf b;
	buf_init(&b);
	peer_welcome_put(&b, &w);
	free(w.epochs);
	int rc = b.oom ? SL_ENOMEM : peerlink_send(pl, PEER_WELCOME, b.data, b.len, tmo);
	buf_free(&b);
	return rc == 0 ? 0 : -1;
}

/* A snapshot on its way to one follower. */
struct snap_out {
	struct peerlink *pl;
	struct buf msg;
	uLong crc; /* of the pieces in the order sent */
	int tmo;
};

static int send_piece(void *arg, uint64_t offset, const uint8_t *data, size_t len)
{
	struct snap_out *o = arg;
	buf_reset(&o->msg);
	peer_snap_data_put(&o->msg, offset, data, (uint32_t)len);
	o->crc = crc32(o->crc, data, (uInt)len);
	return o->msg.oom ? SL_ENOMEM : peerlink_send(o->pl, PEER_SNAP_DATA, o->msg.data, o->msg.len, o->tmo);
}

/*
 * Sends a snapshot, streamed from one read transaction (each follower its
 * own, at the same time if need be); *from gets its LSN. 0 or -1 (logged).
 */
static int send_snapshot(struct peers *p, struct peerlink *pl, struct follower *f, uint64_t *from)
{
	int tmo = (int)p->cfg->replication_timeout_ms;
	char err[512];
	/* keep the log from here on for this follower: the snapshot's LSN is
	 * at least this (a commit in flight is waited for) */
	replog_retain(p->log, f->info.name, replog_end_lsn(p->log));
	struct snapshot snap;
	int64_t t0 = sl_monotonic_ms();
	if (snapshot_begin(p->cl, p->db_path, &snap, err, sizeof(err)) != 0) {
		snapshot_end(&snap);
		log_error("peers", "%s", err);
		peerlink_send_text(pl, PEER_ERROR, "the leader could not take a snapshot", tmo);
		return -1;
	}
	char at[LSN_TEXT_MAX];
	log_info("peers", "sending a snapshot name=%s lsn=%s bytes=%" PRIu64, f->info.name, lsn_format(snap.lsn, at),
		 snap.size);
	replog_retain(p->log, f->info.name, snap.lsn);
	struct snap_out o = { pl, { 0 }, crc32(0L, Z_NULL, 0), tmo };
	buf_init(&o.msg);
	struct peer_snap_begin sb = { snap.lsn, snap.size, snap.page_size };
	peer_snap_begin_put(&o.msg, &sb);
	int rc = o.msg.oom ? SL_ENOMEM : peerlink_send(pl, PEER_SNAP_BEGIN, o.msg.data, o.msg.len, tmo);
	if (rc == 0) {
		rc = snapshot_stream(&snap, SNAP_PIECE, send_piece, &o, &p->stop, err, sizeof(err));
		if (rc != 0)
			log_warn("peers", "%s", err);
	}
	if (rc == 0) {
		buf_reset(&o.msg);
		peer_u64_put(&o.msg, (uint64_t)o.crc);
		rc = peerlink_send(pl, PEER_SNAP_END, o.msg.data, o.msg.len, tmo);
	}
	buf_free(&o.msg);
	*from = snap.lsn;
	snapshot_end(&snap);
	if (rc != 0) {
		log_warn("peers", "snapshot transfer cut name=%s reason=\"%s\"", f->info.name, sl_strerror(rc));
		return -1;
	}
	int64_t ms = sl_monotonic_ms() - t0;
	log_info("peers", "snapshot sent name=%s bytes=%" PRIu64 " ms=%" PRId64, f->info.name, snap.size, ms);
	return 0;
}

/*
 * Where a following node may go on from; -1 if nowhere: a log that leaves
 * this leader's history is told where (TRUNCATE: it keeps its records past
 * there aside and cuts its log back), one that is ahead of it is refused
 * (this node is not the leader it thinks it is), and one older than the
 * log kept here must bootstrap again (REBOOTSTRAP).
 */
static int check_position(struct peers *p, struct peerlink *pl, const struct follower *f,
			  const struct peer_follow *fw, uint64_t *from)
{
	int tmo = (int)p->cfg->replication_timeout_ms;
	uint64_t end = replog_end_lsn(p->log), start = replog_start_lsn(p->log), at;
	char why[256], a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	enum epochs_verdict v = epochs_check(commitlog_history(p->cl), end, fw->epoch, fw->end_lsn, &at);
	if (v == EPOCHS_DIVERGED) {
		log_warn("peers", "follower log leaves this leader's history name=%s at=%s its_end=%s", f->info.name,
			 lsn_format(at, a), lsn_format(fw->end_lsn, b));
		uint8_t body[8];
		struct buf msg = { body, 0, sizeof(body), false };
		peer_u64_put(&msg, at);
		peerlink_send(pl, PEER_TRUNCATE, msg.data, msg.len, tmo);
		return -1;
	}
	if (v == EPOCHS_AHEAD) {
		snprintf(why, sizeof(why),
			 "its log (epoch %" PRIu64 ", %s) is ahead of this leader's (epoch %" PRIu64 ", ends at %s)",
			 fw->epoch, lsn_format(fw->end_lsn, a), commitlog_epoch(p->cl), lsn_format(end, b));
		log_warn("peers", "refusing a follower name=%s reason=\"%s\"", f->info.name, why);
		peerlink_send_text(pl, PEER_ERROR, why, tmo);
		return -1;
	}
	if (fw->end_lsn < start)
		snprintf(why, sizeof(why), "its position %s is older than the log kept here (from %s)",
			 lsn_format(fw->end_lsn, a), lsn_format(start, b));
	else {
		*from = fw->end_lsn;
		return 0;
	}
	log_warn("peers", "follower must bootstrap again name=%s reason=\"%s\"", f->info.name, why);
	peerlink_send_text(pl, PEER_REBOOTSTRAP, why, tmo);
	return -1;
}

/*
 * The link's acknowledgements, read on a thread of their own so that they
 * are taken in as they come, while the sender waits for the log.
 */
struct ack_reader {
	struct peers *p;
	struct peerlink *pl;
	struct follower *f;
	pthread_t thread;
	atomic_bool stop; /* the sender is done */
	atomic_bool done; /* the link is over (a log line says why) */
	/* the end of what was sent on this link (set before each send), and
	 * the last positions acknowledged on it */
	_Atomic uint64_t sent_end;
	struct peer_ack last;
};

/*
 * Why an acknowledgement cannot be true, or NULL: a position past what was
 * sent on this link (a follower cannot hold what it was never sent), or
 * behind one it acknowledged before (positions never go back on a link).
 */
static const char *ack_problem(struct ack_reader *a, const struct peer_ack *ack, char *why, size_t whylen)
{
	uint64_t sent = atomic_load(&a->sent_end);
	const uint64_t now[3] = { ack->write_lsn, ack->flush_lsn, ack->apply_lsn };
	const uint64_t before[3] = { a->last.write_lsn, a->last.flush_lsn, a->last.apply_lsn };
	static const char *const names[3] = { "write", "flush", "apply" };
	char x[LSN_TEXT_MAX], y[LSN_TEXT_MAX];
	for (int i = 0; i < 3; i++) {
		if (now[i] > sent) {
			snprintf(why, whylen, "it acknowledged %s position %s, past what was sent to it (%s)", names[i],
				 lsn_format(now[i], x), lsn_format(sent, y));
			return why;
		}
		if (now[i] < before[i]) {
			snprintf(why, whylen, "its %s position went back from %s to %s", names[i], lsn_format(before[i], x),
				 lsn_format(now[i], y));
			return why;
		}
	}
	return NULL;
}

static void *ack_main(void *arg)
{
	struct ack_reader *a = arg;
	int tmo = (int)a->p->cfg->replication_timeout_ms;
	const char *name = a->f->info.name;
	int64_t last_rx = sl_monotonic_ms();
	while (!atomic_load(&a->stop)) {
		uint8_t type;
		uint64_t epoch;
		int rc = peerlink_recv(a->pl, &type, &epoch, ACK_POLL_MS);
		int64_t now = sl_monotonic_ms();
		if (rc == SL_ETIMEDOUT) {
			if (now - last_rx <= tmo)
				continue;
			log_warn("peers", "closing a silent follower link name=%s silent_ms=%" PRId64, name, now - last_rx);
			break;
		}
		if (rc != 0) {
			if (rc == SL_EIO)
				log_info("peers", "follower disconnected name=%s", name);
			else
				log_warn("peers", "closing a follower link name=%s reason=\"%s\"", name,
					 peerlink_problem(a->pl, rc));
			break;
		}
		last_rx = now;
		struct peer_ack ack;
		if (type == PEER_ACK && epoch != commitlog_epoch(a->p->cl)) {
			log_warn("peers", "closing a follower link name=%s reason=\"acknowledgement from epoch %" PRIu64
				 ", this is epoch %" PRIu64 "\"", name, epoch, commitlog_epoch(a->p->cl));
			break;
		}
		if (type == PEER_ACK && peer_ack_get(a->pl->payload.data, a->pl->payload.len, &ack) == 0) {
			char why[160];
			if (ack_problem(a, &ack, why, sizeof(why))) {
				log_warn("peers", "closing a follower link name=%s reason=\"%s\"", name, why);
				break; /* not counted: syncrep never hears of it */
			}
			a->last = ack;
			follower_acked(a->p, a->f, &ack);
			continue;
		}
		char text[PEER_STR_MAX * 2] = "";
		if (type == PEER_SWITCHOVER && peer_text_get(a->pl->payload.data, a->pl->payload.len, text) == 0) {
			log_info("peers", "follower asks for the leadership name=%s peer=%s", name, text);
			if (a->p->on_switchover)
				a->p->on_switchover(a->p->switchover_arg, name, text);
			continue;
		}
		if (type == PEER_ERROR && peer_text_get(a->pl->payload.data, a->pl->payload.len, text) == 0)
			log_warn("peers", "follower closed its link name=%s reason=\"%s\"", name, text);
		else
			log_warn("peers", "closing a follower link name=%s reason=\"unexpected %s message\"", name,
				 peer_type_name(type));
		break;
	}
	atomic_store(&a->done, true);
	return NULL;
}

/* Streams to f on the link of generation gen (f->link_gen while it
 * serves f). */
static void stream(struct peers *p, struct peerlink *pl, struct follower *f, uint64_t gen, uint64_t from)
{
	int tmo = (int)p->cfg->replication_timeout_ms;
	struct replog_reader *r = NULL;
	struct buf batch, msg;
	bool acks_running = false;
	buf_init(&batch);
	buf_init(&msg);
	if (replog_reader_open(p->log, from, &r) != 0) {
		char why[128], a[LSN_TEXT_MAX];
		snprintf(why, sizeof(why), "position %s is not in the log kept here", lsn_format(from, a));
		log_warn("peers", "follower must bootstrap again name=%s reason=\"%s\"", f->info.name, why);
		peerlink_send_text(pl, PEER_REBOOTSTRAP, why, tmo);
		goto out;
	}
	peer_u64_put(&msg, from);
	if (peerlink_send(pl, PEER_STREAM_START, msg.data, msg.len, tmo) != 0)
		goto out;
	replog_retain(p->log, f->info.name, from);
	pthread_mutex_lock(&p->mu);
	if (f->link_gen == gen) /* not replaced by a newer link meanwhile */
		follower_move(f, FOLLOWER_CATCHUP);
	f->info.sent_lsn = from;
	pthread_mutex_unlock(&p->mu);
	char a[LSN_TEXT_MAX];
	log_info("peers", "streaming to follower name=%s from=%s", f->info.name, lsn_format(from, a));
	struct ack_reader acks = { .p = p, .pl = pl, .f = f, .sent_end = from };
	if (pthread_create(&acks.thread, NULL, ack_main, &acks) != 0) {
		log_error("peers", "could not start a thread for a follower's acknowledgements");
		goto out;
	}
	acks_running = true;
	int64_t last_tx = sl_monotonic_ms(), last_beat = 0;
	uint64_t sent_visible = 0;
	while (!atomic_load(&p->stop) && !atomic_load(&acks.done)) {
		buf_reset(&batch);
		struct record rec;
		bool idle = false;
		uint64_t durable_us = 0; /* when the batch's first record was read, durable */
		while (batch.len < BATCH_BYTES) {
			int rc = replog_reader_next(r, &rec, batch.len ? 0 : GATHER_WAIT_MS);
			if (rc == 0 && !durable_us)
				durable_us = sl_wall_us();
			if (rc == SL_ETIMEDOUT) {
				idle = true;
				break;
			}
			if (rc == SL_ENOTFOUND) {
				log_warn("peers", "follower must bootstrap again name=%s reason=\"log removed past its position\"",
					 f->info.name);
				peerlink_send_text(pl, PEER_REBOOTSTRAP, "the log it needs was removed (max_log_size)", tmo);
				goto out;
			}
			if (rc != 0) {
				log_error("peers", "could not read the log for a follower name=%s: %s", f->info.name,
					  sl_strerror(rc));
				peerlink_send_text(pl, PEER_ERROR, "the leader could not read its log", tmo);
				goto out;
			}
			if (record_encode_stored(&batch, &rec) != 0) {
				log_error("peers", "out of memory streaming to name=%s", f->info.name);
				goto out;
			}
		}
		if (batch.len > 0) {
			atomic_store(&acks.sent_end, replog_reader_position(r)); /* before the follower can ack it */
			if (peerlink_send(pl, PEER_RECORDS, batch.data, batch.len, tmo) != 0) {
				log_info("peers", "follower link lost while sending name=%s", f->info.name);
				goto out;
			}
			last_tx = sl_monotonic_ms();
			follower_sent(p, f, replog_reader_position(r), durable_us);
		}
		/* what readers here may see, the follower's readers may too */
		uint64_t visible = commitlog_published_end(p->cl);
		if (visible > sent_visible) {
			buf_reset(&msg);
			peer_u64_put(&msg, visible);
			if (peerlink_send(pl, PEER_VISIBLE, msg.data, msg.len, tmo) != 0)
				goto out;
			sent_visible = visible;
		}
		/* the durable end, when the follower has it all (not more often
		 * than every BEAT_MIN_MS) and when nothing else went for a while */
		int64_t now = sl_monotonic_ms();
		if ((idle && now - last_beat >= BEAT_MIN_MS) || now - last_tx >= HEARTBEAT_MS) {
			buf_reset(&msg);
			struct peer_heartbeat hb = { replog_durable_lsn(p->log), sl_wall_us() };
			peer_heartbeat_put(&msg, &hb);
			if (peerlink_send(pl, PEER_HEARTBEAT, msg.data, msg.len, tmo) != 0)
				goto out;
			last_tx = last_beat = now;
		}
		if (idle && !f->caught_up) {
			pthread_mutex_lock(&p->mu);
			f->caught_up = true;
			if (f->link_gen == gen)
				follower_move(f, FOLLOWER_STREAMING);
			follower_report(p, f);
			pthread_mutex_unlock(&p->mu);
		}
		/* a handover: the follower has been sent the whole log */
		pthread_mutex_lock(&p->mu);
		uint64_t at = f->handover_sent ? 0 : f->handover_end;
		pthread_mutex_unlock(&p->mu);
		if (at && replog_reader_position(r) >= at) {
			buf_reset(&msg);
			peer_u64_put(&msg, at);
			if (peerlink_send(pl, PEER_PROMOTE, msg.data, msg.len, tmo) != 0)
				goto out;
			log_info("peers", "handed over to follower name=%s at=%s", f->info.name, lsn_format(at, a));
			pthread_mutex_lock(&p->mu);
			f->handover_sent = true;
			pthread_mutex_unlock(&p->mu);
		}
	}
out:
	if (acks_running) {
		atomic_store(&acks.stop, true);
		pthread_join(acks.thread, NULL);
	}
	if (r)
		replog_reader_close(r);
	buf_free(&batch);
	buf_free(&msg);
}

/* A member's link: its election messages, each handed to on_member,
 * until the link ends or the port stops. */
static void member_link(struct peers *p, struct peerlink *pl, const char *name)
{
	pthread_mutex_lock(&p->mu);
	int (*fn)(void *, const char *, const struct peer_election *) = p->on_member;
	void *arg = p->member_arg;
	pthread_mutex_unlock(&p->mu);
	int tmo = (int)p->cfg->replication_timeout_ms;
	if (!fn) {
		peeraccept_refuse(pl, tmo, "this node takes no part in elections (failover is off)", NULL);
		return;
	}
	log_debug("peers", "member linked name=%s peer=%s", name, pl->peer);
	/* a member's newer link replaces its older one, so a member holds
	 * one link here however often it dials */
	pthread_mutex_lock(&p->mu);
	int slot = -1;
	for (int i = 0; i < MAX_MEMBER_LINKS && slot < 0; i++)
		if (p->member_fd[i] >= 0 && strcmp(p->member_name[i], name) == 0) {
			shutdown(p->member_fd[i], SHUT_RDWR);
			slot = i;
		}
	for (int i = 0; i < MAX_MEMBER_LINKS && slot < 0; i++)
		if (p->member_fd[i] < 0)
			slot = i;
	if (slot >= 0) {
		p->member_fd[slot] = pl->fd;
		snprintf(p->member_name[slot], sizeof(p->member_name[slot]), "%s", name);
	}
	pthread_mutex_unlock(&p->mu);
	if (slot < 0) {
		peeraccept_refuse(pl, tmo, "too many member links", NULL);
		return;
	}
	/* members speak only when they have something to say: no idle limit */
	while (!atomic_load(&p->stop)) {
		uint8_t type;
		uint64_t epoch;
		int rc = peerlink_recv(pl, &type, &epoch, ACK_POLL_MS);
		if (rc == SL_ETIMEDOUT)
			continue;
		struct peer_election m;
		if (rc != 0) {
			log_debug("peers", "member link closed name=%s reason=\"%s\"", name, peerlink_problem(pl, rc));
			break;
		}
		if (type != PEER_ELECTION || peer_election_get(pl->payload.data, pl->payload.len, &m) != 0 ||
		    m.epoch != epoch) {
			peeraccept_refuse(pl, tmo, "malformed election message", NULL);
			break;
		}
		if (fn(arg, name, &m) != 0) {
			peeraccept_refuse(pl, tmo, "not a member of this cluster (peers)", NULL);
			break;
		}
	}
	pthread_mutex_lock(&p->mu);
	if (p->member_fd[slot] == pl->fd)
		p->member_fd[slot] = -1;
	pthread_mutex_unlock(&p->mu);
}

static void *link_main(void *arg)
{
	struct link *ln = arg;
	struct peers *p = ln->p;
	int tmo = (int)p->cfg->replication_timeout_ms;
	struct peerlink pl;
	peerlink_init(&pl, ln->fd, ln->addr);
	pl.epoch = p->cl ? commitlog_epoch(p->cl) : 0;
	pl.compress = p->cfg->stream_compression != 0;
	struct peer_hello h;
	struct follower *f = NULL;
	bool member;
	if (handshake(p, &pl, &h, &member) != 0)
		goto out;
	atomic_store(&ln->authenticated, true);
	if (member) {
		member_link(p, &pl, h.node_name);
		goto out;
	}
	pl.max_payload = PEER_MAX_PAYLOAD;
	f = follower_claim(p, &h, ln);
	if (!f) {
		peeraccept_refuse(&pl, tmo, "too many followers", NULL);
		goto out;
	}
	log_info("peers", "follower connected name=%s peer=%s", h.node_name, ln->addr);
	uint8_t type;
	uint64_t epoch, from = 0;
	int rc = peerlink_recv(&pl, &type, &epoch, tmo);
	struct peer_follow fw;
	if (rc != 0) {
		log_warn("peers", "follower link closed name=%s reason=\"%s\"", h.node_name, peerlink_problem(&pl, rc));
	} else if (type == PEER_SNAPSHOT_REQ) {
		if (send_snapshot(p, &pl, f, &from) == 0)
			stream(p, &pl, f, ln->gen, from);
	} else if (type == PEER_FOLLOW && peer_follow_get(pl.payload.data, pl.payload.len, &fw) == 0) {
		if (check_position(p, &pl, f, &fw, &from) == 0)
			stream(p, &pl, f, ln->gen, from);
	} else {
		peeraccept_refuse(&pl, tmo, "expected FOLLOW or SNAPSHOT_REQ", NULL);
	}
	follower_release(p, f, ln);
out:
	pthread_mutex_lock(&p->mu);
	pl.fd = -1; /* closed below, under the lock, so stop never shuts a reused fd */
	close(ln->fd);
	ln->fd = -1;
	pthread_mutex_unlock(&p->mu);
	peerlink_close(&pl);
	atomic_store(&ln->done, true);
	return NULL;
}

/* ------------------------------------------------------ forgetting */

/* p->mu held: f leaves the registry and holds no log any more. */
static void follower_forget(struct peers *p, struct follower *f, const char *why)
{
	log_info("peers", "follower forgotten, it no longer holds the log name=%s reason=\"%s\"", f->info.name, why);
	replog_retain(p->log, f->info.name, UINT64_MAX);
	follower_move(f, FOLLOWER_DROPPED);
	follower_report(p, f); /* synchronous commit counts it out */
	f->used = false;
}

int peers_drop_follower(struct peers *p, const char *name)
{
	int rc = SL_ENOTFOUND;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < MAX_FOLLOWERS; i++) {
		struct follower *f = &p->followers[i];
		if (!f->used || strcmp(f->info.name, name) != 0)
			continue;
		rc = f->fd >= 0 ? SL_EAGAIN : 0;
		if (rc == 0)
			follower_forget(p, f, "sluice_drop_follower");
	}
	pthread_mutex_unlock(&p->mu);
	if (rc == 0)
		replog_trim(p->log);
	return rc;
}

/* Accept thread, about once a second: follower_retention_timeout. */
static void forget_stale(struct peers *p)
{
	int64_t limit = p->cfg->follower_retention_timeout_ms, now = sl_monotonic_ms();
	if (limit <= 0)
		return;
	int forgot = 0;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < MAX_FOLLOWERS; i++) {
		struct follower *f = &p->followers[i];
		if (f->used && f->fd < 0 && f->disconnected_ms && now - f->disconnected_ms > limit) {
			follower_forget(p, f, "disconnected longer than follower_retention_timeout");
			forgot++;
		}
	}
	pthread_mutex_unlock(&p->mu);
	if (forgot)
		replog_trim(p->log);
}

/* ------------------------------------------------------------ handover */

void peers_on_redirect(struct peers *p, void (*fn)(void *arg, char *out, size_t outlen), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->leader_of = fn;
	p->leader_of_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

void peers_on_member(struct peers *p, int (*fn)(void *arg, const char *name, const struct peer_election *m),
		     void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->on_member = fn;
	p->member_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

void peers_on_switchover(struct peers *p, void (*fn)(void *arg, const char *name, const char *peer_addr), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->on_switchover = fn;
	p->switchover_arg = arg;
	pthread_mutex_unlock(&p->mu);
}

static struct follower *follower_named(struct peers *p, const char *name)
{
	for (int i = 0; i < MAX_FOLLOWERS; i++)
		if (p->followers[i].used && strcmp(p->followers[i].info.name, name) == 0)
			return &p->followers[i];
	return NULL;
}

int peers_handover(struct peers *p, const char *name, uint64_t end)
{
	pthread_mutex_lock(&p->mu);
	struct follower *f = follower_named(p, name);
	if (f) {
		f->handover_end = end;
		f->handover_sent = false;
	}
	pthread_mutex_unlock(&p->mu);
	replog_wakeup(p->log); /* a sender waiting for records looks again */
	return f ? 0 : -1;
}

bool peers_follower_flushed(struct peers *p, const char *name, uint64_t *flush)
{
	pthread_mutex_lock(&p->mu);
	struct follower *f = follower_named(p, name);
	bool linked = f && f->fd >= 0;
	if (linked)
		*flush = f->info.flush_lsn;
	pthread_mutex_unlock(&p->mu);
	return linked;
}

bool peers_handover_sent(struct peers *p, const char *name)
{
	pthread_mutex_lock(&p->mu);
	struct follower *f = follower_named(p, name);
	bool sent = f && f->handover_sent;
	pthread_mutex_unlock(&p->mu);
	return sent;
}

/* --------------------------------------------------------- the listener */

static void reap_links(struct peers *p, bool all)
{
	pthread_mutex_lock(&p->mu);
	struct link **pp = &p->links;
	while (*pp) {
		struct link *ln = *pp;
		if (all || atomic_load(&ln->done)) {
			*pp = ln->next;
			pthread_mutex_unlock(&p->mu);
			pthread_join(ln->thread, NULL);
			free(ln);
			pthread_mutex_lock(&p->mu);
		} else {
			pp = &ln->next;
		}
	}
	pthread_mutex_unlock(&p->mu);
}

static void *accept_main(void *arg)
{
	struct peers *p = arg;
	while (!atomic_load(&p->stop)) {
		struct pollfd fds[2] = { { .fd = p->listen_fd, .events = POLLIN }, { .fd = p->wake[0], .events = POLLIN } };
		if (poll(fds, 2, 1000) < 0 && errno != EINTR)
			break;
		reap_links(p, false);
		forget_stale(p);
		if (!(fds[0].revents & POLLIN))
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(p->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* authenticated links have MAX_LINKS; links still in the handshake
		 * a budget of their own, where the oldest makes room (its socket
		 * is shut, which ends its handshake): strangers that never
		 * authenticate cannot keep a member or follower out */
		pthread_mutex_lock(&p->mu);
		int live = 0, pending = 0;
		struct link *oldest_pending = NULL;
		for (struct link *l = p->links; l; l = l->next) {
			if (atomic_load(&l->done))
				continue;
			if (atomic_load(&l->authenticated)) {
				live++;
			} else {
				pending++;
				oldest_pending = l; /* the list is newest first */
			}
		}
		if (pending >= MAX_PENDING_LINKS && oldest_pending && oldest_pending->fd >= 0) {
			log_warn("peers", "closing a peer connection that has not authenticated peer=%s "
					  "reason=\"too many connections in the handshake\"",
				 oldest_pending->addr);
			shutdown(oldest_pending->fd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&p->mu);
		if (live >= MAX_LINKS) {
			log_warn("peers", "refused a peer connection reason=\"too many peer links\" links=%d", live);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct link *ln = calloc(1, sizeof(*ln));
		if (!ln) {
			close(fd);
			continue;
		}
		ln->p = p;
		ln->fd = fd;
		netaddr_format(&ss, ln->addr, sizeof(ln->addr));
		pthread_mutex_lock(&p->mu);
		ln->gen = ++p->next_gen;
		ln->next = p->links;
		p->links = ln;
		if (pthread_create(&ln->thread, NULL, link_main, ln) != 0) {
			p->links = ln->next;
			close(fd);
			free(ln);
			log_error("peers", "could not start a thread for a peer link");
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static int listen_peer(struct peers *p, char *err, size_t errlen)
{
	char host[256], port[16];
	int pn;
	if (peerlink_split(p->cfg->peer_listen, host, sizeof(host), &pn) != 0) {
		snprintf(err, errlen, "peer_listen \"%s\" is not host:port", p->cfg->peer_listen);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", pn);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	int grc = getaddrinfo(host, port, &hints, &res);
	if (grc != 0) {
		snprintf(err, errlen, "could not resolve peer_listen \"%s\": %s", host, gai_strerror(grc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "could not listen on peer_listen %s: %s", p->cfg->peer_listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	p->listen_fd = fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	int bound = netaddr_port(&ss);
	const char *pf = p->cfg->peer_port_file;
	if (pf[0]) {
		char tmp[CONFIG_STR_MAX + 8];
		snprintf(tmp, sizeof(tmp), "%s.tmp", pf);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", bound) < 0 || fclose(f) != 0 || rename(tmp, pf) != 0) {
			snprintf(err, errlen, "could not write peer_port_file \"%s\": %s", pf, strerror(errno));
			return -1;
		}
	}
	log_info("peers", "peer port listening address=%s port=%d", host, bound);
	return 0;
}

int peers_start(struct peers **out, const struct config *cfg, struct commitlog *cl, struct syncrep *sr,
		const char *db_path, const char *client_addr, char *err, size_t errlen)
{
	if (!cfg->cluster_secret[0]) {
		snprintf(err, errlen, "peer_listen needs a cluster_secret");
		return -1;
	}
	struct peers *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->cfg = cfg;
	p->cl = cl;
	p->sr = sr;
	p->log = cl ? commitlog_replog(cl) : NULL;
	p->listen_fd = p->wake[0] = p->wake[1] = -1;
	for (int i = 0; i < MAX_MEMBER_LINKS; i++)
		p->member_fd[i] = -1;
	snprintf(p->db_path, sizeof(p->db_path), "%s", db_path);
	snprintf(p->client_addr, sizeof(p->client_addr), "%s", client_addr);
	snprintf(p->node_name, sizeof(p->node_name), "%.255s", cfg->node_name[0] ? cfg->node_name : client_addr);
	pthread_mutex_init(&p->mu, NULL);
	*out = p;
	if (pipe2(p->wake, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (listen_peer(p, err, errlen) != 0)
		return -1;
	if (pthread_create(&p->accept_thread, NULL, accept_main, p) != 0) {
		snprintf(err, errlen, "could not start the peer listener thread");
		return -1;
	}
	p->accept_started = true;
	return 0;
}

void peers_stop(struct peers *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->wake[1] >= 0 && write(p->wake[1], "x", 1) < 0)
		log_warn("peers", "could not wake the peer listener");
	if (p->accept_started)
		pthread_join(p->accept_thread, NULL);
	pthread_mutex_lock(&p->mu);
	for (struct link *ln = p->links; ln; ln = ln->next)
		if (ln->fd >= 0)
			shutdown(ln->fd, SHUT_RDWR);
	pthread_mutex_unlock(&p->mu);
	if (p->log)
		replog_wakeup(p->log);
	reap_links(p, true);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	for (int i = 0; i < 2; i++)
		if (p->wake[i] >= 0)
			close(p->wake[i]);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
