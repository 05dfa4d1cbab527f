/*
 * applier.c — applying the follower's log to its database, and knowing
 * after a crash how far that got.
 *
 * Physical records (page images): a run of the records available is
 * written straight into the database file with the readers kept out
 * (standby.c), then published to them. About once a second a syncer
 * thread fsyncs the file and log/db-position says the file holds
 * everything up to there.
 * Writing a page image twice does no harm, so after a crash the records
 * after db-position are simply applied again, before clients are served.
 *
 * Records are applied only up to what the leader says its own readers can
 * see (visible_lsn): with synchronous standbys, a commit becomes visible
 * nowhere before they acknowledged it. Before a record past the durably
 * kept visible position is applied, that position moves up to visible_lsn
 * (log/visible, replica.c), so after a restart the follower applies what
 * the leader had shown, and the rest waits for the leader to confirm it
 * (or to discard it when this node rejoins, rejoin.c).
 *
 * Logical records (changesets and DDL): a run is applied in one SQLite
 * transaction on a connection through the capture VFS (capture.h), whose
 * commit hook writes log/apply-commits before the commit frame reaches
 * the WAL: the LSN each of the last two apply transactions ends at, with
 * its WAL commit frame's salts and checksums. After a crash the WAL's last
 * valid commit frame says which of the two made it (none left in the WAL:
 * db-position, which the capture VFS's WAL-reset hook keeps). A changeset
 * is never applied twice, and a conflict stops apply with the reason
 * shown in sluice_status, never skipped.
 */
#include "replica_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"
#include "lsn.h"
#include "record.h"
#include "recovery.h"
#include "replay.h"
#include "sl_error.h"
#include "sl_time.h"

#define RUN_MAX 512           /* records per run at most */
#define RUN_BYTES (64u << 20) /* and about this many bytes */
#define NO_LSN UINT64_MAX
#define PAGES_SYNC_MS 1000    /* pages are fsynced (and db-position moved) this often */

/* --------------------------------------------------------- apply-commits */

static int write_commits(struct replica *r)
{
	char text[256], a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	const struct txnrec_walpos *p = r->commit_pos;
	snprintf(text, sizeof(text), "%s %08x %08x %08x %08x\n%s %08x %08x %08x %08x\n",
		 lsn_format(r->commit_lsn[0], a), p[0].salt1, p[0].salt2, p[0].cksum1, p[0].cksum2,
		 lsn_format(r->commit_lsn[1], b), p[1].salt1, p[1].salt2, p[1].cksum1, p[1].cksum2);
	return recovery_file_write(r->commits_path, text);
}

static int read_commits(struct replica *r)
{
	r->commit_lsn[0] = r->commit_lsn[1] = NO_LSN;
	memset(r->commit_pos, 0, sizeof(r->commit_pos));
	FILE *f = fopen(r->commits_path, "r");
	if (!f)
		return errno == ENOENT ? 0 : SL_EIO;
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		char lsn[LSN_TEXT_MAX + 8];
		struct txnrec_walpos *p = &r->commit_pos[i];
		if (fscanf(f, "%20s %x %x %x %x", lsn, &p->salt1, &p->salt2, &p->cksum1, &p->cksum2) != 5 ||
		    lsn_parse(lsn, &r->commit_lsn[i]) != 0)
			rc = SL_ECORRUPT;
	}
	fclose(f);
	return rc;
}

static bool same_pos(const struct txnrec_walpos *a, const struct txnrec_walpos *b)
{
	return a->salt1 == b->salt1 && a->salt2 == b->salt2 && a->cksum1 == b->cksum1 && a->cksum2 == b->cksum2;
}

/* Capture hook, applier thread, inside COMMIT: name the commit first. */
static int on_apply_commit(void *arg, const struct capture_commit *cc)
{
	struct replica *r = arg;
	r->commit_pos[0] = r->commit_pos[1];
	r->commit_lsn[0] = r->commit_lsn[1];
	r->commit_pos[1] = cc->walpos;
	r->commit_lsn[1] = r->pending_lsn;
	return write_commits(r);
}

