/*
 * replog.c — the replication log on disk (see replog.h): a directory of
 * segment files (format: segment.c) holding records (format: record.c).
 * Readers are in replog_reader.c; the shared struct is replog_internal.h.
 *
 * THE LOG DIRECTORY
 *
 * The directory holds segment files "%016llX.seg", named by their start
 * LSN, and nothing else of ours but transient "*.seg.tmp" files. Sorted by
 * start LSN, each segment starts exactly where the one before ends. The
 * last segment is the one being written; the log's end is the end of its
 * records. One process at a time: replog_open takes flock(LOCK_EX) on the
 * directory.
 *
 * APPENDING
 *
 * One writer at a time appends a record with pwrite at the end of the last
 * segment, and makes it durable with replog_sync (fdatasync of every
 * segment written since the last sync). A record never spans segments:
 * when it does not fit in what is left of the last segment, the last
 * segment is first fdatasynced and a new one is created at the end LSN,
 * preallocated to segment_size (or just big enough for a larger record);
 * creation fsyncs the directory. Syncing the old segment before a newer
 * one exists means that every segment but the last is always complete on
 * disk, so damage in any but the last one is never a torn write.
 *
 * Durability follows PostgreSQL's lesson from "fsyncgate": after a failed
 * write or fsync the kernel may have dropped the dirty pages, and a retry
 * that succeeds proves nothing. So any write or sync error fails the log
 * for good: every later append, sync and truncate returns SL_EIO until the
 * process reopens the log (which rescans what really is on disk).
 * durable_lsn moves only after a successful sync, and readers only see
 * records below it.
 *
 * OPENING: FINDING THE END, CUTTING A TORN TAIL
 *
 * replog_open scans every segment in order (segment_scan). Each must start
 * at the previous one's end, else the log is corrupt (SL_ECORRUPT naming
 * both files). Where a segment's records stop says what happened:
 *
 *   - zeros (or the end of the file): the clean end of that segment;
 *   - a bad record in any but the last segment, or a bad record in the
 *     last one with a plausible length after which a valid record with the
 *     right LSN decodes: damage in the middle of the log, which would lose
 *     committed records if cut. SL_ECORRUPT, "corrupt record in log segment
 *     F at offset O (LSN L): why";
 *   - any other bad record in the last segment: a write torn by a crash.
 *     It was never synced, so never acknowledged: a warning names file,
 *     offset and LSN, and the bytes from there to the end of the file are
 *     zeroed (ftruncate to the cut, posix_fallocate back), then fsynced.
 *
 * Stray non-zero bytes after a clean end of the last segment are zeroed
 * the same way, so the next append never leaves old bytes after it. Then
 * every segment is fdatasynced (the previous process may have died with
 * written but unsynced pages) and the whole log counts as durable.
 *
 * TRUNCATION AND RETENTION
 *
 * replog_truncate cuts back to a record boundary: later segments are
 * unlinked (newest first, then the directory fsynced), and the rest of the
 * segment holding the cut is zeroed and fsynced. Readers past the cut get
 * SL_ENOTFOUND. Retention (replog_trim) unlinks whole segments from the
 * oldest on while they end at or before what every consumer needs and the
 * log keeps at least keep_size bytes, or while the files exceed max_size
 * (then even needed segments go, which is logged) — never past what
 * "local" needs and never the last segment. The directory is not fsynced
 * after a trim: if an unlink is lost in a crash, the old segment comes
 * back still contiguous with the rest, and is trimmed again.
 */
#include "replog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "lsn.h"
#include "replog_internal.h"
#include "sl_error.h"

#define REPLOG_DEFAULT_SEGMENT_SIZE (64ull * 1024 * 1024)
#define REPLOG_MAX_SEGMENT_SIZE (1ull << 40)
#define REPLOG_ENC_KEEP (16u * 1024 * 1024) /* encode buffer kept between appends */
#define REPLOG_LOCAL "local"

size_t replog_find_segment(const struct replog *l, uint64_t lsn)
{
	size_t lo = 0, hi = l->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->segs[mid]->start_lsn <= lsn)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static struct segment *replog_last(const struct replog *l)
{
	return l->segs[l->nsegs - 1];
}

