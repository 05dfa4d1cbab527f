/*
 * replog_reader.c — reading the replication log (see replog.h).
 *
 * A reader is a position (the LSN of the next record), a file descriptor
 * of its own on the segment file holding it, and a buffer of its own, so
 * any number of threads read at once without sharing I/O state. Only the
 * bookkeeping happens under the log's mutex: waiting until the position is
 * below durable_lsn, finding the segment that holds it and how far that
 * segment is durable. The read itself (pread, through segment_read) runs
 * without the lock: bytes below durable_lsn never change except by
 * truncation, which the reader detects afterwards and then retries.
 *
 * Segment rollover needs nothing special: a position at the end of one
 * segment is the start of the next, so the lookup finds the next file.
 * Retention may unlink the file a reader is about to open (SL_ENOTFOUND)
 * or has open (still readable); either way the position is compared with
 * the log's start after the read, so a reader whose records were removed
 * gets SL_ENOTFOUND whatever the timing. Truncation marks readers past the
 * cut lost and makes every reader reopen its file, since a segment may be
 * recreated under the same name with other contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "lsn.h"
#include "replog.h"
#include "replog_internal.h"
#include "sl_error.h"
#include "sl_time.h"

static void replog_reader_close_fd(struct replog_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	segment_window_reset(&r->win);
}

/* Makes r->fd the segment file starting at start. */
static int replog_reader_use(struct replog_reader *r, uint64_t start, uint64_t truncations)
{
	char name[SEGMENT_NAME_LEN + 1];
	if (r->fd >= 0 && r->fd_start == start && r->fd_truncations == truncations)
		return 0;
	replog_reader_close_fd(r);
	segment_name(start, name);
	r->fd = openat(r->log->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		char ebuf[128];
		if (errno == ENOENT)
			return SL_ENOTFOUND;
		log_error("replog", "could not open log segment: %s file=%s/%s", strerror_r(errno, ebuf, sizeof(ebuf)),
			  r->log->dir, name);
		return SL_EIO;
	}
	r->fd_start = start;
	r->fd_truncations = truncations;
	return 0;
}

/* Is from_lsn the end or a record boundary of the log? mu held. */
static int replog_reader_check(struct replog_reader *r)
{
	struct replog *l = r->log;
	struct record rec;
	const char *why;
	if (r->pos < l->start_lsn || r->pos > l->end_lsn)
		return SL_ENOTFOUND;
	if (r->pos == l->end_lsn)
		return 0;
	const struct segment *s = l->segs[replog_find_segment(l, r->pos)];
	int rc = replog_reader_use(r, s->start_lsn, l->truncations);
	if (rc == 0)
		rc = segment_read(r->fd, s->start_lsn, r->pos, s->end_lsn, &r->win, &rec, &why);
	return rc == SL_ECORRUPT ? SL_ENOTFOUND : rc;
}

static void replog_reader_free(struct replog_reader *r)
{
	replog_reader_close_fd(r);
	segment_window_free(&r->win);
	free(r);
}

int replog_reader_open(struct replog *l, uint64_t from_lsn, struct replog_reader **out)
{
	struct replog_reader *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return SL_ENOMEM;
	r->log = l;
	r->fd = -1;
	r->pos = from_lsn;
	segment_window_init(&r->win);
	pthread_mutex_lock(&l->mu);
	r->wakeups_seen = l->wakeups;
	int rc = replog_reader_check(r);
	if (rc == 0) {
		r->next = l->readers;
		if (l->readers)
			l->readers->prev = r;
		l->readers = r;
	}
	pthread_mutex_unlock(&l->mu);
	if (rc != 0) {
		replog_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void replog_reader_close(struct replog_reader *r)
{
	if (!r)
		return;
	struct replog *l = r->log;
	pthread_mutex_lock(&l->mu);
	if (r->prev)
		r->prev->next = r->next;
	else
		l->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&l->mu);
	replog_reader_free(r);
}

uint64_t replog_reader_position(struct replog_reader *r)
{
	pthread_mutex_lock(&r->log->mu);
	uint64_t pos = r->pos;
	pthread_mutex_unlock(&r->log->mu);
	return pos;
}

void replog_wakeup(struct replog *l)
{
	pthread_mutex_lock(&l->mu);
	l->wakeups++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mu);
}


