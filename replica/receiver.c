/*
 * receiver.c — the follower's link to the leader: connect, say where its
 * log ends (FOLLOW), keep every record received in its own log (fsynced
 * before it is acknowledged as flushed), and acknowledge write, flush and
 * apply positions. A lost link is retried with a growing pause; a leader
 * that answers REBOOTSTRAP gets the follower to fetch a new snapshot and
 * install it while serving (bootstrap.c).
 */
#include "replica_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "epochrec.h"
#include "log.h"
#include "lsn.h"
#include "record.h"
#include "sl_error.h"
#include "sl_time.h"

#define POLL_MS 200
#define ACK_EVERY_MS 1000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

enum follow_end { FOLLOW_LOST, FOLLOW_REBOOTSTRAP, FOLLOW_TRUNCATE };

/* Sends the positions on the current link; send_mu held. */
static int send_ack_locked(struct replica *r)
{
	if (!r->link || !r->streaming)
		return 0;
	pthread_mutex_lock(&r->mu);
	struct peer_ack a = { r->st.flushed_lsn, r->st.flushed_lsn, r->st.applied_lsn };
	pthread_mutex_unlock(&r->mu);
	uint8_t body[24];
	struct buf b = { body, 0, sizeof(body), false };
	peer_ack_put(&b, &a);
	return peerlink_send(r->link, PEER_ACK, b.data, b.len, (int)r->cfg->replication_timeout_ms);
}

void receiver_ack(struct replica *r)
{
	pthread_mutex_lock(&r->send_mu);
	/* a failed send is the receiver's to notice, on its next read */
	send_ack_locked(r);
	pthread_mutex_unlock(&r->send_mu);
}

static int send_ack(struct replica *r)
{
	pthread_mutex_lock(&r->send_mu);
	int rc = send_ack_locked(r);
	pthread_mutex_unlock(&r->send_mu);
	return rc;
}

static void set_link(struct replica *r, struct peerlink *pl, bool streaming)
{
	pthread_mutex_lock(&r->send_mu);
	r->link = pl;
	r->streaming = streaming;
	pthread_mutex_unlock(&r->send_mu);
}

/*
 * A record from the leader (rec, decoded) must belong to an epoch this
 * follower knows (from WELCOME, or an EPOCH record before it) and not to
 * one older than the log's last record. An EPOCH record names its epoch
 * and leader; one this follower has not heard of joins the history
 * (durably) before it is kept. 0, or -1 with err.
 */
static int check_record_epoch(struct replica *r, const struct record *rec, char *err, size_t errlen)
{
	char at[LSN_TEXT_MAX];
	lsn_format(rec->lsn, at);
	uint64_t known = epochs_current(&r->history), last = replog_last_epoch(r->log);
	if (rec->type != RECORD_EPOCH) {
		if (rec->epoch <= known && rec->epoch >= last)
			return 0;
		snprintf(err, errlen, "record at %s from epoch %" PRIu64 ", expected %" PRIu64 " to %" PRIu64, at,
			 rec->epoch, last, known);
		return -1;
	}
	struct buf payload;
	struct epochrec e;
	buf_init(&payload);
	int rc = record_payload(rec, &payload);
	if (rc == 0 && (payload.oom || epochrec_decode(payload.data, payload.len, &e) != 0))
		rc = SL_ECORRUPT;
	buf_free(&payload);
	if (rc != 0 || e.epoch != rec->epoch || e.epoch <= last) {
		snprintf(err, errlen, "bad EPOCH record from the leader at %s", at);
		return -1;
	}
	if (e.epoch <= known)
		return 0;
	pthread_mutex_lock(&r->mu);
	rc = epochs_append(&r->history, e.epoch, rec->lsn, e.leader);
	pthread_mutex_unlock(&r->mu);
	if (rc != 0) {
		snprintf(err, errlen, "could not add epoch %" PRIu64 " to the history: %s", e.epoch, sl_strerror(rc));
		return -1;
	}
	log_info("replica", "new epoch epoch=%" PRIu64 " lsn=%s leader=%s", e.epoch, at, e.leader);
	return 0;
}