/* Capture hook: the database file holds every apply transaction so far. */
static int on_apply_wal_reset(void *arg)
{
	struct replica *r = arg;
	pthread_mutex_lock(&r->mu);
	uint64_t applied = r->st.applied_lsn;
	pthread_mutex_unlock(&r->mu);
	int rc = recovery_base_write(r->base_path, applied);
	if (rc == 0)
		replog_trim(r->log); /* what was applied before is not needed any more */
	return rc;
}

int applier_recover(struct replica *r, uint64_t *applied, char *err, size_t errlen)
{
	uint64_t base;
	int rc = recovery_base_read(r->base_path, &base);
	if (rc != 0) {
		snprintf(err, errlen, "could not read \"%s\": %s", r->base_path, sl_strerror(rc));
		return rc;
	}
	if ((rc = read_commits(r)) != 0) {
		snprintf(err, errlen, "could not read \"%s\": %s", r->commits_path, sl_strerror(rc));
		return rc;
	}
	char wal[REPLICA_PATH_MAX + 8];
	snprintf(wal, sizeof(wal), "%s-wal", r->db_path);
	struct txnrec_walpos w;
	rc = recovery_wal_last_commit(wal, &w);
	if (rc < 0) {
		snprintf(err, errlen, "could not read \"%s\"", wal);
		return rc;
	}
	*applied = base;
	if (rc == 1) {
		if (r->commit_lsn[1] != NO_LSN && same_pos(&w, &r->commit_pos[1]))
			*applied = r->commit_lsn[1];
		else if (r->commit_lsn[0] != NO_LSN && same_pos(&w, &r->commit_pos[0]))
			*applied = r->commit_lsn[0];
		else {
			snprintf(err, errlen, "the database's WAL ends with a commit the apply state does not know");
			return SL_ECORRUPT;
		}
	}
	replay_ahead_free(&r->reapply);
	r->reapply_end = r->log ? replog_end_lsn(r->log) : 0;
	static const struct capture_hooks hooks_template = { on_apply_commit, on_apply_wal_reset, NULL, NULL };
	struct capture_hooks hooks = hooks_template;
	hooks.arg = r;
	if (capture_register(&hooks, false) != 0) {
		snprintf(err, errlen, "could not register the capture VFS");
		return SL_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ applying */

static void set_applied(struct replica *r, uint64_t lsn, unsigned sections)
{
	pthread_mutex_lock(&r->mu);
	r->st.applied_lsn = lsn;
	if (sections)
		r->st.log_mode = sections;
	pthread_mutex_unlock(&r->mu);
}

static uint64_t applied_lsn(struct replica *r)
{
	pthread_mutex_lock(&r->mu);
	uint64_t v = r->st.applied_lsn;
	pthread_mutex_unlock(&r->mu);
	return v;
}

/* A record read and decoded. */
struct item {
	struct record rec;
	struct buf raw;
	struct txnrec t;
};

static int decode(struct item *it, char *err, size_t errlen)
{
	char at[LSN_TEXT_MAX];
	int rc = record_payload(&it->rec, &it->raw);
	if (rc == 0 && txnrec_decode(it->raw.data, it->raw.len, &it->t) != 0)
		rc = SL_ECORRUPT;
	if (rc != 0)
		snprintf(err, errlen, "record at %s cannot be decoded: %s", lsn_format(it->rec.lsn, at),
			 sl_strerror(rc));
	return rc;
}

static int open_logical(struct replica *r, char *err, size_t errlen)
{
	if (r->logical_db)
		return 0;
	int rc = sqlite3_open_v2(r->db_path, &r->logical_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
				 CAPTURE_VFS_NAME);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(r->logical_db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "could not open the database for logical apply: %s",
			 r->logical_db ? sqlite3_errmsg(r->logical_db) : sqlite3_errstr(rc));
		sqlite3_close_v2(r->logical_db);
		r->logical_db = NULL;
		return SL_EIO;
	}
	sqlite3_busy_timeout(r->logical_db, 5000);
	return 0;
}

int applier_checkpoint(struct replica *r, char *err, size_t errlen)
{
	if (!r->logical_db)
		return 0;
	for (int tries = 0; tries < 600; tries++) {
		int log = -1, done = -1;
		int rc = sqlite3_wal_checkpoint_v2(r->logical_db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
		if (rc == SQLITE_OK && log == 0)
			break;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
			snprintf(err, errlen, "checkpoint before page apply failed: %s", sqlite3_errmsg(r->logical_db));
			return SL_EIO;
		}
		if (r->readers.cancel && tries % 10 == 9)
			r->readers.cancel(r->readers.arg);
		usleep(100000);
	}
	sqlite3_close_v2(r->logical_db);
	r->logical_db = NULL;
	return 0;
}

/* Before the record rec is applied: the leader showed it, durably so. */
static int cover_visible(struct replica *r, const struct record *rec, char *err, size_t errlen)
{
	uint64_t end = rec->lsn + record_size(rec);
	if (end <= r->visible_durable)
		return 0;
	uint64_t v = atomic_load(&r->visible_lsn);
	int rc = replica_visible_store(r, v > end ? v : end);
	if (rc != 0)
		snprintf(err, errlen, "could not keep the visible position: %s", sl_strerror(rc));
	return rc;
}

/* Pages of a run of physical records, then published and made durable. */
static int apply_physical_run(struct replica *r, struct replog_reader *rd, struct item *first, bool *reread,
			      char *err, size_t errlen)
{
	if (applier_checkpoint(r, err, errlen) != 0)
		return SL_EIO;
	if (r->serving &&
	    standby_exclude(&r->standby, r->cfg->max_standby_delay_ms, &r->readers, &r->apply_stop) != 0) {
		snprintf(err, errlen, "stopped while waiting for readers");
		return SL_EIO;
	}
	struct item *it = first;
	uint64_t end = 0;
	uint32_t db_pages = 0;
	int rc = 0, n = 0;
	char at[LSN_TEXT_MAX];
	for (;;) {
		struct replay_ahead *ahead = it->rec.lsn < r->reapply_end ? &r->reapply : NULL;
		if ((rc = replay_physical(r->db_fd, &it->t, ahead)) != 0) {
			snprintf(err, errlen, "could not write the pages of the record at %s: %s",
				 lsn_format(it->rec.lsn, at),
				 rc == SL_ECORRUPT ? "a page delta does not fit the page it is for" : sl_strerror(rc));
			break;
		}
		db_pages = it->t.db_pages;
		end = it->rec.lsn + record_size(&it->rec);
		if (ahead && end >= r->reapply_end) { /* every record applied before is applied again */
			r->reapply_end = 0;
			if ((rc = replay_ahead_check(r->db_fd, it->t.page_size, &r->reapply, err, errlen)) != 0)
				break;
		}
		if (++n >= RUN_MAX || atomic_load(&r->apply_stop))
			break;
		/* the next record, if one is there now and is physical too */
		if (replog_reader_next(rd, &it->rec, 0) != 0)
			break;
		if ((rc = cover_visible(r, &it->rec, err, errlen)) != 0)
			break;
		if (it->rec.type != RECORD_TXN || decode(it, err, errlen) != 0 ||
		    !(it->t.sections & TXNREC_PHYSICAL)) {
			*reread = true; /* not part of this run */
			break;
		}
	}
	if (r->serving) {
		if (n > 0 && standby_publish(&r->standby, db_pages) != 0 && rc == 0) {
			snprintf(err, errlen, "could not publish applied pages to readers");
			rc = SL_EIO;
		}
		standby_release(&r->standby);
	}
	if (n == 0)
		return rc;
	set_applied(r, end, TXNREC_PHYSICAL);
	atomic_store(&r->pages_dirty, true);
	receiver_ack(r);
	return rc;
}

/*
 * Makes the pages written so far durable and moves db-position to them.
 * Page images can be written twice, so this need not follow every run: a
 * crash only means the records since db-position are applied again at
 * start-up.
 */
static int sync_pages(struct replica *r, char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&r->sync_mu);
	/* every page of the runs up to the applied position was written
	 * before that position was set */
	if (atomic_exchange(&r->pages_dirty, false)) {
		uint64_t applied = applied_lsn(r);
		if (fdatasync(r->db_fd) != 0 || recovery_base_write(r->base_path, applied) != 0) {
			snprintf(err, errlen, "could not make the database file durable: %s", strerror(errno));
			rc = SL_EIO;
		} else {
			replog_retain(r->log, "apply", applied);
			replog_trim(r->log);
		}
	}
	pthread_mutex_unlock(&r->sync_mu);
	return rc;
}