/* Marks the log failed for good and wakes readers; write_mu held. */
static void replog_set_failed(struct replog *l)
{
	pthread_mutex_lock(&l->mu);
	l->failed = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mu);
}

/* Logs a failed write or sync (errno) and fails the log; write_mu held. */
static int replog_fail(struct replog *l, const char *what, const char *name)
{
	char ebuf[128];
	const char *msg = strerror_r(errno, ebuf, sizeof(ebuf));
	log_error("replog", "could not %s: %s; the log refuses writes until it is reopened file=%s/%s", what, msg,
		  l->dir, name);
	replog_set_failed(l);
	return SL_EIO;
}

/* Room for one more segment pointer. */
static int replog_reserve_slot(struct replog *l)
{
	if (l->nsegs < l->segs_cap)
		return 0;
	size_t cap = l->segs_cap ? l->segs_cap * 2 : 16;
	struct segment **v = realloc(l->segs, cap * sizeof(*v));
	if (!v)
		return SL_ENOMEM;
	l->segs = v;
	l->segs_cap = cap;
	return 0;
}

/* ------------------------------------------------------------ opening */

static int replog_new(struct replog **out, const char *dir, const struct replog_options *opt, char *err,
		      size_t errlen)
{
	pthread_condattr_t attr;
	struct replog *l = calloc(1, sizeof(*l));
	if (!l || !(l->dir = strdup(dir))) {
		free(l);
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	l->dirfd = -1;
	if (opt)
		l->opt = *opt;
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->write_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &attr);
	pthread_condattr_destroy(&attr);
	buf_init(&l->enc);
	segment_window_init(&l->win);
	*out = l;
	if (l->opt.segment_size == 0)
		l->opt.segment_size = REPLOG_DEFAULT_SEGMENT_SIZE;
	if (l->opt.segment_size < SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE ||
	    l->opt.segment_size > REPLOG_MAX_SEGMENT_SIZE) {
		snprintf(err, errlen, "segment_size %llu is out of range (%d to %llu)",
			 (unsigned long long)l->opt.segment_size, SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE,
			 REPLOG_MAX_SEGMENT_SIZE);
		return SL_EINVAL;
	}
	return 0;
}

static int replog_open_dir(struct replog *l, char *err, size_t errlen)
{
	if (mkdir(l->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "could not create log directory %s: %m", l->dir);
		return SL_EIO;
	}
	l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0) {
		snprintf(err, errlen, "could not open log directory %s: %m", l->dir);
		return SL_EIO;
	}
	if (flock(l->dirfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "could not lock log directory %s: %m%s", l->dir,
			 errno == EWOULDBLOCK ? " (another process has the log open)" : "");
		return SL_EIO;
	}
	return 0;
}

/* "NAME.seg.tmp" left by a segment creation that did not finish. */
static bool replog_is_tmp(const char *name)
{
	char base[SEGMENT_NAME_LEN + 1];
	uint64_t lsn;
	if (strlen(name) != SEGMENT_NAME_LEN + 4 || strcmp(name + SEGMENT_NAME_LEN, ".tmp") != 0)
		return false;
	memcpy(base, name, SEGMENT_NAME_LEN);
	base[SEGMENT_NAME_LEN] = '\0';
	return segment_parse_name(base, &lsn);
}

static int replog_compare_segments(const void *a, const void *b)
{
	uint64_t x = (*(struct segment *const *)a)->start_lsn;
	uint64_t y = (*(struct segment *const *)b)->start_lsn;
	return x < y ? -1 : x > y;
}

/* Opens every segment file of the directory, sorted by start LSN. */
static int replog_load(struct replog *l, char *err, size_t errlen)
{
	int rc = 0;
	struct dirent *e;
	DIR *d = opendir(l->dir);
	if (!d) {
		snprintf(err, errlen, "could not read log directory %s: %m", l->dir);
		return SL_EIO;
	}
	while ((e = readdir(d)) != NULL) {
		struct segment *s;
		uint64_t lsn;
		if (replog_is_tmp(e->d_name)) {
			log_info("replog", "removing an unfinished segment file file=%s/%s", l->dir, e->d_name);
			unlinkat(l->dirfd, e->d_name, 0);
			continue;
		}
		if (!segment_parse_name(e->d_name, &lsn))
			continue;
		if ((rc = replog_reserve_slot(l)) != 0) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if ((rc = segment_open(l->dirfd, e->d_name, &s, err, errlen)) != 0)
			goto fail;
		l->segs[l->nsegs++] = s;
	}
	if (l->nsegs > 1)
		qsort(l->segs, l->nsegs, sizeof(*l->segs), replog_compare_segments);
fail:
	closedir(d);
	return rc;
}