/* Keeps the records of one RECORDS frame, each decoded once. 0 or -1 with err. */
static int keep_records(struct replica *r, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	size_t off = 0;
	while (off < len) {
		struct record rec;
		size_t used;
		uint64_t end = replog_end_lsn(r->log);
		char at[LSN_TEXT_MAX];
		if (record_decode(p + off, len - off, end, &rec, &used) != 0) {
			const char *why = record_diagnose(p + off, len - off, end);
			snprintf(err, errlen, "bad record from the leader at %s: %s", lsn_format(end, at),
				 why ? why : "?");
			return -1;
		}
		if (check_record_epoch(r, &rec, err, errlen) != 0)
			return -1;
		int rc = replog_append_record(r->log, p + off, &rec);
		if (rc != 0) {
			snprintf(err, errlen, "could not keep a record at %s: %s", lsn_format(end, at), sl_strerror(rc));
			return -1;
		}
		off += record_size(&rec);
		pthread_mutex_lock(&r->mu);
		unsigned slot = (r->recent_head + r->recent_count) % REPLICA_LAG_RING;
		if (r->recent_count == REPLICA_LAG_RING)
			r->recent_head = (r->recent_head + 1) % REPLICA_LAG_RING;
		else
			r->recent_count++;
		r->recent[slot].end = rec.lsn + record_size(&rec);
		r->recent[slot].ts = rec.commit_ts;
		pthread_mutex_unlock(&r->mu);
	}
	if (replog_sync(r->log) != 0) {
		snprintf(err, errlen, "could not fsync the follower's log");
		return -1;
	}
	pthread_mutex_lock(&r->mu);
	r->st.flushed_lsn = replog_end_lsn(r->log);
	r->st.last_epoch = replica_last_epoch(r);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static void note_leader_end(struct replica *r, uint64_t end)
{
	pthread_mutex_lock(&r->mu);
	r->st.leader_end = end;
	bool caught_up = r->st.flushed_lsn >= end;
	pthread_mutex_unlock(&r->mu);
	/* not when apply stopped meanwhile */
	if (caught_up)
		replica_set_state_from(r, REPLICA_CATCHUP, REPLICA_STREAMING);
}

/* The leader's readers see every commit up to visible: ours may too. */
static void note_visible(struct replica *r, uint64_t visible)
{
	uint64_t cur = atomic_load(&r->visible_lsn);
	while (visible > cur && !atomic_compare_exchange_weak(&r->visible_lsn, &cur, visible))
		;
	replog_notify(r->log);
}

/* Streams until the link is lost (err says why), a re-bootstrap is due,
 * or the log must be cut back to *at (TRUNCATE). */
static enum follow_end follow(struct replica *r, struct peerlink *pl, uint64_t *at, char *err, size_t errlen)
{
	int tmo = (int)r->cfg->replication_timeout_ms;
	pthread_mutex_lock(&r->mu);
	struct peer_follow fw = { replica_last_epoch(r), replog_end_lsn(r->log), r->st.applied_lsn };
	pthread_mutex_unlock(&r->mu);
	uint8_t body[24];
	struct buf b = { body, 0, sizeof(body), false };
	peer_follow_put(&b, &fw);
	uint8_t type;
	uint64_t epoch, from;
	char text[PEER_STR_MAX * 2];
	pthread_mutex_lock(&r->send_mu);
	int sent = peerlink_send(pl, PEER_FOLLOW, b.data, b.len, tmo);
	pthread_mutex_unlock(&r->send_mu);
	if (sent != 0 || peerlink_recv(pl, &type, &epoch, tmo) != 0) {
		snprintf(err, errlen, "leader link lost before streaming began");
		return FOLLOW_LOST;
	}
	if (type == PEER_REBOOTSTRAP) {
		if (peer_text_get(pl->payload.data, pl->payload.len, text) != 0)
			snprintf(text, sizeof(text), "(no reason given)");
		snprintf(err, errlen, "the leader cannot serve this follower's position: %.400s", text);
		return FOLLOW_REBOOTSTRAP;
	}
	if (type == PEER_TRUNCATE && peer_u64_get(pl->payload.data, pl->payload.len, at) == 0) {
		char a[LSN_TEXT_MAX];
		snprintf(err, errlen, "this follower's log leaves the leader's history at %s", lsn_format(*at, a));
		return FOLLOW_TRUNCATE;
	}
	if (type != PEER_STREAM_START || peer_u64_get(pl->payload.data, pl->payload.len, &from) != 0 ||
	    from != fw.end_lsn) {
		if (type == PEER_ERROR && peer_text_get(pl->payload.data, pl->payload.len, text) == 0)
			snprintf(err, errlen, "the leader refused: %.400s", text);
		else
			snprintf(err, errlen, "the leader sent %s where STREAM_START was due", peer_type_name(type));
		return FOLLOW_LOST;
	}
	set_link(r, pl, true); /* the applier may acknowledge now */
	char from_text[LSN_TEXT_MAX];
	log_info("replica", "streaming from the leader from=%s leader=%s", lsn_format(from, from_text), pl->peer);
	if (atomic_exchange(&r->unconfirmed, false) && r->readers.hold) {
		r->readers.hold(r->readers.arg, false); /* on the leader's history again */
		log_info("replica", "rejoined the leader's history: reads resume");
	}
	replica_set_state(r, REPLICA_CATCHUP);
	pthread_mutex_lock(&r->mu);
	r->st.last_error[0] = '\0';
	pthread_mutex_unlock(&r->mu);
	int64_t last_rx = sl_monotonic_ms(), last_ack = 0;
	while (!atomic_load(&r->stop)) {
		if (pl->epoch < atomic_load(&r->min_epoch)) {
			/* fenced: a newer leader was elected; nothing more of this one */
			snprintf(err, errlen, "a leader of epoch %" PRIu64 " was elected; this link's leader leads epoch %" PRIu64,
				 (uint64_t)atomic_load(&r->min_epoch), pl->epoch);
			return FOLLOW_LOST;
		}
		int rc = peerlink_recv(pl, &type, &epoch, POLL_MS);
		int64_t now = sl_monotonic_ms();
		if (rc == SL_ETIMEDOUT) {
			if (now - last_rx > tmo) {
				snprintf(err, errlen, "the leader has been silent for %lld ms", (long long)(now - last_rx));
				return FOLLOW_LOST;
			}
		} else if (rc != 0) {
			snprintf(err, errlen, "leader link lost: %s",
				 rc == SL_EPROTO && pl->why ? pl->why : sl_strerror(rc));
			return FOLLOW_LOST;
		} else if (epoch != pl->epoch) {
			/* a leader keeps its epoch for as long as it leads */
			snprintf(err, errlen, "%s frame from epoch %" PRIu64 ", the leader's is %" PRIu64,
				 peer_type_name(type), epoch, pl->epoch);
			return FOLLOW_LOST;
		} else {
			last_rx = now;
			atomic_store(&r->last_contact_ms, now);
			struct peer_heartbeat hb;
			uint64_t visible;
			if (type == PEER_RECORDS) {
				if (keep_records(r, pl->payload.data, pl->payload.len, err, errlen) != 0)
					return FOLLOW_LOST;
				last_ack = 0; /* acknowledge what was flushed at once */
			} else if (type == PEER_HEARTBEAT &&
				   peer_heartbeat_get(pl->payload.data, pl->payload.len, &hb) == 0) {
				note_leader_end(r, hb.end_lsn);
			} else if (type == PEER_VISIBLE && peer_u64_get(pl->payload.data, pl->payload.len, &visible) == 0) {
				note_visible(r, visible);
			} else if (type == PEER_PROMOTE && peer_u64_get(pl->payload.data, pl->payload.len, &visible) == 0) {
				char a[LSN_TEXT_MAX];
				if (replog_end_lsn(r->log) != visible) {
					snprintf(err, errlen, "PROMOTE at %s, but this follower's log ends at %s",
						 lsn_format(visible, a), lsn_format(replog_end_lsn(r->log), from_text));
					return FOLLOW_LOST;
				}
				log_info("replica", "the leader hands over at=%s", lsn_format(visible, a));
				if (r->promote_cb)
					r->promote_cb(r->promote_arg);
			} else if (type == PEER_REBOOTSTRAP) {
				if (peer_text_get(pl->payload.data, pl->payload.len, text) != 0)
					snprintf(text, sizeof(text), "(no reason given)");
				snprintf(err, errlen, "the leader cannot serve this follower any more: %.400s", text);
				return FOLLOW_REBOOTSTRAP;
			} else {
				snprintf(err, errlen, "unexpected %s message from the leader", peer_type_name(type));
				return FOLLOW_LOST;
			}
		}
		/* the applier acknowledges what it applies itself, at once */
		if (last_ack == 0 || now - last_ack >= ACK_EVERY_MS) {
			if (send_ack(r) != 0) {
				snprintf(err, errlen, "leader link lost while acknowledging");
				return FOLLOW_LOST;
			}
			last_ack = now ? now : 1;
		}
	}
	snprintf(err, errlen, "stopping");
	return FOLLOW_LOST;
}

/* Fetches and installs a new snapshot while serving. */
static void rebootstrap(struct replica *r)
{
	applier_stop(r);
	replica_set_state(r, REPLICA_BOOTSTRAPPING);
	char err[512];
	for (int delay = RETRY_MIN_MS; !atomic_load(&r->stop);) {
		struct peerlink pl;
		struct peer_welcome w;
		memset(&w, 0, sizeof(w));
		err[0] = '\0';
		int rc = -1;
		if (replica_connect(r, &pl, &w, err, sizeof(err)) == 0) {
			set_link(r, &pl, false);
			rc = bootstrap_run(r, &pl, &w, err, sizeof(err));
			set_link(r, NULL, false);
			peer_welcome_free(&w);
			peerlink_close(&pl);
		}
		if (rc == 0)
			break;
		log_warn("replica", "bootstrap failed, retrying reason=\"%s\"", err);
		replica_set_error(r, "%s", err);
		replica_next_leader(r);
		sl_sleep_ms(delay);
		delay = delay < RETRY_MAX_MS ? delay * 2 : RETRY_MAX_MS;
	}
	pthread_mutex_lock(&r->mu);
	uint64_t applied = r->st.applied_lsn;
	pthread_mutex_unlock(&r->mu);
	if (!atomic_load(&r->stop) && applier_start(r, applied) != 0)
		replica_set_state(r, REPLICA_STOPPED);
}

static void *recv_main(void *arg)
{
	struct replica *r = arg;
	int delay = RETRY_MIN_MS;
	char last_err[512] = "";
	int64_t last_warn = -100000;
	while (!atomic_load(&r->stop)) {
		struct peerlink pl;
		struct peer_welcome w;
		memset(&w, 0, sizeof(w));
		char err[512] = "";
		uint64_t at = 0;
		int part = -1;
		replica_elected_leader(r);
		if (replica_connect(r, &pl, &w, err, sizeof(err)) == 0) {
			part = rejoin_check_history(r, &w, &at, err, sizeof(err));
			if (part < 0) {
				peerlink_close(&pl);
				peer_welcome_free(&w);
			}
		}
		if (part < 0) {
			/* once per reason, or every 10 s while peers are asked in turn */
			int64_t now = sl_monotonic_ms();
			if (strcmp(err, last_err) != 0 && (r->members.n < 2 || now - last_warn >= 10000)) {
				log_warn("replica", "cannot follow the leader, retrying leader=%s reason=\"%s\"",
					 r->leader, err);
				last_warn = now;
			}
			snprintf(last_err, sizeof(last_err), "%s", err);
			replica_set_state(r, REPLICA_CONNECTING);
			replica_set_error(r, "%s", err);
			replica_next_leader(r);
			sl_sleep_ms(delay);
			/* with peers to ask, each is tried soon */
			delay = r->members.n > 1 ? RETRY_MIN_MS : delay < RETRY_MAX_MS ? delay * 2 : RETRY_MAX_MS;
			continue;
		}
		enum follow_end end = FOLLOW_TRUNCATE;
		if (part == 0) {
			set_link(r, &pl, false);
			end = follow(r, &pl, &at, err, sizeof(err));
			set_link(r, NULL, false);
		} else {
			char a[LSN_TEXT_MAX];
			snprintf(err, sizeof(err), "this follower's history parts from the leader's at %s",
				 lsn_format(at, a));
		}
		peerlink_close(&pl);
		if (atomic_load(&r->stop)) {
			peer_welcome_free(&w);
			break;
		}
		log_warn("replica", "leader link ended reason=\"%s\"", err);
		replica_set_error(r, "%s", err);
		snprintf(last_err, sizeof(last_err), "%s", err);
		if (end == FOLLOW_TRUNCATE) {
			enum rejoin_result rj = rejoin_discard(r, at, &w, err, sizeof(err));
			if (rj == REJOIN_FAILED) {
				log_error("replica", "could not rejoin the leader's history: %s", err);
				replica_set_error(r, "%s", err);
			}
			end = rj == REJOIN_REBOOTSTRAP ? FOLLOW_REBOOTSTRAP : FOLLOW_LOST;
			if (rj == REJOIN_FOLLOW) {
				peer_welcome_free(&w);
				delay = RETRY_MIN_MS;
				continue; /* FOLLOW again, from where the histories part */
			}
		}
		peer_welcome_free(&w);
		if (end == FOLLOW_REBOOTSTRAP) {
			rebootstrap(r);
			delay = RETRY_MIN_MS;
			continue;
		}
		replica_set_state(r, REPLICA_CONNECTING);
		sl_sleep_ms(delay);
		delay = RETRY_MIN_MS;
	}
	return NULL;
}

int receiver_start(struct replica *r)
{
	atomic_store(&r->stop, false);
	if (pthread_create(&r->recv_thread, NULL, recv_main, r) != 0)
		return SL_EIO;
	r->recv_running = true;
	return 0;
}

void receiver_stop(struct replica *r)
{
	atomic_store(&r->stop, true);
	pthread_mutex_lock(&r->send_mu);
	if (r->link && r->link->fd >= 0)
		shutdown(r->link->fd, SHUT_RDWR);
	pthread_mutex_unlock(&r->send_mu);
	if (r->recv_running) {
		pthread_join(r->recv_thread, NULL);
		r->recv_running = false;
	}
}
