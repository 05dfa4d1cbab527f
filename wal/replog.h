/*
 * replog.h — the replication log on disk: a directory of segment files
 * holding records (record.h) at increasing LSNs (segment file format:
 * segment.c; directory, end finding, torn tails, retention: replog.c).
 *
 * One thread appends (replog_append, then replog_sync to make everything
 * appended durable); any thread may read through a reader, which only ever
 * sees durable records and can wait for new ones. Retention removes whole
 * segments nobody needs any more.
 *
 * Thread safety: every function may be called from any thread; the log
 * has one mutex inside. Appends must come from one thread at a time.
 * (Inside, a second mutex serializes append, sync, truncate and trim, so
 * the disk I/O of a writer never holds up readers' bookkeeping.)
 */
#ifndef SL_REPLOG_H
#define SL_REPLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct replog_options {
	uint64_t segment_size;  /* bytes per segment file, preallocated (default 64 MiB) */
	uint64_t keep_size;     /* retention keeps at least this much log (0: only what is needed) */
	uint64_t max_size;      /* retention cap: older segments go even if a consumer needs them (0: none) */
	bool compress;          /* zlib-compress payloads where that makes them smaller */
};

struct replog;
struct replog_reader;

/*
 * Opens (creating if missing) the log in dir. Scans every segment: each
 * must start where the one before ended. In the last segment, a torn or
 * corrupt record at the tail is cut (the rest of the file zeroed), and a
 * log line says where; a bad record followed by a good one, or in any but
 * the last segment, is SL_ECORRUPT with err naming the file and offset.
 * An empty log starts at first_lsn.
 */
int replog_open(struct replog **out, const char *dir, uint64_t first_lsn, const struct replog_options *opt,
		char *err, size_t errlen);
void replog_close(struct replog *l);

uint64_t replog_start_lsn(struct replog *l);   /* oldest record still kept */
uint64_t replog_end_lsn(struct replog *l);     /* where the next record goes */
uint64_t replog_durable_lsn(struct replog *l); /* end of what is known durable */
uint64_t replog_last_epoch(struct replog *l);  /* epoch of the last record, 0 if none */
uint64_t replog_size(struct replog *l);        /* bytes of all segment files */
bool replog_failed(struct replog *l);

/*
 * Appends one record at the end (a new segment when it does not fit in the
 * current one). Not durable until replog_sync(). *lsn_out gets its LSN.
 * Returns 0, SL_ETOOBIG, SL_ENOMEM or SL_EIO. A write error fails the log
 * for good: every later append and sync returns SL_EIO.
 */
int replog_append(struct replog *l, uint64_t epoch, uint64_t commit_ts, uint8_t type, const void *payload,
		  size_t len, uint64_t *lsn_out);
/*
 * Appends the record at the start of data[0..len) exactly as encoded
 * elsewhere (a follower keeps the leader's bytes, so LSNs agree); rec
 * gets it (record_size(rec) bytes of data were used). It must decode, with
 * its LSN at the log's end: else SL_EINVAL and nothing is written. Else as
 * replog_append.
 */
int replog_append_encoded(struct replog *l, const uint8_t *data, size_t len, struct record *rec);
/* The same for a record its caller decoded already (record_decode at
 * replog_end_lsn), data being where it starts: no second decode. */
int replog_append_record(struct replog *l, const uint8_t *data, const struct record *rec);
/* fdatasync of everything appended; then wakes waiting readers. A failure
 * fails the log for good (never retried) and returns SL_EIO. */
int replog_sync(struct replog *l);

/*
 * Cuts the log back to end_lsn, which must be a record boundary at or
 * after the start (used when a follower's unconfirmed suffix is thrown
 * away). Durable before it returns.
 */
int replog_truncate(struct replog *l, uint64_t end_lsn);

/*
 * A reader from from_lsn, which must be the LSN of a retained record or
 * the end of the log. SL_ENOTFOUND when it is older than the start or is
 * not a record boundary.
 */
int replog_reader_open(struct replog *l, uint64_t from_lsn, struct replog_reader **out);
/*
 * The next durable record; rec->payload stays valid until the next call or
 * close. Waits up to timeout_ms for one (0: do not wait; -1: forever, until
 * replog_wakeup). Returns 0, SL_ETIMEDOUT, SL_ENOTFOUND (retention removed
 * the reader's position), SL_ECORRUPT or SL_EIO.
 */
int replog_reader_next(struct replog_reader *r, struct record *rec, int timeout_ms);
uint64_t replog_reader_position(struct replog_reader *r); /* LSN of the next record */
void replog_reader_close(struct replog_reader *r);
/* Wakes every reader waiting in replog_reader_next (they return SL_ETIMEDOUT);
 * a reader not waiting then returns SL_ETIMEDOUT from its next wait. */
void replog_wakeup(struct replog *l);
/*
 * The reader hands out only records that end at or before *limit (which
 * may grow at any time; replog_notify makes waiting readers look again).
 * limit must be a record boundary and outlive the reader; NULL: no limit.
 */
void replog_reader_set_limit(struct replog_reader *r, const atomic_uint_fast64_t *limit);
void replog_notify(struct replog *l);

/*
 * Retention. A consumer (a follower, a CDC slot, or "local" for the
 * database's own crash recovery) says from which LSN it still needs the
 * log; UINT64_MAX forgets it. replog_trim removes every segment that ends
 * at or before what all consumers need, keeping at least keep_size bytes;
 * beyond max_size it removes the oldest segments even if a consumer other
 * than "local" needs them (that consumer then gets SL_ENOTFOUND). Never
 * removes the segment being written. Returns the number of files removed.
 */
void replog_retain(struct replog *l, const char *consumer, uint64_t lsn);
/* The same for a consumer that gives up (a CDC slot is lost) once it is
 * more than max_lag bytes behind the end: from then on it holds nothing
 * back. max_lag 0: no bound. */
void replog_retain_within(struct replog *l, const char *consumer, uint64_t lsn, uint64_t max_lag);
int replog_trim(struct replog *l);

#endif