/* The syncer thread: the fsync stays off the apply path. */
static void *sync_main(void *arg)
{
	struct replica *r = arg;
	char err[512];
	while (!atomic_load(&r->apply_stop)) {
		for (int waited = 0; waited < PAGES_SYNC_MS && !atomic_load(&r->apply_stop); waited += 50) {
			sl_sleep_ms(50);
			/* start writing the pages back now, a little at a time, so
			 * the fsync never has much to do (nor delays the log's) */
			if (atomic_load(&r->pages_dirty))
				sync_file_range(r->db_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		}
		if (sync_pages(r, err, sizeof(err)) != 0) {
			/* a disk that fails an fsync is not written again (fail-stop) */
			log_error("replica", "apply stopped: %s", err);
			replica_set_error(r, "%s", err);
			replica_set_state(r, REPLICA_STOPPED);
			atomic_store(&r->apply_stop, true);
			replog_wakeup(r->log);
		}
	}
	return NULL;
}

/* A run of logical records in one transaction. */
static int apply_logical_run(struct replica *r, struct replog_reader *rd, struct item *first, bool *reread,
			     char *err, size_t errlen)
{
	/* the changesets go on top of the pages: those must be durable first */
	if (sync_pages(r, err, errlen) != 0 || open_logical(r, err, errlen) != 0)
		return SL_EIO;
	sqlite3 *db = r->logical_db;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "could not begin an apply transaction: %s", sqlite3_errmsg(db));
		return SL_EIO;
	}
	struct item *it = first;
	uint64_t end = 0;
	int n = 0;
	size_t bytes = 0;
	for (;;) {
		char why[512];
		if (replay_logical(db, &it->t, why, sizeof(why)) != 0) {
			char at[LSN_TEXT_MAX];
			snprintf(err, errlen, "logical apply stopped at %s: %s", lsn_format(it->rec.lsn, at), why);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return SL_ECORRUPT;
		}
		end = it->rec.lsn + record_size(&it->rec);
		bytes += it->rec.payload_len;
		if (++n >= RUN_MAX || bytes >= RUN_BYTES || atomic_load(&r->apply_stop))
			break;
		if (replog_reader_next(rd, &it->rec, 0) != 0)
			break;
		if (cover_visible(r, &it->rec, err, errlen) != 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return SL_EIO;
		}
		if (it->rec.type != RECORD_TXN || decode(it, err, errlen) != 0 || (it->t.sections & TXNREC_PHYSICAL) ||
		    !(it->t.sections & TXNREC_LOGICAL)) {
			*reread = true; /* not part of this run */
			break;
		}
	}
	r->pending_lsn = end;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "could not commit an apply transaction: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return SL_EIO;
	}
	set_applied(r, end, TXNREC_LOGICAL);
	replog_retain(r->log, "apply", end);
	receiver_ack(r);
	return 0;
}