static int replog_corrupt(struct replog *l, const struct segment *s, const struct segment_scan *res, char *err,
			  size_t errlen)
{
	char lsn[LSN_TEXT_MAX];
	snprintf(err, errlen, "corrupt record in log segment %s/%s at offset %llu (LSN %s): %s%s", l->dir, s->name,
		 (unsigned long long)segment_offset(s->start_lsn, res->end_lsn), lsn_format(res->end_lsn, lsn),
		 res->why ? res->why : "bad record",
		 res->stop == SEGMENT_STOP_CORRUPT ? "; a valid record follows it, so it is not a torn write"
						   : "; it is not in the last segment, so it is not a torn write");
	return SL_ECORRUPT;
}

/* The last segment: cut a torn record, zero stray bytes after the end. */
static int replog_repair_tail(struct replog *l, struct segment *s, const struct segment_scan *res, char *err,
			      size_t errlen)
{
	char lsn[LSN_TEXT_MAX];
	unsigned long long off = (unsigned long long)segment_offset(s->start_lsn, res->end_lsn);
	bool zero = true;
	int rc;
	lsn_format(res->end_lsn, lsn);
	if (res->stop == SEGMENT_STOP_TORN) {
		log_warn("replog", "cutting a torn record at the end of the log: %s file=%s/%s offset=%llu lsn=%s",
			 res->why ? res->why : "bad record", l->dir, s->name, off, lsn);
		zero = false;
	} else if ((rc = segment_is_zero_from(s, res->end_lsn, &l->win, &zero)) != 0) {
		snprintf(err, errlen, "could not read log segment %s/%s: %m", l->dir, s->name);
		return rc;
	} else if (!zero) {
		log_warn("replog", "zeroing stray bytes after the end of the log file=%s/%s offset=%llu lsn=%s",
			 l->dir, s->name, off, lsn);
	}
	if (!zero && segment_cut(s, res->end_lsn) != 0) {
		snprintf(err, errlen, "could not cut log segment %s/%s at offset %llu: %m", l->dir, s->name, off);
		return SL_EIO;
	}
	return 0;
}

static int replog_check_contiguous(struct replog *l, size_t i, char *err, size_t errlen)
{
	const struct segment *a = l->segs[i - 1], *b = l->segs[i];
	char x[LSN_TEXT_MAX], y[LSN_TEXT_MAX];
	if (b->start_lsn == a->end_lsn)
		return 0;
	snprintf(err, errlen, "log segments %s and %s in %s are not contiguous: the first ends at LSN %s, the second starts at LSN %s",
		 a->name, b->name, l->dir, lsn_format(a->end_lsn, x), lsn_format(b->start_lsn, y));
	return SL_ECORRUPT;
}

/* Scans every segment, checks they follow each other, repairs the tail. */
static int replog_recover(struct replog *l, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->nsegs; i++) {
		struct segment *s = l->segs[i];
		bool last = i + 1 == l->nsegs;
		struct segment_scan res;
		int rc;
		if (i > 0 && (rc = replog_check_contiguous(l, i, err, errlen)) != 0)
			return rc;
		if ((rc = segment_scan(s, UINT64_MAX, &l->win, &res)) != 0) {
			snprintf(err, errlen, "could not read log segment %s/%s: %m", l->dir, s->name);
			return rc;
		}
		s->end_lsn = res.end_lsn;
		if (res.nrecords > 0)
			l->last_epoch = res.last_epoch;
		if (res.stop == SEGMENT_STOP_CORRUPT || (res.stop == SEGMENT_STOP_TORN && !last))
			return replog_corrupt(l, s, &res, err, errlen);
		if (last && (rc = replog_repair_tail(l, s, &res, err, errlen)) != 0)
			return rc;
		if (fdatasync(s->fd) != 0) {
			snprintf(err, errlen, "could not fsync log segment %s/%s: %m", l->dir, s->name);
			return SL_EIO;
		}
		l->total_size += s->file_size;
	}
	return 0;
}

