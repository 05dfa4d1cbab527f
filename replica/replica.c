/*
 * replica.c — the follower's start-up, shutdown, status, and the parts of
 * the link the receiver and the bootstrap share: connecting with the
 * cluster secret, and starting the log over at a snapshot (see replica.h).
 */
#include "replica_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "fileio.h"
#include "log.h"
#include "lsn.h"
#include "peerauth.h"
#include "peerdial.h"
#include "recovery.h"
#include "sl_assert.h"
#include "sl_error.h"
#include "sl_time.h"

#define DIAL_TIMEOUT_MS 5000

/* r->mu held: moves the state, checked against the table; returns the
 * state it left. */
static enum replica_state state_move(struct replica *r, enum replica_state to)
{
	enum replica_state from = r->st.state;
	SL_ASSERT(replica_state_can_move(from, to));
	r->st.state = to;
	return from;
}

static void state_log(enum replica_state from, enum replica_state to)
{
	if (from != to)
		log_debug("replica", "state changed from=%s to=%s", replica_state_name(from),
			  replica_state_name(to));
}

void replica_set_state(struct replica *r, enum replica_state to)
{
	pthread_mutex_lock(&r->mu);
	enum replica_state from = r->st.state;
	/* once apply has stopped, the link coming and going does not hide
	 * it: only a new snapshot, which restarts apply, moves on */
	bool stays = from == REPLICA_STOPPED && (to == REPLICA_CONNECTING || to == REPLICA_CATCHUP);
	if (!stays)
		state_move(r, to);
	pthread_mutex_unlock(&r->mu);
	if (!stays)
		state_log(from, to);
}

bool replica_set_state_from(struct replica *r, enum replica_state from, enum replica_state to)
{
	pthread_mutex_lock(&r->mu);
	bool moves = r->st.state == from;
	if (moves)
		state_move(r, to);
	pthread_mutex_unlock(&r->mu);
	if (moves)
		state_log(from, to);
	return moves;
}

void replica_set_error(struct replica *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&r->mu);
	vsnprintf(r->st.last_error, sizeof(r->st.last_error), fmt, ap);
	pthread_mutex_unlock(&r->mu);
	va_end(ap);
}

static struct replog_options log_options(const struct config *cfg)
{
	struct replog_options o = {
		.segment_size = (uint64_t)cfg->log_segment_size,
		.keep_size = (uint64_t)cfg->log_keep_size,
		.max_size = 0, /* a follower keeps what it has not applied */
		.compress = false, /* records are kept as the leader encoded them */
	};
	return o;
}

/* Removes the log directory's files (segments, positions, history). */
static int clear_log_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : SL_EIO;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[REPLICA_PATH_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) != 0)
			rc = SL_EIO;
	}
	closedir(d);
	return rc;
}

int replica_reset_log(struct replica *r, uint64_t lsn, const struct peer_welcome *w, char *err, size_t errlen)
{
	if (r->log) {
		replog_close(r->log);
		r->log = NULL;
	}
	epochs_free(&r->history);
	replay_ahead_free(&r->reapply); /* a new database: nothing was applied before */
	r->reapply_end = 0;
	if (clear_log_dir(r->log_dir) != 0) {
		snprintf(err, errlen, "could not empty \"%s\": %s", r->log_dir, strerror(errno));
		return SL_EIO;
	}
	struct replog_options o = log_options(r->cfg);
	int rc = replog_open(&r->log, r->log_dir, lsn, &o, err, errlen);
	if (rc == 0)
		rc = epochs_load(&r->history, r->epochs_path, err, errlen);
	for (uint32_t i = 0; rc == 0 && i < w->nepochs; i++)
		rc = epochs_append(&r->history, w->epochs[i].epoch, w->epochs[i].start_lsn, w->epochs[i].leader);
	if (rc != 0 && !err[0])
		snprintf(err, errlen, "could not write the epoch history: %s", sl_strerror(rc));
	/* the snapshot holds what the leader's readers saw */
	if (rc == 0 && (rc = replica_visible_store(r, lsn)) != 0)
		snprintf(err, errlen, "could not write \"%s\": %s", r->visible_path, sl_strerror(rc));
	return rc;
}

