/*
 * segment.c — one segment file of the replication log (see segment.h).
 *
 * SEGMENT FILE FORMAT
 *
 * The log directory holds segment files named by the LSN of their first
 * byte: 16 upper-case hex digits and ".seg" (the segment starting at LSN
 * 0x1A2B is "0000000000001A2B.seg"). A segment file is a 32-byte header
 * followed by records (format: record.c) back to back, then zeros. Every
 * integer is big-endian.
 *
 *   offset size  field
 *        0    8  magic: "SLSEG001" in ASCII
 *        8    8  start LSN: must match the file name
 *       16    4  format version: 1
 *       20    4  reserved, must be 0
 *       24    4  CRC: zlib crc32() of bytes 0..23
 *       28    4  padding, must be 0
 *       32       the record at the start LSN, then the next, ...
 *
 * The record at LSN x lives at file offset 32 + (x - start). Records never
 * span segments. A new segment file is preallocated to the configured
 * segment size by writing zeros, so it is all zeros after its header; a
 * record that is bigger than that gets a segment just big enough for it.
 * Zeros are written rather than allocated with posix_fallocate: on ext4 an
 * allocated but unwritten block costs a journal commit at the first
 * fdatasync after it is written, about three times the cost of the sync
 * itself. So that a new segment does not stall appends while it is
 * zeroed, a spare file (SEGMENT_SPARE_NAME) is zeroed ahead of time and
 * renamed into place.
 *
 * FINDING THE END
 *
 * A segment's records end at the first offset where no record decodes with
 * the expected LSN, or where the file ends. What is there says why:
 *
 *   - the file's end, or zeros where the next record header would be: the
 *     clean end (SEGMENT_STOP_ZERO);
 *   - a bad record whose length field is plausible and after which a valid
 *     record with the right LSN decodes: damage in the middle of the log
 *     (SEGMENT_STOP_CORRUPT), never to be cut silently;
 *   - any other bad record: a torn write at the tail (SEGMENT_STOP_TORN).
 *
 * What replog.c does with each (a torn tail is cut only in the last
 * segment) is described there.
 *
 * Creating a segment is crash-safe: the file is written under the name
 * NAME.tmp, preallocated, fdatasynced, renamed and the directory fsynced,
 * so a segment file either exists whole or not at all; replog_open removes
 * leftover .tmp files.
 */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "sl_error.h"

#define SEGMENT_MAGIC "SLSEG001"
#define SEGMENT_VERSION 1
#define SEGMENT_READAHEAD (256u * 1024u)

void segment_window_init(struct segment_window *w)
{
	buf_init(&w->b);
	w->off = 0;
	w->fd = -1;
}

void segment_window_reset(struct segment_window *w)
{
	buf_reset(&w->b);
	w->off = 0;
	w->fd = -1;
}

void segment_window_free(struct segment_window *w)
{
	buf_free(&w->b);
	w->off = 0;
	w->fd = -1;
}

void segment_name(uint64_t start_lsn, char out[SEGMENT_NAME_LEN + 1])
{
	snprintf(out, SEGMENT_NAME_LEN + 1, "%016llX.seg", (unsigned long long)start_lsn);
}

bool segment_parse_name(const char *name, uint64_t *start_lsn)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = (v << 4) | (uint64_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			v = (v << 4) | (uint64_t)(c - 'A' + 10);
		else
			return false;
	}
	if (strcmp(name + 16, ".seg") != 0)
		return false;
	*start_lsn = v;
	return true;
}

static void segment_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void segment_header_build(uint8_t h[SEGMENT_HEADER_SIZE], uint64_t start_lsn)
{
	memset(h, 0, SEGMENT_HEADER_SIZE);
	memcpy(h, SEGMENT_MAGIC, 8);
	segment_put32(h + 8, (uint32_t)(start_lsn >> 32));
	segment_put32(h + 12, (uint32_t)start_lsn);
	segment_put32(h + 16, SEGMENT_VERSION);
	segment_put32(h + 24, (uint32_t)crc32(crc32(0L, Z_NULL, 0), h, 24));
}