static int replog_create_first(struct replog *l, uint64_t first_lsn, char *err, size_t errlen)
{
	struct segment *s;
	int rc = replog_reserve_slot(l);
	if (rc != 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if ((rc = segment_create(l->dirfd, first_lsn, l->opt.segment_size, &s, err, errlen)) != 0)
		return rc;
	l->segs[l->nsegs++] = s;
	l->total_size = s->file_size;
	return 0;
}

int replog_open(struct replog **out, const char *dir, uint64_t first_lsn, const struct replog_options *opt,
		char *err, size_t errlen)
{
	struct replog *l = NULL;
	int rc;
	*out = NULL;
	if ((rc = replog_new(&l, dir, opt, err, errlen)) != 0)
		goto fail;
	if (first_lsn == UINT64_MAX) {
		snprintf(err, errlen, "first LSN out of range");
		rc = SL_EINVAL;
		goto fail;
	}
	if ((rc = replog_open_dir(l, err, errlen)) != 0 || (rc = replog_load(l, err, errlen)) != 0)
		goto fail;
	if (l->nsegs == 0)
		rc = replog_create_first(l, first_lsn, err, errlen);
	else
		rc = replog_recover(l, err, errlen);
	if (rc != 0)
		goto fail;
	l->start_lsn = l->segs[0]->start_lsn;
	l->end_lsn = l->durable_lsn = replog_last(l)->end_lsn;
	*out = l;
	return 0;
fail:
	replog_close(l);
	return rc;
}

void replog_close(struct replog *l)
{
	if (!l)
		return;
	if (l->spare_started)
		pthread_join(l->spare_thread, NULL);
	for (size_t i = 0; i < l->nsegs; i++)
		segment_free(l->segs[i]);
	free(l->segs);
	for (size_t i = 0; i < l->nconsumers; i++)
		free(l->consumers[i].name);
	free(l->consumers);
	buf_free(&l->enc);
	segment_window_free(&l->win);
	if (l->dirfd >= 0)
		close(l->dirfd);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->write_mu);
	pthread_mutex_destroy(&l->mu);
	free(l->dir);
	free(l);
}

/* ------------------------------------------------------------ state */

#define REPLOG_GETTER(name, type, expr)                                                                           \
	type name(struct replog *l)                                                                               \
	{                                                                                                         \
		pthread_mutex_lock(&l->mu);                                                                       \
		type v = (expr);                                                                                  \
		pthread_mutex_unlock(&l->mu);                                                                     \
		return v;                                                                                         \
	}

REPLOG_GETTER(replog_start_lsn, uint64_t, l->start_lsn)
REPLOG_GETTER(replog_end_lsn, uint64_t, l->end_lsn)
REPLOG_GETTER(replog_durable_lsn, uint64_t, l->durable_lsn)
REPLOG_GETTER(replog_last_epoch, uint64_t, l->last_epoch)
REPLOG_GETTER(replog_size, uint64_t, l->total_size)
REPLOG_GETTER(replog_failed, bool, l->failed)

/* ------------------------------------------------------------ appending */