/* How far the reader may read: the durable end, or its limit; mu held. */
static uint64_t reader_available(const struct replog_reader *r)
{
	uint64_t end = r->log->durable_lsn;
	if (r->limit) {
		uint64_t lim = atomic_load(r->limit);
		end = lim < end ? lim : end;
	}
	return end;
}

void replog_reader_set_limit(struct replog_reader *r, const atomic_uint_fast64_t *limit)
{
	pthread_mutex_lock(&r->log->mu);
	r->limit = limit;
	pthread_mutex_unlock(&r->log->mu);
}

void replog_notify(struct replog *l)
{
	pthread_mutex_lock(&l->mu);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->mu);
}

/* Waits until a durable record is at the reader's position; mu held. */
static int replog_reader_wait(struct replog_reader *r, int timeout_ms)
{
	struct replog *l = r->log;
	struct timespec deadline = { 0, 0 };
	bool timed_out = false;
	if (timeout_ms > 0)
		deadline = sl_deadline(CLOCK_MONOTONIC, timeout_ms);
	for (;;) {
		if (r->lost || r->pos < l->start_lsn)
			return SL_ENOTFOUND;
		if (r->pos < reader_available(r))
			return 0;
		if (l->failed)
			return SL_EIO;
		if (timeout_ms == 0 || timed_out || l->wakeups != r->wakeups_seen) {
			r->wakeups_seen = l->wakeups; /* a wakeup while not waiting counts too */
			return SL_ETIMEDOUT;
		}
		if (timeout_ms < 0)
			pthread_cond_wait(&l->cond, &l->mu);
		else if (pthread_cond_timedwait(&l->cond, &l->mu, &deadline) == ETIMEDOUT)
			timed_out = true;
	}
}

static void replog_reader_log(struct replog_reader *r, uint64_t pos, int rc, const char *why)
{
	char name[SEGMENT_NAME_LEN + 1], lsn[LSN_TEXT_MAX], ebuf[128];
	segment_name(r->fd_start, name);
	if (rc == SL_ECORRUPT)
		log_error("replog", "corrupt record in log segment %s/%s at offset %llu (LSN %s): %s", r->log->dir,
			  name, (unsigned long long)segment_offset(r->fd_start, pos), lsn_format(pos, lsn), why);
	else if (rc == SL_EIO)
		log_error("replog", "could not read log segment: %s file=%s/%s lsn=%s",
			  strerror_r(errno, ebuf, sizeof(ebuf)), r->log->dir, name, lsn_format(pos, lsn));
}

int replog_reader_next(struct replog_reader *r, struct record *rec, int timeout_ms)
{
	struct replog *l = r->log;
	for (;;) {
		uint64_t start = 0, limit = 0, truncations, pos;
		const char *why = "bad record";
		bool retry = false, read = false;
		int read_errno = 0;
		pthread_mutex_lock(&l->mu);
		int rc = replog_reader_wait(r, timeout_ms);
		if (rc == 0) {
			const struct segment *s = l->segs[replog_find_segment(l, r->pos)];
			start = s->start_lsn;
			uint64_t avail = reader_available(r);
			limit = s->end_lsn < avail ? s->end_lsn : avail;
		}
		truncations = l->truncations;
		pos = r->pos;
		pthread_mutex_unlock(&l->mu);
		if (rc != 0)
			return rc;

		rc = replog_reader_use(r, start, truncations);
		if (rc == 0) {
			rc = segment_read(r->fd, start, pos, limit, &r->win, rec, &why);
			read_errno = errno;
			read = true;
		}

		pthread_mutex_lock(&l->mu);
		if (r->lost || pos < l->start_lsn)
			rc = SL_ENOTFOUND;
		else if (l->truncations != truncations)
			retry = true; /* what was read may have been cut: read again */
		else if (rc == 0)
			r->pos = pos + record_size(rec);
		pthread_mutex_unlock(&l->mu);
		if (retry)
			continue;
		if (read) {
			errno = read_errno;
			replog_reader_log(r, pos, rc, why);
		}
		return rc;
	}
}