/* NULL when the header is good and names start_lsn, else what is wrong. */
static const char *segment_header_check(const uint8_t h[SEGMENT_HEADER_SIZE], uint64_t start_lsn)
{
	if (memcmp(h, SEGMENT_MAGIC, 8) != 0)
		return "bad magic";
	if (get_u32(h + 24) != (uint32_t)crc32(crc32(0L, Z_NULL, 0), h, 24))
		return "header CRC mismatch";
	if (get_u32(h + 16) != SEGMENT_VERSION)
		return "unknown format version";
	if (get_u32(h + 20) != 0 || get_u32(h + 28) != 0)
		return "reserved field is not zero";
	if ((((uint64_t)get_u32(h + 8) << 32) | get_u32(h + 12)) != start_lsn)
		return "start LSN does not match the file name";
	return NULL;
}

/*
 * Points *p at n bytes of the file at off, reading them (and up to ahead
 * bytes in all) unless the window holds them; *got < n only at the end of
 * the file.
 */
static int segment_window_get(int fd, struct segment_window *w, uint64_t off, size_t n, size_t ahead,
			      const uint8_t **p, size_t *got)
{
	if (w->fd == fd && off >= w->off && off - w->off <= w->b.len && w->b.len - (off - w->off) >= n) {
		*p = w->b.data + (off - w->off);
		*got = n;
		return 0;
	}
	size_t amount = n > ahead ? n : ahead;
	segment_window_reset(w);
	if (!buf_reserve(&w->b, amount)) {
		buf_reset(&w->b);
		return SL_ENOMEM;
	}
	size_t have;
	int rc = fileio_pread_all(fd, w->b.data, amount, off, &have);
	if (rc != 0)
		return rc;
	w->b.len = have;
	w->off = off;
	w->fd = fd;
	*p = w->b.data;
	*got = have < n ? have : n;
	return 0;
}

static int segment_fail(char *err, size_t errlen, const char *what, const char *name)
{
	int saved = errno;
	snprintf(err, errlen, "could not %s log segment %s: %s", what, name, strerror(saved));
	errno = saved;
	return saved == ENOMEM ? SL_ENOMEM : SL_EIO;
}

/* Writes zeros over [from, to) of fd. */
static int zero_fill(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[1 << 16];
	while (from < to) {
		size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		if (fileio_pwrite_all(fd, zeros, n, from) != 0)
			return SL_EIO;
		from += n;
	}
	return 0;
}