/* An empty last segment too small for the record grows to fit it. */
static int replog_grow_last(struct replog *l, struct segment *s, uint64_t size)
{
	uint64_t old = s->file_size;
	if (segment_grow(s, size) != 0)
		return replog_fail(l, "extend log segment", s->name);
	s->dirty = true;
	pthread_mutex_lock(&l->mu);
	l->total_size += size - old;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

static void *spare_main(void *arg)
{
	struct replog *l = arg;
	if (segment_prepare_spare(l->dirfd, l->opt.segment_size) != 0)
		log_warn("replog", "could not prepare the next log segment: %s dir=%s", strerror(errno), l->dir);
	l->spare_busy = false;
	return NULL;
}

/* Starts zeroing the next segment file unless that is under way; write_mu held. */
static void spare_kick(struct replog *l)
{
	if (l->spare_busy)
		return;
	if (l->spare_started)
		pthread_join(l->spare_thread, NULL);
	l->spare_busy = true;
	l->spare_started = pthread_create(&l->spare_thread, NULL, spare_main, l) == 0;
	if (!l->spare_started)
		l->spare_busy = false;
}

/* Syncs the last segment and starts a new one of size bytes at the end. */
static int replog_roll(struct replog *l, uint64_t size)
{
	struct segment *s = replog_last(l), *next;
	char err[512];
	if (s->dirty && fdatasync(s->fd) != 0)
		return replog_fail(l, "fsync log segment", s->name);
	s->dirty = false;
	if (replog_reserve_slot(l) != 0)
		return SL_ENOMEM;
	int rc = segment_create(l->dirfd, l->end_lsn, size, &next, err, sizeof(err));
	if (rc == SL_ENOMEM)
		return rc;
	if (rc != 0) {
		log_error("replog", "%s; the log refuses writes until it is reopened", err);
		replog_set_failed(l);
		return SL_EIO;
	}
	pthread_mutex_lock(&l->mu);
	l->segs[l->nsegs++] = next;
	l->total_size += size;
	pthread_mutex_unlock(&l->mu);
	log_debug("replog", "new log segment file=%s/%s", l->dir, next->name);
	spare_kick(l);
	return 0;
}

/* Makes the last segment able to take size more bytes at the end. */
static int replog_make_room(struct replog *l, size_t size)
{
	struct segment *s = replog_last(l);
	uint64_t used = segment_offset(s->start_lsn, l->end_lsn);
	if (size <= s->file_size - used)
		return 0;
	uint64_t want = SEGMENT_HEADER_SIZE + (uint64_t)size;
	if (want < l->opt.segment_size)
		want = l->opt.segment_size;
	if (l->end_lsn == s->start_lsn)
		return replog_grow_last(l, s, want);
	return replog_roll(l, want);
}

/* Writes one encoded record (l->enc or a received one) at the end; write_mu held. */
static int append_locked(struct replog *l, uint64_t lsn, uint64_t epoch, const uint8_t *data, size_t n)
{
	if (lsn >= UINT64_MAX - n)
		return SL_ETOOBIG;
	int rc = replog_make_room(l, n);
	if (rc != 0)
		return rc;
	struct segment *s = replog_last(l);
	if (segment_write(s, lsn, data, n) != 0)
		return replog_fail(l, "write log segment", s->name);
	s->dirty = true;
	pthread_mutex_lock(&l->mu);
	l->end_lsn = s->end_lsn = lsn + n;
	l->last_epoch = epoch;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int replog_append(struct replog *l, uint64_t epoch, uint64_t commit_ts, uint8_t type, const void *payload,
		  size_t len, uint64_t *lsn_out)
{
	if (len > RECORD_MAX_PAYLOAD)
		return SL_ETOOBIG;
	pthread_mutex_lock(&l->write_mu);
	uint64_t lsn = l->end_lsn;
	int rc = SL_EIO;
	if (l->failed)
		goto fail;
	if (!l->spare_started)
		spare_kick(l); /* the log has a writer: get the next segment ready */
	buf_reset(&l->enc);
	if ((rc = record_encode(&l->enc, lsn, epoch, commit_ts, type, payload, len, l->opt.compress)) != 0)
		goto fail;
	if ((rc = append_locked(l, lsn, epoch, l->enc.data, l->enc.len)) != 0)
		goto fail;
	if (lsn_out)
		*lsn_out = lsn;
fail:
	if (l->enc.cap > REPLOG_ENC_KEEP)
		buf_free(&l->enc);
	pthread_mutex_unlock(&l->write_mu);
	return rc;
}

int replog_append_record(struct replog *l, const uint8_t *data, const struct record *rec)
{
	pthread_mutex_lock(&l->write_mu);
	int rc = SL_EIO;
	if (l->failed)
		goto fail;
	if (!l->spare_started)
		spare_kick(l);
	rc = rec->lsn == l->end_lsn ? append_locked(l, rec->lsn, rec->epoch, data, record_size(rec)) : SL_EINVAL;
fail:
	pthread_mutex_unlock(&l->write_mu);
	return rc;
}

int replog_append_encoded(struct replog *l, const uint8_t *data, size_t len, struct record *rec)
{
	size_t used;
	if (record_decode(data, len, replog_end_lsn(l), rec, &used) != 0)
		return replog_failed(l) ? SL_EIO : SL_EINVAL;
	return replog_append_record(l, data, rec);
}

int replog_sync(struct replog *l)
{
	int rc = SL_EIO;
	pthread_mutex_lock(&l->write_mu);
	if (l->failed)
		goto fail;
	for (size_t i = 0; i < l->nsegs; i++) {
		struct segment *s = l->segs[i];
		if (s->dirty && fdatasync(s->fd) != 0) {
			rc = replog_fail(l, "fsync log segment", s->name);
			goto fail;
		}
		s->dirty = false;
	}
	pthread_mutex_lock(&l->mu);
	if (l->durable_lsn != l->end_lsn) {
		l->durable_lsn = l->end_lsn;
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->mu);
	rc = 0;
fail:
	pthread_mutex_unlock(&l->write_mu);
	return rc;
}

/* ------------------------------------------------------------ truncation */

/*
 * Checks that end_lsn is a record boundary of segment k and finds the
 * epoch of the last record before it (in k or an earlier segment).
 */
static int replog_epoch_before(struct replog *l, size_t k, uint64_t end_lsn, uint64_t *epoch)
{
	*epoch = 0;
	for (size_t i = k + 1; i-- > 0;) {
		struct segment *s = l->segs[i];
		uint64_t limit = i == k ? end_lsn : s->end_lsn;
		struct segment_scan res;
		if (limit == s->start_lsn)
			continue;
		int rc = segment_scan(s, limit, &l->win, &res);
		if (rc != 0)
			return rc;
		if (res.end_lsn != limit)
			return i == k ? SL_EINVAL : SL_ECORRUPT;
		if (res.nrecords > 0) {
			*epoch = res.last_epoch;
			return 0;
		}
	}
	return 0;
}

/* The new end in memory: readers past it are lost. Both locks held. */
static void replog_truncate_state(struct replog *l, size_t k, uint64_t end_lsn, uint64_t epoch)
{
	l->end_lsn = l->segs[k]->end_lsn = end_lsn;
	if (l->durable_lsn > end_lsn)
		l->durable_lsn = end_lsn;
	l->last_epoch = epoch;
	l->truncations++;
	for (struct replog_reader *r = l->readers; r; r = r->next)
		if (r->pos > end_lsn)
			r->lost = true;
	pthread_cond_broadcast(&l->cond);
}

/* Unlinks the segments after k (newest first), fsyncs the directory. */
static int replog_unlink_after(struct replog *l, size_t k)
{
	int rc = 0;
	for (size_t i = l->nsegs; i-- > k + 1;) {
		struct segment *s = l->segs[i];
		if (rc == 0 && unlinkat(l->dirfd, s->name, 0) != 0)
			rc = replog_fail(l, "remove log segment", s->name);
		pthread_mutex_lock(&l->mu);
		l->total_size -= s->file_size;
		l->nsegs--;
		pthread_mutex_unlock(&l->mu);
		segment_free(s);
	}
	if (rc == 0 && fsync(l->dirfd) != 0)
		rc = replog_fail(l, "fsync log directory", ".");
	return rc;
}

int replog_truncate(struct replog *l, uint64_t end_lsn)
{
	uint64_t epoch;
	size_t k;
	int rc = SL_EIO;
	pthread_mutex_lock(&l->write_mu);
	if (l->failed)
		goto fail;
	rc = 0;
	if (end_lsn == l->end_lsn)
		goto fail;
	rc = SL_EINVAL;
	if (end_lsn < l->start_lsn || end_lsn > l->end_lsn)
		goto fail;
	k = replog_find_segment(l, end_lsn);
	if ((rc = replog_epoch_before(l, k, end_lsn, &epoch)) != 0)
		goto fail;
	pthread_mutex_lock(&l->mu);
	replog_truncate_state(l, k, end_lsn, epoch);
	pthread_mutex_unlock(&l->mu);
	if ((rc = replog_unlink_after(l, k)) != 0)
		goto fail;
	if (segment_cut(l->segs[k], end_lsn) != 0) {
		rc = replog_fail(l, "cut log segment", l->segs[k]->name);
		goto fail;
	}
	/* The cut fsynced the whole segment, and every earlier one is synced. */
	l->segs[k]->dirty = false;
	pthread_mutex_lock(&l->mu);
	l->durable_lsn = end_lsn;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mu);
fail:
	pthread_mutex_unlock(&l->write_mu);
	return rc;
}

/* ------------------------------------------------------------ retention */

void replog_retain(struct replog *l, const char *consumer, uint64_t lsn) { replog_retain_within(l, consumer, lsn, 0); }

void replog_retain_within(struct replog *l, const char *consumer, uint64_t lsn, uint64_t max_lag)
{
	pthread_mutex_lock(&l->mu);
	size_t i = 0;
	while (i < l->nconsumers && strcmp(l->consumers[i].name, consumer) != 0)
		i++;
	if (i < l->nconsumers && lsn == UINT64_MAX) {
		free(l->consumers[i].name);
		l->consumers[i] = l->consumers[--l->nconsumers];
	} else if (i < l->nconsumers) {
		l->consumers[i].lsn = lsn;
		l->consumers[i].max_lag = max_lag;
	} else if (lsn != UINT64_MAX) {
		struct replog_consumer *v = realloc(l->consumers, (l->nconsumers + 1) * sizeof(*v));
		char *name = strdup(consumer);
		if (v)
			l->consumers = v;
		if (v && name)
			l->consumers[l->nconsumers++] = (struct replog_consumer){ name, lsn, max_lag };
		else {
			free(name);
			log_error("replog", "out of memory registering a log consumer consumer=%s", consumer);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

/* Logs each consumer that still needs the segment ending at end. */
static void replog_warn_needed(struct replog *l, const struct segment *s, uint64_t end)
{
	char lsn[LSN_TEXT_MAX];
	for (size_t i = 0; i < l->nconsumers; i++)
		if (l->consumers[i].lsn < end)
			log_warn("replog", "removing a log segment a consumer still needs: the log is over max_size file=%s/%s consumer=%s needs=%s",
				 l->dir, s->name, l->consumers[i].name, lsn_format(l->consumers[i].lsn, lsn));
}

/* How many of the oldest segments may go; mu held. */
static size_t replog_trim_count(struct replog *l)
{
	uint64_t need = UINT64_MAX, local = UINT64_MAX, total = l->total_size;
	size_t n = 0;
	for (size_t i = 0; i < l->nconsumers; i++) {
		const struct replog_consumer *c = &l->consumers[i];
		bool too_far = c->max_lag > 0 && c->lsn < l->end_lsn && l->end_lsn - c->lsn > c->max_lag;
		if (c->lsn < need && !too_far)
			need = c->lsn;
		if (strcmp(l->consumers[i].name, REPLOG_LOCAL) == 0)
			local = l->consumers[i].lsn;
	}
	while (n + 1 < l->nsegs) {
		uint64_t end = l->segs[n + 1]->start_lsn;
		bool unneeded = end <= need && l->end_lsn - end >= l->opt.keep_size;
		bool over = l->opt.max_size > 0 && total > l->opt.max_size;
		if (end > local || (!unneeded && !over))
			break;
		if (!unneeded)
			replog_warn_needed(l, l->segs[n], end);
		total -= l->segs[n]->file_size;
		n++;
	}
	return n;
}

int replog_trim(struct replog *l)
{
	size_t n, removed = 0;
	pthread_mutex_lock(&l->write_mu);
	pthread_mutex_lock(&l->mu);
	n = replog_trim_count(l);
	pthread_mutex_unlock(&l->mu);
	while (removed < n) {
		const struct segment *s = l->segs[removed];
		if (unlinkat(l->dirfd, s->name, 0) != 0 && errno != ENOENT) {
			char ebuf[128];
			log_warn("replog", "could not remove log segment: %s file=%s/%s",
				 strerror_r(errno, ebuf, sizeof(ebuf)), l->dir, s->name);
			break;
		}
		log_info("replog", "removed log segment file=%s/%s", l->dir, s->name);
		removed++;
	}
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < removed; i++) {
		l->total_size -= l->segs[i]->file_size;
		segment_free(l->segs[i]);
	}
	memmove(l->segs, l->segs + removed, (l->nsegs - removed) * sizeof(*l->segs));
	l->nsegs -= removed;
	l->start_lsn = l->segs[0]->start_lsn;
	pthread_mutex_unlock(&l->mu);
	pthread_mutex_unlock(&l->write_mu);
	return (int)removed;
}
