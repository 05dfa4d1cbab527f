/*
 * commitlog.c — the leader's commit path into the replication log (see
 * commitlog.h).
 *
 * Files in data_dir/log besides the segments: `epochs`, the epoch history
 * (epochs.h), and `db-position`, the LSN up to which the database file
 * itself holds every transaction (recovery.h). That position is rewritten
 * whenever SQLite starts the WAL over, truncates or removes it, which is
 * also when retention may drop the segments before it.
 */
#include "commitlog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture.h"
#include "epochrec.h"
#include "epochs.h"
#include "lastpages.h"
#include "log.h"
#include "lsn.h"
#include "recovery.h"
#include "sl_error.h"
#include "sl_time.h"

#define LASTPAGES_BYTES (4u << 20) /* last page images kept for deltas */

struct commitlog {
	struct replog *log;
	struct epochs history;
	enum log_mode mode;
	uint64_t epoch;
	char base_path[4096];
	/* writer thread only */
	struct buf items; /* staged logical items of the commit under way */
	uint32_t nitems;
	struct buf payload;
	struct lastpages *lastpages; /* physical: pages go as deltas against these */
	uint64_t last_txn_end; /* the WAL holds every TXN record before this */
	atomic_uint_fast64_t last_commit_lsn;
	atomic_bool failed;
	/* commits are refused: leadership is moving. fence_mu is held from
	 * the check to the record's fsync, so once commitlog_fence returns no
	 * record is on its way into the log */
	pthread_mutex_t fence_mu;
	atomic_bool fenced;
	const struct lease *lease;
	uint64_t want_epoch;
	/* the writer waits here for synchronous standbys (commitlog_set_waiter) */
	void (*wait)(void *arg, uint64_t end_lsn);
	void *wait_arg;
	/*
	 * Held by the writer from when a commit's record is durable and
	 * acknowledged until SQLite has published the commit (write_end), and
	 * by a snapshot while it opens its read transaction: so a snapshot
	 * knows exactly which records it holds. published_end: the end of the
	 * last published TXN.
	 */
	pthread_mutex_t publish_mu;
	bool publishing; /* writer thread only */
	atomic_uint_fast64_t published_end;
};

int log_mode_parse(const char *name)
{
	if (strcmp(name, "physical") == 0)
		return LOG_MODE_PHYSICAL;
	if (strcmp(name, "logical") == 0)
		return LOG_MODE_LOGICAL;
	if (strcmp(name, "both") == 0)
		return LOG_MODE_BOTH;
	return -1;
}

const char *log_mode_name(enum log_mode mode)
{
	return mode == LOG_MODE_PHYSICAL ? "physical" : mode == LOG_MODE_LOGICAL ? "logical" : "both";
}

static int fail_log(struct commitlog *cl, int rc, const char *what)
{
	atomic_store(&cl->failed, true);
	log_error("commitlog", "could not %s the replication log, writes are stopped: %s", what, sl_strerror(rc));
	return SL_EIO;
}

static int log_commit(struct commitlog *cl, const struct capture_commit *cc);

/* The capture hook: one durable TXN record for the commit. */
static int on_commit(void *arg, const struct capture_commit *cc)
{
	struct commitlog *cl = arg;
	if (atomic_load(&cl->failed))
		return SL_EIO;
	pthread_mutex_lock(&cl->fence_mu);
	/* nothing of it reaches the log while fenced or without the lease */
	int rc = commitlog_fenced(cl) ? SL_EFENCED : log_commit(cl, cc);
	pthread_mutex_unlock(&cl->fence_mu);
	if (rc != 0)
		return rc;
	/* durable here; SQLite publishes it once this returns */
	if (cl->wait)
		cl->wait(cl->wait_arg, cl->last_txn_end);
	pthread_mutex_lock(&cl->publish_mu);
	cl->publishing = true;
	return 0;
}

/* The capture hook: the commit is visible now. */
static void on_write_end(void *arg)
{
	struct commitlog *cl = arg;
	if (!cl->publishing)
		return;
	atomic_store(&cl->published_end, cl->last_txn_end);
	cl->publishing = false;
	pthread_mutex_unlock(&cl->publish_mu);
	replog_wakeup(cl->log); /* senders tell followers what is visible now */
}

