/*
 * rejoin.c — a follower whose log has left its leader's history.
 *
 * Two things find the place where the histories part: the follower itself,
 * comparing its epoch history with the one in the leader's WELCOME (two
 * nodes promoted in the same epoch disagree on who started it, or where),
 * and the leader, checking the follower's FOLLOW position against its own
 * history and log end (a log that runs past where the leader's next epoch
 * starts, or past the leader's end), which it answers with TRUNCATE.
 *
 * Either way the records past that place are no part of the cluster's
 * history: they are copied into DATA_DIR/discarded/LSN (a log directory
 * that `sluice log dump` reads) and the log says how many and which LSN
 * range. If none of them was applied to the database, the log is cut
 * back there, the follower takes the leader's history and streams on.
 * Otherwise the database holds what the leader never had: no new read
 * starts and those under way are cancelled (SQLSTATE 40001) until the
 * follower has fetched and installed a new snapshot.
 *
 * Receiver thread only.
 */
#include "replica_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "lsn.h"
#include "sl_error.h"

/* The leader's history from WELCOME, as epoch entries. NULL when empty or
 * out of memory (*n says which). */
static struct epoch_entry *welcome_history(const struct peer_welcome *w, size_t *n)
{
	*n = w->nepochs;
	if (w->nepochs == 0)
		return NULL;
	struct epoch_entry *v = calloc(w->nepochs, sizeof(*v));
	for (uint32_t i = 0; v && i < w->nepochs; i++) {
		v[i].epoch = w->epochs[i].epoch;
		v[i].start_lsn = w->epochs[i].start_lsn;
		snprintf(v[i].leader, sizeof(v[i].leader), "%.*s", EPOCHS_LEADER_MAX - 1, w->epochs[i].leader);
	}
	return v;
}

int rejoin_check_history(struct replica *r, const struct peer_welcome *w, uint64_t *at, char *err, size_t errlen)
{
	size_t n;
	struct epoch_entry *theirs = welcome_history(w, &n);
	if (n > 0 && !theirs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&r->mu);
	enum epochs_parting v = epochs_compare(&r->history, theirs, n, at);
	uint64_t ours = epochs_current(&r->history);
	/* a prefix of the leader's: add the epochs this node has not seen */
	int rc = v == EPOCHS_SAME && n > r->history.n ? epochs_replace(&r->history, theirs, n) : 0;
	pthread_mutex_unlock(&r->mu);
	free(theirs);
	if (rc != 0) {
		snprintf(err, errlen, "could not add the leader's epochs to the history: %s", sl_strerror(rc));
		return -1;
	}
	if (v == EPOCHS_NEWER) {
		snprintf(err, errlen,
			 "%s is not the current leader: its newest epoch is %" PRIu64 ", this node knows epoch %" PRIu64,
			 w->node_name, n ? w->epochs[n - 1].epoch : 0, ours);
		return -1;
	}
	if (v == EPOCHS_SAME)
		return 0;
	return *at < replog_end_lsn(r->log) ? 1 : 0;
}

/* Copies the records from `at` to the end of the log into a log
 * directory of their own. 0, or -1 with err. */
