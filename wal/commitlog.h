/*
 * commitlog.h — the leader's side of the replication log.
 *
 * At start-up commitlog_open opens the log, reconciles the database with
 * it (recovery.h), starts the first epoch on a new log, and registers the
 * capture VFS (capture.h) so that every commit of the writer connection
 * becomes one durable TXN record before SQLite publishes it.
 *
 * Its capture hooks run on the writer thread inside SQLite's COMMIT. The
 * writer stages the transaction's logical items just before COMMIT
 * (commitlog_stage_logical); the hook adds the page images, appends the
 * record and fsyncs the log, then waits for synchronous standbys (the
 * waiter) before SQLite may publish the commit. Group commit comes from
 * the writer batching the transactions of many sessions into one SQLite
 * transaction, so one record, one fsync and one wait serve them all. A write or fsync error fails the
 * log for good: the commit fails, and so does every later one.
 */
#ifndef SL_COMMITLOG_H
#define SL_COMMITLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "epochs.h"
#include "lease.h"
#include "logical.h"
#include "replog.h"
#include "txnrec.h"

enum log_mode {
	LOG_MODE_PHYSICAL = TXNREC_PHYSICAL,
	LOG_MODE_LOGICAL = TXNREC_LOGICAL,
	LOG_MODE_BOTH = TXNREC_PHYSICAL | TXNREC_LOGICAL,
};

/* "physical", "logical" or "both"; -1 when unknown. */
int log_mode_parse(const char *name);
const char *log_mode_name(enum log_mode mode);

struct commitlog_options {
	const char *data_dir;  /* the log lives in data_dir/log */
	const char *db_path;
	const char *node_name; /* leader id in the epoch history */
	enum log_mode mode;
	struct replog_options log;
	uint64_t epoch;        /* the epoch to open at least (an election's); 0: the next one */
	const struct lease *lease; /* commits only while it holds (NULL: always) */
};

struct commitlog;

int commitlog_open(struct commitlog **out, const struct commitlog_options *opt, char *err, size_t errlen);
/* After every connection through the capture VFS is closed. */
void commitlog_close(struct commitlog *cl);

struct replog *commitlog_replog(struct commitlog *cl);
enum log_mode commitlog_mode(const struct commitlog *cl);
uint64_t commitlog_epoch(const struct commitlog *cl);
/* LSN of the last TXN record made durable. */
uint64_t commitlog_last_commit_lsn(struct commitlog *cl);
/* A write or fsync of the log failed: no more commits. */
bool commitlog_failed(struct commitlog *cl);
/* While fenced every commit is refused before it reaches the log (it
 * fails, and SQLite rolls it back): the log's end stays where it is while
 * leadership moves to another node. Once commitlog_fence(cl, true)
 * returns, no record is on its way into the log. Any thread. */
void commitlog_fence(struct commitlog *cl, bool fenced);
/* Fenced, or without the lease (commitlog_options.lease). */
bool commitlog_fenced(struct commitlog *cl);
/* Why commits are refused now: "leadership is moving to another node" or
 * "this node lost its leader lease"; NULL when they are not. */
const char *commitlog_fence_reason(struct commitlog *cl);

/* The epoch history (changes only when a new epoch starts). */
const struct epochs *commitlog_history(const struct commitlog *cl);
/*
 * For a snapshot: calls begin_read(arg), which opens a read transaction,
 * while no commit is between its record and its publication, and sets
 * *lsn to the end of the last TXN record that transaction sees (every
 * record before *lsn is in it, none after). Returns begin_read's result.
 */
int commitlog_snapshot(struct commitlog *cl, int (*begin_read)(void *arg), void *arg, uint64_t *lsn);
/*
 * Once, before the first commit: wait(arg, end_lsn) runs on the writer
 * thread inside every commit, after its record (ending at end_lsn) is
 * durable here and before SQLite publishes the commit to readers. It
 * waits for what else must hold the commit first (synchronous standbys);
 * whatever it finds, the commit then goes on.
 */
void commitlog_set_waiter(struct commitlog *cl, void (*wait)(void *arg, uint64_t end_lsn), void *arg);
/* The end of the last TXN record readers can see (followers may apply up to it). */
uint64_t commitlog_published_end(struct commitlog *cl);
/* Writer thread, just before COMMIT: the transaction's logical items. */
int commitlog_stage_logical(struct commitlog *cl, struct logical *lg);
/* Writer thread, after a COMMIT that failed or a ROLLBACK. */
void commitlog_unstage(struct commitlog *cl);

#endif
