/*
 * segment.h — one segment file of the replication log (format: segment.c).
 *
 * A segment holds the records of one stretch of LSNs, back to back after a
 * 32-byte header; the record at LSN x lives at file offset 32 + (x - start).
 * This module creates, opens, reads, writes, scans and cuts one file; the
 * directory, locking and durability bookkeeping are replog.c's.
 *
 * Reads go through a caller-owned window (its buffer is reused across
 * reads), so any thread can read a segment with its own fd and window.
 */
#ifndef SL_SEGMENT_H
#define SL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "record.h"

#define SEGMENT_HEADER_SIZE 32
#define SEGMENT_NAME_LEN 20 /* 16 hex digits + ".seg" */

struct segment {
	uint64_t start_lsn;
	uint64_t end_lsn;   /* end of the records in it */
	uint64_t file_size; /* bytes; records may fill it up to the end */
	int fd;             /* read-write */
	bool dirty;         /* written since its last fdatasync */
	char name[SEGMENT_NAME_LEN + 1];
};

/*
 * A caller-owned read buffer: bytes [off, off + b.len) of the file open as
 * fd. It only ever holds bytes that were written before they were read;
 * whoever lets them change (truncation, reuse of an fd number) resets it.
 */
struct segment_window {
	struct buf b;
	uint64_t off;
	int fd;
};

void segment_window_init(struct segment_window *w);
/* Forgets what the window holds (keeps the memory). */
void segment_window_reset(struct segment_window *w);
void segment_window_free(struct segment_window *w);

/* The file name of the segment starting at start_lsn: "%016llX.seg". */
void segment_name(uint64_t start_lsn, char out[SEGMENT_NAME_LEN + 1]);
/* true and *start_lsn for exactly 16 upper-case hex digits + ".seg". */
bool segment_parse_name(const char *name, uint64_t *start_lsn);

/*
 * Creates the segment file for start_lsn in dirfd, preallocated to size
 * bytes (written under a temporary name, fsynced, renamed, directory
 * fsynced). 0 and *out, or SL_EIO / SL_ENOMEM with err.
 */
int segment_create(int dirfd, uint64_t start_lsn, uint64_t size, struct segment **out, char *err, size_t errlen);
/*
 * Opens an existing segment file and checks its header, which must name
 * the start LSN its file name says. end_lsn is set to start_lsn (scan to
 * find the end). 0 and *out, SL_ECORRUPT, SL_EIO or SL_ENOMEM with err.
 */
int segment_open(int dirfd, const char *name, struct segment **out, char *err, size_t errlen);
/* Closes the fd and frees s (NULL is fine). */
void segment_free(struct segment *s);

/*
 * Reads the record at lsn from the segment file fd that starts at
 * start_lsn; the record must end at or before limit_lsn (> lsn). 0 and rec
 * (payload in w, valid until the next read through w), SL_ECORRUPT with
 * *why (a static phrase), SL_EIO (errno kept) or SL_ENOMEM.
 */
int segment_read(int fd, uint64_t start_lsn, uint64_t lsn, uint64_t limit_lsn, struct segment_window *w,
		 struct record *rec, const char **why);

/* Writes n bytes at lsn; 0 or SL_EIO (errno kept). Short writes and EINTR
 * are retried. */
int segment_write(struct segment *s, uint64_t lsn, const void *p, size_t n);

enum segment_stop {
	SEGMENT_STOP_LIMIT,   /* the scan reached its limit */
	SEGMENT_STOP_ZERO,    /* zeros where the next header would be: the clean end */
	SEGMENT_STOP_TORN,    /* a bad record and nothing valid right after it */
	SEGMENT_STOP_CORRUPT, /* a bad record followed by a valid one: mid-log damage */
};

struct segment_scan {
	uint64_t end_lsn;    /* first LSN after the last good record */
	uint64_t last_epoch; /* epoch of the last good record */
	uint64_t nrecords;
	enum segment_stop stop;
	const char *why;     /* what is wrong at end_lsn (TORN, CORRUPT) */
};

/*
 * Reads the records from the segment's start up to limit_lsn (at most the
 * end of the file) and says why it stopped. Resets w first. 0, SL_EIO or
 * SL_ENOMEM.
 */
int segment_scan(struct segment *s, uint64_t limit_lsn, struct segment_window *w, struct segment_scan *res);
/* *zero = whether every byte from lsn to the end of the file is zero. */
int segment_is_zero_from(struct segment *s, uint64_t lsn, struct segment_window *w, bool *zero);
/* Zeroes the file from lsn to its end (ftruncate, posix_fallocate back to
 * file_size) and fsyncs it. 0 or SL_EIO (errno kept). */
int segment_cut(struct segment *s, uint64_t lsn);
/* The file segment_create takes, zeroed, when it has the right size. */
#define SEGMENT_SPARE_NAME "next-segment.spare"
/* Makes a zeroed spare file of size bytes ready (slow: for a background thread). */
int segment_prepare_spare(int dirfd, uint64_t size);
/* Grows the file to size bytes (posix_fallocate). 0 or SL_EIO. */
int segment_grow(struct segment *s, uint64_t size);

/* File offset of lsn in a segment starting at start_lsn. */
static inline uint64_t segment_offset(uint64_t start_lsn, uint64_t lsn)
{
	return SEGMENT_HEADER_SIZE + (lsn - start_lsn);
}

#endif