/*
 * Applies what the log holds from the applied position, until it has
 * nothing more within wait_ms (then returns 0) or apply_stop. An error
 * stops apply: SL_ code with err.
 */
static int apply_available(struct replica *r, int wait_ms, char *err, size_t errlen)
{
	struct replog_reader *rd = NULL;
	struct item it;
	memset(&it, 0, sizeof(it));
	buf_init(&it.raw);
	int rc = 0;
	while (!atomic_load(&r->apply_stop)) {
		uint64_t from = applied_lsn(r);
		if (!rd && (rc = replog_reader_open(r->log, from, &rd)) != 0) {
			char at[LSN_TEXT_MAX];
			snprintf(err, errlen, "the follower's log does not hold its applied position %s",
				 lsn_format(from, at));
			break;
		}
		replog_reader_set_limit(rd, &r->visible_lsn);
		rc = replog_reader_next(rd, &it.rec, wait_ms);
		if (rc == SL_ETIMEDOUT) {
			rc = 0;
			break;
		}
		if (rc != 0) {
			snprintf(err, errlen, "could not read the follower's log: %s", sl_strerror(rc));
			break;
		}
		if ((rc = cover_visible(r, &it.rec, err, errlen)) != 0)
			break;
		if (it.rec.type != RECORD_TXN) {
			set_applied(r, it.rec.lsn + record_size(&it.rec), 0);
			continue;
		}
		if ((rc = decode(&it, err, errlen)) != 0)
			break;
		bool reread = false;
		if (it.t.sections & TXNREC_PHYSICAL) {
			rc = apply_physical_run(r, rd, &it, &reread, err, errlen);
		} else {
			rc = apply_logical_run(r, rd, &it, &reread, err, errlen);
		}
		if (rc != 0)
			break;
		if (reread) {
			replog_reader_close(rd);
			rd = NULL;
		}
	}
	if (rd)
		replog_reader_close(rd);
	buf_free(&it.raw);
	return rc;
}