static int save_discarded(struct replica *r, uint64_t at, char *path, size_t pathlen, unsigned *count, char *err,
			  size_t errlen)
{
	char dir[REPLICA_PATH_MAX + 32];
	char at_hex[17];
	snprintf(at_hex, sizeof(at_hex), "%016" PRIX64, at);
	snprintf(dir, sizeof(dir), "%s/discarded", r->cfg->data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "could not create \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	for (int i = 0;; i++) {
		if (i == 0)
			snprintf(path, pathlen, "%s/%s", dir, at_hex);
		else
			snprintf(path, pathlen, "%s/%s.%d", dir, at_hex, i);
		if (stat(path, &st) != 0)
			break;
	}
	struct replog_options o = { .segment_size = (uint64_t)r->cfg->log_segment_size };
	struct replog *out = NULL;
	struct replog_reader *rd = NULL;
	struct record rec;
	struct buf enc;
	buf_init(&enc);
	*count = 0;
	int rc = mkdir(path, 0700) == 0 ? 0 : SL_EIO;
	if (rc == 0)
		rc = replog_open(&out, path, at, &o, err, errlen);
	if (rc == 0)
		rc = replog_reader_open(r->log, at, &rd);
	while (rc == 0 && replog_reader_position(rd) < replog_end_lsn(r->log)) {
		if ((rc = replog_reader_next(rd, &rec, 0)) != 0)
			break;
		buf_reset(&enc);
		struct record copy;
		if ((rc = record_encode_stored(&enc, &rec)) == 0 && enc.oom)
			rc = SL_ENOMEM;
		if (rc == 0)
			rc = replog_append_encoded(out, enc.data, enc.len, &copy);
		if (rc == 0 && rec.type == RECORD_TXN)
			(*count)++;
	}
	if (rc == 0)
		rc = replog_sync(out);
	if (rd)
		replog_reader_close(rd);
	if (out)
		replog_close(out);
	buf_free(&enc);
	if (rc != 0 && !err[0])
		snprintf(err, errlen, "could not keep the discarded records in \"%s\": %s", path, sl_strerror(rc));
	return rc == 0 ? 0 : -1;
}

/* Serve nothing more of a database that holds discarded transactions; the
 * snapshot's installation opens the gate again (standby.c). */
static void stop_reads(struct replica *r)
{
	if (!r->serving)
		return;
	if (r->readers.gate)
		r->readers.gate(r->readers.arg, REPLICA_GATE_REFETCHING);
	if (r->readers.cancel)
		r->readers.cancel(r->readers.arg);
}

enum rejoin_result rejoin_discard(struct replica *r, uint64_t at, const struct peer_welcome *w, char *err,
				  size_t errlen)
{
	uint64_t end = replog_end_lsn(r->log), start = replog_start_lsn(r->log);
	char a[LSN_TEXT_MAX], b[LSN_TEXT_MAX];
	pthread_mutex_lock(&r->mu);
	uint64_t applied = r->st.applied_lsn;
	pthread_mutex_unlock(&r->mu);
	if (at < start) {
		log_warn("replica", "the log parts from the leader's before it starts at=%s start=%s",
			 lsn_format(at, a), lsn_format(start, b));
		stop_reads(r);
		return REJOIN_REBOOTSTRAP;
	}
	if (at < end) {
		char path[REPLICA_PATH_MAX + 64];
		unsigned count;
		if (save_discarded(r, at, path, sizeof(path), &count, err, errlen) != 0)
			return REJOIN_FAILED;
		log_warn("replica",
			 "discarded transactions that are not on the leader's history records=%u from=%s to=%s file=%s",
			 count, lsn_format(at, a), lsn_format(end, b), path);
	}
	if (applied > at) {
		log_warn("replica", "the database holds discarded transactions: fetching a new snapshot applied=%s",
			 lsn_format(applied, a));
		stop_reads(r);
		return REJOIN_REBOOTSTRAP;
	}
	applier_stop(r);
	int rc = at < end ? replog_truncate(r->log, at) : 0;
	size_t n;
	struct epoch_entry *theirs = welcome_history(w, &n);
	if (rc == 0 && n > 0) {
		pthread_mutex_lock(&r->mu);
		rc = theirs ? epochs_replace(&r->history, theirs, n) : SL_ENOMEM;
		r->st.flushed_lsn = replog_end_lsn(r->log);
		r->st.last_epoch = replica_last_epoch(r);
		pthread_mutex_unlock(&r->mu);
	}
	free(theirs);
	if (rc == 0)
		rc = replica_visible_store(r, applied);
	if (rc == 0)
		rc = applier_start(r, applied);
	if (rc != 0) {
		snprintf(err, errlen, "could not cut the log back to %s: %s", lsn_format(at, a), sl_strerror(rc));
		return REJOIN_FAILED;
	}
	log_info("replica", "log cut back to the leader's history at=%s", lsn_format(at, a));
	return REJOIN_FOLLOW;
}