static int log_commit(struct commitlog *cl, const struct capture_commit *cc)
{
	struct buf *b = &cl->payload;
	buf_reset(b);
	b->oom = false;
	txnrec_put_header(b, cl->mode, &cc->walpos);
	if (cl->mode & TXNREC_PHYSICAL) {
		txnrec_put_physical(b, cc->page_size, cc->db_pages, (uint32_t)cc->npages);
		for (size_t i = 0; i < cc->npages; i++)
			lastpages_put(cl->lastpages, b, cc->pages[i].pgno, cc->pages[i].data, cc->page_size);
	}
	if (cl->mode & TXNREC_LOGICAL) {
		txnrec_put_logical(b, cl->nitems);
		buf_append(b, cl->items.data, cl->items.len);
	}
	commitlog_unstage(cl);
	if (b->oom) {
		lastpages_abort(cl->lastpages);
		return SL_ENOMEM;
	}
	uint64_t lsn;
	int rc = replog_append(cl->log, cl->epoch, sl_wall_us(), RECORD_TXN, b->data, b->len, &lsn);
	if (rc == 0)
		lastpages_commit(cl->lastpages, cc->db_pages);
	else
		lastpages_abort(cl->lastpages);
	if (rc == SL_ETOOBIG) {
		log_error("commitlog", "transaction too large for one log record bytes=%zu", b->len);
		return rc; /* nothing was written: this commit fails, later ones may not */
	}
	if (rc != 0)
		return fail_log(cl, rc, "write");
	if ((rc = replog_sync(cl->log)) != 0)
		return fail_log(cl, rc, "fsync");
	cl->last_txn_end = replog_end_lsn(cl->log);
	atomic_store(&cl->last_commit_lsn, lsn);
	if (b->cap > (64u << 20)) {
		buf_free(b); /* do not keep a huge transaction's buffer */
		buf_init(b);
	}
	return 0;
}

/* The capture hook: the database file holds every commit so far. */
static int on_wal_reset(void *arg)
{
	struct commitlog *cl = arg;
	int rc = recovery_base_write(cl->base_path, cl->last_txn_end);
	if (rc != 0)
		return fail_log(cl, rc, "record the database position for");
	replog_retain(cl->log, "local", cl->last_txn_end);
	int removed = replog_trim(cl->log);
	if (removed > 0)
		log_info("commitlog", "removed old log segments count=%d", removed);
	return 0;
}

/*
 * Every leadership start opens a new epoch: an EPOCH record at the end of
 * the log, durable, then the history says so, all before the first write.
 * A node that led or followed before thus never writes under an epoch in
 * which another node may have written too, and a follower whose log runs
 * past where this epoch starts is found diverged (epochs_check).
 */
static int start_epoch(struct commitlog *cl, const char *node_name, char *err, size_t errlen)
{
	uint64_t epoch = epochs_current(&cl->history) + 1;
	if (replog_last_epoch(cl->log) >= epoch)
		epoch = replog_last_epoch(cl->log) + 1; /* never below a record's epoch */
	if (cl->want_epoch > epoch)
		epoch = cl->want_epoch; /* the epoch this node was elected for */
	struct buf b;
	buf_init(&b);
	uint64_t lsn = 0;
	int rc = epochrec_encode(&b, epoch, node_name);
	if (rc == 0 && b.oom)
		rc = SL_ENOMEM;
	if (rc == 0)
		rc = replog_append(cl->log, epoch, sl_wall_us(), RECORD_EPOCH, b.data, b.len, &lsn);
	if (rc == 0)
		rc = replog_sync(cl->log);
	if (rc == 0)
		rc = epochs_append(&cl->history, epoch, lsn, node_name);
	buf_free(&b);
	if (rc != 0) {
		snprintf(err, errlen, "could not start epoch %" PRIu64 ": %s", epoch, sl_strerror(rc));
		return rc;
	}
	cl->epoch = epoch;
	char at[LSN_TEXT_MAX];
	log_info("commitlog", "started epoch epoch=%" PRIu64 " lsn=%s leader=%s", epoch, lsn_format(lsn, at),
		 node_name);
	return 0;
}