/*
 * log/visible, 16 bytes: the LSN (u64), a CRC32 of those 8 bytes (u32),
 * and the magic "SLV1", big-endian, rewritten in place and fdatasynced.
 * One sector, so a crash leaves the old or the new value; one that does
 * not check counts as missing.
 */
#define VISIBLE_MAGIC 0x534C5631u

void replica_visible_load(struct replica *r, uint64_t dflt)
{
	uint8_t b[16] = { 0 };
	size_t got = 0;
	r->visible_durable = dflt;
	int fd = open(r->visible_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	bool ok = fileio_pread_all(fd, b, sizeof(b), 0, &got) == 0 && got == sizeof(b);
	struct cursor c;
	cursor_init(&c, b, sizeof(b));
	uint64_t v = cursor_u64(&c);
	uint32_t crc = cursor_u32(&c), magic = cursor_u32(&c);
	if (!ok || magic != VISIBLE_MAGIC || crc != (uint32_t)crc32(0L, b, 8))
		log_warn("replica", "ignoring an unreadable visible position file=%s", r->visible_path);
	else if (v > dflt)
		r->visible_durable = v;
	close(fd);
}

int replica_visible_store(struct replica *r, uint64_t lsn)
{
	uint8_t data[16];
	struct buf b = { data, 0, sizeof(data), false };
	buf_put_u64(&b, lsn);
	buf_put_u32(&b, (uint32_t)crc32(0L, data, 8));
	buf_put_u32(&b, VISIBLE_MAGIC);
	int fd = open(r->visible_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return SL_EIO;
	int rc = fileio_pwrite_all(fd, data, sizeof(data), 0);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = SL_EIO;
	close(fd);
	if (rc == 0)
		r->visible_durable = lsn;
	return rc;
}

uint64_t replica_last_epoch(struct replica *r)
{
	uint64_t e = replog_last_epoch(r->log);
	if (e)
		return e;
	/* nothing received since the snapshot: the epoch its LSN lies in */
	uint64_t end = replog_end_lsn(r->log);
	for (size_t i = r->history.n; i-- > 0;)
		if (r->history.v[i].start_lsn < end)
			return r->history.v[i].epoch;
	return 0;
}

/* Whether this node led the epoch its log ends in (a former leader, after a
 * step-down or a restart): its last commits may be ones no standby
 * confirmed, which the leader may not have. */
static bool led_last_epoch(struct replica *r)
{
	if (r->history.n == 0)
		return false;
	const char *me = r->cfg->node_name[0] ? r->cfg->node_name : r->client_addr;
	return strcmp(r->history.v[r->history.n - 1].leader, me) == 0;
}

int replica_connect(struct replica *r, struct peerlink *pl, struct peer_welcome *w, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	int tmo = (int)cfg->replication_timeout_ms;
	char name[PEER_STR_MAX];
	snprintf(name, sizeof(name), "%.255s", cfg->node_name[0] ? cfg->node_name : r->client_addr);
	struct peerdial d = { r->leader, PEER_HELLO, cfg->cluster_id, cfg->cluster_secret, name, r->client_addr,
			      DIAL_TIMEOUT_MS, tmo, NULL };
	if (peerdial_open(pl, &d, err, errlen) != 0)
		return -1;
	pl->compress = cfg->stream_compression != 0;
	uint8_t got;
	if (peerdial_expect(pl, PEER_WELCOME, &got, tmo, err, errlen) != 0) {
		char leader[PEER_STR_MAX * 2];
		if (got == PEER_NOT_LEADER && peer_text_get(pl->payload.data, pl->payload.len, leader) == 0) {
			/* a follower answered: go where it says the leader is */
			snprintf(err, errlen, "%s is not the leader%s%s", r->leader, leader[0] ? "; it follows " : "",
				 leader);
			if (leader[0] && strlen(leader) < sizeof(r->redirect))
				snprintf(r->redirect, sizeof(r->redirect), "%s", leader);
		}
		goto fail;
	}
	if (peer_welcome_get(pl->payload.data, pl->payload.len, w) != 0) {
		snprintf(err, errlen, "malformed WELCOME from the leader");
		goto fail;
	}
	/* the leader's epoch goes in every frame sent to it (acknowledgements
	 * count only in the epoch they were made for) */
	pl->epoch = w->nepochs > 0 ? w->epochs[w->nepochs - 1].epoch : 0;
	if (pl->epoch < atomic_load(&r->min_epoch)) {
		snprintf(err, errlen, "%s leads epoch %" PRIu64 ", but a leader of epoch %" PRIu64 " was elected since",
			 r->leader, pl->epoch, (uint64_t)atomic_load(&r->min_epoch));
		peer_welcome_free(w);
		goto fail;
	}
	pthread_mutex_lock(&r->mu);
	snprintf(r->st.leader_name, sizeof(r->st.leader_name), "%s", w->node_name);
	snprintf(r->st.leader_client, sizeof(r->st.leader_client), "%s", w->client_addr);
	pthread_mutex_unlock(&r->mu);
	return 0;
fail:
	peerlink_close(pl);
	return -1;
}

/* Bootstraps until it works (or the process is told to stop). */
static int bootstrap_until_done(struct replica *r, char *err, size_t errlen)
{
	int delay = 200;
	replica_set_state(r, REPLICA_BOOTSTRAPPING);
	for (int attempt = 1;; attempt++) {
		struct peerlink pl;
		struct peer_welcome w;
		memset(&w, 0, sizeof(w));
		err[0] = '\0';
		if (replica_connect(r, &pl, &w, err, errlen) == 0) {
			int rc = bootstrap_run(r, &pl, &w, err, errlen);
			peer_welcome_free(&w);
			peerlink_close(&pl);
			if (rc == 0)
				return 0;
		}
		log_warn("replica", "bootstrap failed, retrying attempt=%d reason=\"%s\"", attempt, err);
		replica_set_error(r, "%s", err);
		replica_next_leader(r);
		sl_sleep_ms(delay);
		delay = delay < 2000 ? delay * 2 : 2000;
	}
}

int replica_open(struct replica **out, const struct config *cfg, const char *leader, const char *db_path,
		 const char *client_addr, char *err, size_t errlen)
{
	struct members members;
	char why[256];
	if (members_parse(cfg->peers, &members, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		return SL_EINVAL;
	}
	bool others = members.n > 1 || (members.n == 1 && strcmp(members.v[0].name, cfg->node_name) != 0);
	if ((!leader[0] && !others) || !cfg->cluster_secret[0]) {
		snprintf(err, errlen, "a follower needs leader_peer and cluster_secret");
		return SL_EINVAL;
	}
	struct replica *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	*out = r;
	r->cfg = cfg;
	r->db_fd = -1;
	atomic_store(&r->last_contact_ms, sl_monotonic_ms());
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->elected_mu, NULL);
	pthread_mutex_init(&r->send_mu, NULL);
	pthread_mutex_init(&r->sync_mu, NULL);
	snprintf(r->leader, sizeof(r->leader), "%s", leader);
	r->members = members;
	if (!r->leader[0])
		replica_next_leader(r);
	snprintf(r->st.leader_peer, sizeof(r->st.leader_peer), "%s", r->leader);
	snprintf(r->db_path, sizeof(r->db_path), "%s", db_path);
	snprintf(r->log_dir, sizeof(r->log_dir), "%s/log", cfg->data_dir);
	snprintf(r->base_path, sizeof(r->base_path), "%s/log/db-position", cfg->data_dir);
	snprintf(r->commits_path, sizeof(r->commits_path), "%s/log/apply-commits", cfg->data_dir);
	snprintf(r->epochs_path, sizeof(r->epochs_path), "%s/log/epochs", cfg->data_dir);
	snprintf(r->partial_path, sizeof(r->partial_path), "%s/bootstrap.partial", cfg->data_dir);
	snprintf(r->visible_path, sizeof(r->visible_path), "%s/log/visible", cfg->data_dir);
	snprintf(r->client_addr, sizeof(r->client_addr), "%s", client_addr);
	r->st.state = REPLICA_CONNECTING;
	if (mkdir(r->log_dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "could not create \"%s\": %s", r->log_dir, strerror(errno));
		return SL_EIO;
	}
	uint64_t base;
	if (recovery_base_read(r->base_path, &base) == SL_ENOTFOUND) {
		log_info("replica", "no complete database here: bootstrapping from the leader leader=%s",
			 r->leader);
		if (bootstrap_until_done(r, err, errlen) != 0)
			return SL_EIO;
	} else {
		struct replog_options o = log_options(cfg);
		int rc = replog_open(&r->log, r->log_dir, 0, &o, err, errlen);
		if (rc == 0)
			rc = epochs_load(&r->history, r->epochs_path, err, errlen);
		if (rc != 0)
			return rc;
	}
	uint64_t applied;
	int rc = applier_recover(r, &applied, err, errlen);
	if (rc == SL_ECORRUPT && r->log) {
		/* a former leader's directory: its own commits are in the WAL;
		 * its recovery brings the database up to its log first */
		uint64_t redone = 0;
		char problem[512] = "";
		if (recovery_run(r->log, db_path, r->base_path, &redone, problem, sizeof(problem)) == 0) {
			log_info("replica", "recovered a former leader's database redone=%" PRIu64, redone);
			err[0] = '\0';
			rc = applier_recover(r, &applied, err, errlen);
		}
	}
	if (rc != 0)
		return rc;
	replica_visible_load(r, applied);
	pthread_mutex_lock(&r->mu);
	r->st.flushed_lsn = replog_end_lsn(r->log);
	r->st.last_epoch = replica_last_epoch(r);
	pthread_mutex_unlock(&r->mu);
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	log_info("replica", "follower database ready applied=%s log_end=%s", lsn_format(applied, a),
		 lsn_format(replog_end_lsn(r->log), b));
	if (led_last_epoch(r)) {
		log_warn("replica", "this node led the epoch of its last records, which standbys may not have "
				    "confirmed: reads are refused until it has rejoined the leader");
		atomic_store(&r->unconfirmed, true);
	}
	return applier_start(r, applied);
}

int replica_start(struct replica *r, const struct replica_readers *readers, char *err, size_t errlen)
{
	r->readers = *readers;
	r->serving = true;
	if (atomic_load(&r->unconfirmed) && r->readers.hold)
		r->readers.hold(r->readers.arg, true);
	pthread_mutex_lock(&r->mu);
	uint64_t applied = r->st.applied_lsn;
	pthread_mutex_unlock(&r->mu);
	if (applier_start(r, applied) != 0 || receiver_start(r) != 0) {
		snprintf(err, errlen, "could not start the follower's threads");
		return SL_EIO;
	}
	return 0;
}

void replica_stop(struct replica *r)
{
	if (!r)
		return;
	receiver_stop(r);
	applier_stop(r);
}

int replica_finish(struct replica *r, int timeout_ms, char *err, size_t errlen)
{
	receiver_stop(r);
	uint64_t end = replog_end_lsn(r->log);
	atomic_store(&r->visible_lsn, end);
	replog_notify(r->log);
	int64_t deadline = sl_monotonic_ms() + timeout_ms;
	struct replica_status st;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		st = r->st;
		pthread_mutex_unlock(&r->mu);
		if (st.applied_lsn >= end || st.state == REPLICA_STOPPED || sl_monotonic_ms() > deadline)
			break;
		sl_sleep_ms(5);
	}
	applier_stop(r);
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	if (st.applied_lsn < end) {
		snprintf(err, errlen, "the follower could not apply its whole log (applied %s of %s)%s%s",
			 lsn_format(st.applied_lsn, a), lsn_format(end, b), st.last_error[0] ? ": " : "",
			 st.last_error);
		return -1;
	}
	if (applier_checkpoint(r, err, errlen) != 0 || recovery_base_write(r->base_path, end) != 0) {
		if (!err[0])
			snprintf(err, errlen, "could not record the database position: %s", strerror(errno));
		return -1;
	}
	log_info("replica", "follower finished applied=%s", lsn_format(end, a));
	return 0;
}

void replica_follow(struct replica *r, const char *leader_peer, uint64_t epoch)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->elected_mu);
	snprintf(r->elected, sizeof(r->elected), "%s", leader_peer);
	pthread_mutex_unlock(&r->elected_mu);
	if (epoch > atomic_load(&r->min_epoch))
		atomic_store(&r->min_epoch, epoch);
}