static void *apply_main(void *arg)
{
	struct replica *r = arg;
	char err[1024];
	while (!atomic_load(&r->apply_stop)) {
		int rc = apply_available(r, 200, err, sizeof(err));
		if (rc != 0 && !atomic_load(&r->apply_stop)) {
			log_error("replica", "apply stopped: %s", err);
			replica_set_error(r, "%s", err);
			replica_set_state(r, REPLICA_STOPPED);
			break;
		}
	}
	return NULL;
}

int applier_start(struct replica *r, uint64_t from)
{
	char err[512];
	set_applied(r, from, 0);
	/* what the leader had shown, as far as this node knows durably */
	atomic_store(&r->visible_lsn, r->visible_durable > from ? r->visible_durable : from);
	replog_retain(r->log, "apply", from);
	atomic_store(&r->apply_stop, false);
	if (r->db_fd < 0 && (r->db_fd = open(r->db_path, O_RDWR | O_CLOEXEC)) < 0) {
		log_error("replica", "could not open \"%s\": %s", r->db_path, strerror(errno));
		return SL_EIO;
	}
	if (!r->serving) {
		/* before clients come: the database must be whole (a crash may
		 * have left a run of pages half written) */
		int rc = apply_available(r, 0, err, sizeof(err));
		if (rc == 0)
			rc = sync_pages(r, err, sizeof(err));
		if (rc != 0) {
			log_error("replica", "could not bring the database up to its log: %s", err);
			replica_set_error(r, "%s", err);
		}
		return 0;
	}
	if (!r->standby.db && standby_open(&r->standby, r->db_path, err, sizeof(err)) != 0) {
		log_error("replica", "%s", err);
		return SL_EIO;
	}
	if (pthread_create(&r->apply_thread, NULL, apply_main, r) != 0)
		return SL_EIO;
	r->apply_running = true;
	if (pthread_create(&r->sync_thread, NULL, sync_main, r) != 0)
		return SL_EIO;
	r->sync_running = true;
	return 0;
}

void applier_stop(struct replica *r)
{
	atomic_store(&r->apply_stop, true);
	if (r->apply_running) {
		replog_wakeup(r->log);
		pthread_join(r->apply_thread, NULL);
		r->apply_running = false;
	}
	if (r->sync_running) {
		pthread_join(r->sync_thread, NULL);
		r->sync_running = false;
	}
	char err[512];
	if (sync_pages(r, err, sizeof(err)) != 0)
		log_error("replica", "%s", err);
}