int commitlog_open(struct commitlog **out, const struct commitlog_options *opt, char *err, size_t errlen)
{
	struct commitlog *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	cl->mode = opt->mode;
	cl->lease = opt->lease;
	cl->want_epoch = opt->epoch;
	pthread_mutex_init(&cl->publish_mu, NULL);
	pthread_mutex_init(&cl->fence_mu, NULL);
	buf_init(&cl->items);
	buf_init(&cl->payload);
	if ((cl->mode & TXNREC_PHYSICAL) && !(cl->lastpages = lastpages_new(LASTPAGES_BYTES))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	char dir[3800], path[4000];
	snprintf(dir, sizeof(dir), "%s/log", opt->data_dir);
	snprintf(cl->base_path, sizeof(cl->base_path), "%s/db-position", dir);
	snprintf(path, sizeof(path), "%s/epochs", dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "could not create \"%s\": %s", dir, strerror(errno));
		goto fail;
	}
	int rc = replog_open(&cl->log, dir, 0, &opt->log, err, errlen);
	if (rc == 0)
		rc = epochs_load(&cl->history, path, err, errlen);
	uint64_t redone = 0;
	if (rc == 0)
		rc = recovery_run(cl->log, opt->db_path, cl->base_path, &redone, err, errlen);
	if (rc == 0)
		rc = start_epoch(cl, opt->node_name, err, errlen);
	if (rc != 0)
		goto fail;
	cl->last_txn_end = replog_end_lsn(cl->log);
	atomic_store(&cl->last_commit_lsn, cl->last_txn_end);
	replog_retain(cl->log, "local", cl->last_txn_end);
	atomic_store(&cl->published_end, cl->last_txn_end);
	struct capture_hooks hooks = { on_commit, on_wal_reset, on_write_end, cl };
	if (capture_register(&hooks, cl->mode & TXNREC_PHYSICAL) != 0) {
		snprintf(err, errlen, "could not register the capture VFS");
		goto fail;
	}
	char at[LSN_TEXT_MAX];
	log_info("commitlog", "replication log open mode=%s epoch=%" PRIu64 " end=%s", log_mode_name(cl->mode),
		 cl->epoch, lsn_format(replog_end_lsn(cl->log), at));
	*out = cl;
	return 0;
fail:
	commitlog_close(cl);
	return SL_EIO;
}

void commitlog_close(struct commitlog *cl)
{
	if (!cl)
		return;
	if (cl->log)
		replog_close(cl->log);
	epochs_free(&cl->history);
	buf_free(&cl->items);
	buf_free(&cl->payload);
	lastpages_free(cl->lastpages);
	pthread_mutex_destroy(&cl->publish_mu);
	pthread_mutex_destroy(&cl->fence_mu);
	free(cl);
}

struct replog *commitlog_replog(struct commitlog *cl) { return cl->log; }

enum log_mode commitlog_mode(const struct commitlog *cl) { return cl->mode; }

uint64_t commitlog_epoch(const struct commitlog *cl) { return cl->epoch; }

uint64_t commitlog_last_commit_lsn(struct commitlog *cl) { return atomic_load(&cl->last_commit_lsn); }

bool commitlog_failed(struct commitlog *cl) { return atomic_load(&cl->failed) || capture_failed(); }

void commitlog_fence(struct commitlog *cl, bool fenced)
{
	pthread_mutex_lock(&cl->fence_mu);
	atomic_store(&cl->fenced, fenced);
	pthread_mutex_unlock(&cl->fence_mu);
}

bool commitlog_fenced(struct commitlog *cl) { return commitlog_fence_reason(cl) != NULL; }

const char *commitlog_fence_reason(struct commitlog *cl)
{
	if (atomic_load(&cl->fenced))
		return "leadership is moving to another node";
	if (!lease_holds(cl->lease))
		return "this node lost its leader lease";
	return NULL;
}

int commitlog_stage_logical(struct commitlog *cl, struct logical *lg)
{
	commitlog_unstage(cl);
	return logical_finish(lg, &cl->items, &cl->nitems);
}

void commitlog_unstage(struct commitlog *cl)
{
	buf_reset(&cl->items);
	cl->items.oom = false;
	cl->nitems = 0;
}

const struct epochs *commitlog_history(const struct commitlog *cl) { return &cl->history; }

void commitlog_set_waiter(struct commitlog *cl, void (*wait)(void *arg, uint64_t end_lsn), void *arg)
{
	cl->wait = wait;
	cl->wait_arg = arg;
}

uint64_t commitlog_published_end(struct commitlog *cl) { return atomic_load(&cl->published_end); }

int commitlog_snapshot(struct commitlog *cl, int (*begin_read)(void *arg), void *arg, uint64_t *lsn)
{
	pthread_mutex_lock(&cl->publish_mu);
	int rc = begin_read(arg);
	*lsn = atomic_load(&cl->published_end);
	pthread_mutex_unlock(&cl->publish_mu);
	return rc;
}