bool replica_elected_leader(struct replica *r)
{
	pthread_mutex_lock(&r->elected_mu);
	char elected[PEER_STR_MAX];
	snprintf(elected, sizeof(elected), "%s", r->elected);
	pthread_mutex_unlock(&r->elected_mu);
	if (!elected[0] || strcmp(elected, r->leader) == 0)
		return false;
	snprintf(r->leader, sizeof(r->leader), "%s", elected);
	r->redirect[0] = '\0';
	pthread_mutex_lock(&r->mu);
	snprintf(r->st.leader_peer, sizeof(r->st.leader_peer), "%s", r->leader);
	pthread_mutex_unlock(&r->mu);
	return true;
}

void replica_next_leader(struct replica *r)
{
	if (replica_elected_leader(r))
		return;
	if (r->redirect[0]) { /* a follower named the leader */
		snprintf(r->leader, sizeof(r->leader), "%s", r->redirect);
		r->redirect[0] = '\0';
		pthread_mutex_lock(&r->mu);
		snprintf(r->st.leader_peer, sizeof(r->st.leader_peer), "%s", r->leader);
		pthread_mutex_unlock(&r->mu);
		return;
	}
	const struct members *m = &r->members;
	int at = -1;
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->v[i].addr, r->leader) == 0)
			at = i;
	for (int k = 1; k <= m->n; k++) {
		const struct member *next = &m->v[(at + k + m->n) % m->n];
		if (strcmp(next->name, r->cfg->node_name) == 0 || strcmp(next->addr, r->leader) == 0)
			continue;
		snprintf(r->leader, sizeof(r->leader), "%s", next->addr);
		pthread_mutex_lock(&r->mu);
		snprintf(r->st.leader_peer, sizeof(r->st.leader_peer), "%s", r->leader);
		pthread_mutex_unlock(&r->mu);
		return;
	}
}

