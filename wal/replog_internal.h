/*
 * replog_internal.h — the inside of struct replog, shared by replog.c (the
 * directory, appends, syncs, truncation, retention) and replog_reader.c
 * (readers). Not for use outside wal/replog*.c.
 *
 * Locking: mu guards every field below marked (mu). write_mu serializes
 * the functions that change the files (append, sync, truncate, trim) and
 * guards the fields marked (w). The segment array changes only with both
 * held, so either one is enough to read it. Lock order: write_mu, then mu.
 */
#ifndef SL_REPLOG_INTERNAL_H
#define SL_REPLOG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "replog.h"
#include "segment.h"

struct replog_consumer {
	char *name;
	uint64_t lsn;
	uint64_t max_lag; /* further behind the end than this, it holds nothing back (0: no bound) */
};

struct replog {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* durable_lsn moved, wakeup, truncation or failure */
	pthread_mutex_t write_mu;
	int dirfd; /* flock'ed: one process per log directory */
	char *dir;
	struct replog_options opt;

	struct segment **segs; /* (both) oldest first; never empty */
	size_t nsegs, segs_cap;
	uint64_t start_lsn;   /* (mu) segs[0]->start_lsn */
	uint64_t end_lsn;     /* (mu) where the next record goes */
	uint64_t durable_lsn; /* (mu) end of what is fdatasynced */
	uint64_t last_epoch;  /* (mu) */
	uint64_t total_size;  /* (mu) bytes of all segment files */
	bool failed;          /* (mu) a write or sync failed: for good */
	uint64_t wakeups;     /* (mu) replog_wakeup calls */
	uint64_t truncations; /* (mu) readers reopen their file when it moves */
	struct replog_reader *readers; /* (mu) every open reader */

	struct replog_consumer *consumers; /* (mu) */
	size_t nconsumers;

	/* the thread that zeroes the next segment file ahead of time (w) */
	pthread_t spare_thread;
	bool spare_started;
	_Atomic bool spare_busy;

	struct buf enc;            /* (w) the record being appended */
	struct segment_window win; /* (w) reads by the writer */
};

struct replog_reader {
	struct replog *log;
	struct replog_reader *next, *prev; /* (mu) in log->readers */
	uint64_t pos;                      /* (mu) LSN of the next record */
	bool lost;                         /* (mu) truncation removed pos */
	const atomic_uint_fast64_t *limit; /* records end at or before this, or NULL */
	uint64_t wakeups_seen;             /* (mu) log->wakeups when it last returned */
	int fd;                            /* the segment file being read, or -1 */
	uint64_t fd_start;                 /* its start LSN */
	uint64_t fd_truncations;           /* log->truncations when it was opened */
	struct segment_window win;
};

/* Index of the segment holding lsn (the last one starting at or before
 * it; lsn >= start_lsn); mu or write_mu held. A segment's end_lsn is
 * read under mu: the last one's moves with appends. */
size_t replog_find_segment(const struct replog *l, uint64_t lsn);

#endif