int segment_prepare_spare(int dirfd, uint64_t size)
{
	struct stat sb;
	if (fstatat(dirfd, SEGMENT_SPARE_NAME, &sb, 0) == 0 && (uint64_t)sb.st_size == size)
		return 0;
	static const char tmp[] = SEGMENT_SPARE_NAME ".tmp";
	int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return SL_EIO;
	int rc = zero_fill(fd, 0, size);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = SL_EIO;
	close(fd);
	if (rc == 0 && renameat(dirfd, tmp, dirfd, SEGMENT_SPARE_NAME) != 0)
		rc = SL_EIO;
	if (rc != 0)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

/* The spare file under the name tmp, if there is one of the right size. */
static int take_spare(int dirfd, const char *tmp, uint64_t size)
{
	if (renameat(dirfd, SEGMENT_SPARE_NAME, dirfd, tmp) != 0)
		return -1;
	int fd = openat(dirfd, tmp, O_RDWR | O_CLOEXEC);
	struct stat sb;
	if (fd >= 0 && (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Writes the file under NAME.tmp; the caller renames it. */
static int segment_create_tmp(int dirfd, const char *tmp, uint64_t start_lsn, uint64_t size, int *fd_out,
			      char *err, size_t errlen)
{
	uint8_t h[SEGMENT_HEADER_SIZE];
	int fd = take_spare(dirfd, tmp, size);
	bool zeroed = fd >= 0;
	if (fd < 0)
		fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return segment_fail(err, errlen, "create", tmp);
	segment_header_build(h, start_lsn);
	if (fileio_pwrite_all(fd, h, sizeof(h), 0) != 0)
		goto fail;
	if (!zeroed && zero_fill(fd, sizeof(h), size) != 0)
		goto fail;
	if (fdatasync(fd) != 0)
		goto fail;
	*fd_out = fd;
	return 0;
fail:
	segment_fail(err, errlen, "write", tmp);
	close(fd);
	unlinkat(dirfd, tmp, 0);
	return SL_EIO;
}

int segment_create(int dirfd, uint64_t start_lsn, uint64_t size, struct segment **out, char *err, size_t errlen)
{
	char tmp[SEGMENT_NAME_LEN + 5];
	struct segment *s = calloc(1, sizeof(*s));
	int rc = SL_ENOMEM;
	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	s->fd = -1;
	segment_name(start_lsn, s->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->name);
	rc = segment_create_tmp(dirfd, tmp, start_lsn, size, &s->fd, err, errlen);
	if (rc != 0)
		goto fail;
	rc = SL_EIO;
	if (renameat(dirfd, tmp, dirfd, s->name) != 0) {
		segment_fail(err, errlen, "rename", tmp);
		unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	if (fsync(dirfd) != 0) {
		segment_fail(err, errlen, "fsync the directory of", s->name);
		goto fail;
	}
	s->start_lsn = s->end_lsn = start_lsn;
	s->file_size = size;
	*out = s;
	return 0;
fail:
	segment_free(s);
	return rc;
}

int segment_open(int dirfd, const char *name, struct segment **out, char *err, size_t errlen)
{
	uint8_t h[SEGMENT_HEADER_SIZE];
	struct stat st;
	size_t got;
	const char *why;
	int rc = SL_EIO;
	struct segment *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	s->fd = -1;
	if (!segment_parse_name(name, &s->start_lsn)) {
		snprintf(err, errlen, "bad log segment name %s", name);
		rc = SL_EINVAL;
		goto fail;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->end_lsn = s->start_lsn;
	if ((s->fd = openat(dirfd, name, O_RDWR | O_CLOEXEC)) < 0) {
		rc = segment_fail(err, errlen, "open", name);
		goto fail;
	}
	if (fstat(s->fd, &st) != 0 || fileio_pread_all(s->fd, h, sizeof(h), 0, &got) != 0) {
		rc = segment_fail(err, errlen, "read", name);
		goto fail;
	}
	rc = SL_ECORRUPT;
	if (got < sizeof(h)) {
		snprintf(err, errlen, "log segment %s is shorter than its header (%zu bytes)", name, got);
		goto fail;
	}
	if ((why = segment_header_check(h, s->start_lsn)) != NULL) {
		snprintf(err, errlen, "log segment %s has a bad header: %s", name, why);
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	*out = s;
	return 0;
fail:
	segment_free(s);
	return rc;
}

void segment_free(struct segment *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int segment_read(int fd, uint64_t start_lsn, uint64_t lsn, uint64_t limit_lsn, struct segment_window *w,
		 struct record *rec, const char **why)
{
	uint64_t off = segment_offset(start_lsn, lsn);
	uint64_t avail = limit_lsn - lsn;
	size_t want = avail < RECORD_HEADER_SIZE ? (size_t)avail : RECORD_HEADER_SIZE;
	size_t ahead = avail < SEGMENT_READAHEAD ? (size_t)avail : SEGMENT_READAHEAD;
	const uint8_t *p;
	size_t got, used;
	int rc = segment_window_get(fd, w, off, want, ahead, &p, &got);
	if (rc != 0)
		return rc;
	rc = record_decode(p, got, lsn, rec, &used);
	if (rc == SL_EAGAIN && got == RECORD_HEADER_SIZE) {
		/* The header is sane, so its length may be used. */
		uint64_t total = RECORD_HEADER_SIZE + (uint64_t)get_u32(p + 36);
		if (total > avail) {
			*why = "record runs past the end of the segment";
			return SL_ECORRUPT;
		}
		if ((rc = segment_window_get(fd, w, off, (size_t)total, (size_t)total, &p, &got)) != 0)
			return rc;
		rc = record_decode(p, got, lsn, rec, &used);
	}
	if (rc == SL_EAGAIN) {
		*why = "segment file ends inside the record";
		return SL_ECORRUPT;
	}
	if (rc != 0)
		*why = record_diagnose(p, got, lsn);
	return rc;
}

int segment_write(struct segment *s, uint64_t lsn, const void *p, size_t n)
{
	return fileio_pwrite_all(s->fd, p, n, segment_offset(s->start_lsn, lsn));
}

static bool segment_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Why did the scan stop at res->end_lsn? Sets res->stop. */
static int segment_classify(struct segment *s, uint64_t limit_lsn, struct segment_window *w,
			    struct segment_scan *res)
{
	uint64_t lsn = res->end_lsn;
	uint64_t avail = limit_lsn - lsn;
	size_t want = avail < RECORD_HEADER_SIZE ? (size_t)avail : RECORD_HEADER_SIZE;
	const uint8_t *p;
	size_t got;
	int rc = segment_window_get(s->fd, w, segment_offset(s->start_lsn, lsn), want, want, &p, &got);
	if (rc != 0)
		return rc;
	if (segment_all_zero(p, got)) {
		res->stop = SEGMENT_STOP_ZERO;
		return 0;
	}
	res->stop = SEGMENT_STOP_TORN;
	if (got < RECORD_HEADER_SIZE)
		return 0;
	uint64_t len = get_u32(p + 36);
	if (len > RECORD_MAX_PAYLOAD || 2 * RECORD_HEADER_SIZE + len > avail)
		return 0;
	uint64_t next = lsn + RECORD_HEADER_SIZE + len;
	struct record rec;
	const char *why;
	rc = segment_read(s->fd, s->start_lsn, next, limit_lsn, w, &rec, &why);
	if (rc == 0)
		res->stop = SEGMENT_STOP_CORRUPT;
	return rc == SL_ECORRUPT ? 0 : rc;
}

int segment_scan(struct segment *s, uint64_t limit_lsn, struct segment_window *w, struct segment_scan *res)
{
	uint64_t file_end = s->start_lsn + (s->file_size - SEGMENT_HEADER_SIZE);
	if (limit_lsn > file_end)
		limit_lsn = file_end;
	segment_window_reset(w);
	memset(res, 0, sizeof(*res));
	res->end_lsn = s->start_lsn;
	res->stop = SEGMENT_STOP_LIMIT;
	while (res->end_lsn < limit_lsn) {
		struct record rec;
		const char *why = NULL;
		int rc = segment_read(s->fd, s->start_lsn, res->end_lsn, limit_lsn, w, &rec, &why);
		if (rc == SL_ECORRUPT) {
			res->why = why;
			return segment_classify(s, limit_lsn, w, res);
		}
		if (rc != 0)
			return rc;
		res->end_lsn += record_size(&rec);
		res->last_epoch = rec.epoch;
		res->nrecords++;
	}
	return 0;
}

int segment_is_zero_from(struct segment *s, uint64_t lsn, struct segment_window *w, bool *zero)
{
	uint64_t off = segment_offset(s->start_lsn, lsn);
	*zero = true;
	segment_window_reset(w);
	while (off < s->file_size) {
		uint64_t left = s->file_size - off;
		size_t n = left < SEGMENT_READAHEAD ? (size_t)left : SEGMENT_READAHEAD;
		const uint8_t *p;
		size_t got;
		int rc = segment_window_get(s->fd, w, off, n, n, &p, &got);
		if (rc != 0)
			return rc;
		if (!segment_all_zero(p, got)) {
			*zero = false;
			return 0;
		}
		if (got < n)
			break;
		off += got;
	}
	return 0;
}

int segment_cut(struct segment *s, uint64_t lsn)
{
	if (zero_fill(s->fd, segment_offset(s->start_lsn, lsn), s->file_size) != 0)
		return SL_EIO;
	if (fsync(s->fd) != 0)
		return SL_EIO;
	return 0;
}

int segment_grow(struct segment *s, uint64_t size)
{
	if (zero_fill(s->fd, s->file_size, size) != 0)
		return SL_EIO;
	s->file_size = size;
	return 0;
}