void replica_on_promote(struct replica *r, void (*fn)(void *arg), void *arg)
{
	r->promote_cb = fn;
	r->promote_arg = arg;
}

int replica_request_switchover(struct replica *r, const char *peer_addr)
{
	uint8_t body[2 + PEER_STR_MAX];
	struct buf b = { body, 0, sizeof(body), false };
	peer_text_put(&b, peer_addr);
	pthread_mutex_lock(&r->send_mu);
	int rc = r->link && r->streaming && !b.oom
			 ? peerlink_send(r->link, PEER_SWITCHOVER, b.data, b.len, (int)r->cfg->replication_timeout_ms)
			 : SL_EIO;
	pthread_mutex_unlock(&r->send_mu);
	if (rc == 0)
		log_info("replica", "asked the leader to hand over peer=%s", peer_addr);
	return rc == 0 ? 0 : -1;
}

void replica_close(struct replica *r)
{
	if (!r)
		return;
	replica_stop(r);
	standby_close(&r->standby);
	sqlite3_close_v2(r->logical_db);
	if (r->db_fd >= 0)
		close(r->db_fd);
	if (r->log)
		replog_close(r->log);
	epochs_free(&r->history);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->elected_mu);
	pthread_mutex_destroy(&r->send_mu);
	pthread_mutex_destroy(&r->sync_mu);
	replay_ahead_free(&r->reapply);
	free(r);
}

void replica_status(struct replica *r, struct replica_status *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->st;
	out->epoch = epochs_current(&r->history);
	/* forget what is applied; the oldest record left waits longest (if
	 * it may be applied yet: not what the leader's readers cannot see) */
	while (r->recent_count > 0 && r->recent[r->recent_head].end <= r->st.applied_lsn) {
		r->recent_head = (r->recent_head + 1) % REPLICA_LAG_RING;
		r->recent_count--;
	}
	uint64_t ts = 0;
	if (r->recent_count > 0 && r->recent[r->recent_head].end <= atomic_load(&r->visible_lsn))
		ts = r->recent[r->recent_head].ts;
	pthread_mutex_unlock(&r->mu);
	uint64_t now = sl_wall_us();
	out->lag_ms = ts && now > ts ? (double)(now - ts) / 1000.0 : 0;
	out->staleness_ms = out->lag_ms;
	/* a leader heard from less than a heartbeat ago has told of its end */
	int64_t silent = sl_monotonic_ms() - atomic_load(&r->last_contact_ms);
	if (silent > REPLICA_SILENCE_MS && (double)silent > out->staleness_ms)
		out->staleness_ms = (double)silent;
}
