/*
 * test_replog.c — unit tests for wal/replog.c, replog_reader.c and
 * segment.c: appends read back across segment rollover; reopening finds
 * the end; a torn tail is cut at every byte boundary and appends go on;
 * damage in the middle of the log is fatal and names the file; readers see
 * only durable records and time out; retention by consumers, keep_size and
 * max_size; truncation; a failed fsync or write fails the log for good.
 *
 * Every test works in its own temporary directory, removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "record.h"
#include "replog.h"
#include "sl_error.h"

#define SEG_NAME(lsn, out) snprintf(out, sizeof(out), "%016llX.seg", (unsigned long long)(lsn))

struct fixture {
	char root[PATH_MAX];
	char dir[PATH_MAX + 8];
	struct replog_options opt;
	char err[512];
};

/* ---------------------------------------------------------------- helpers */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->root, sizeof(f->root), "%s/sluice-replog-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/log", f->root);
	f->opt.segment_size = 1024;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct replog *open_log(struct fixture *f)
{
	struct replog *l = NULL;
	int rc = replog_open(&l, f->dir, 0, &f->opt, f->err, sizeof(f->err));
	if (rc != 0)
		fail_msg("replog_open: %s (%s)", f->err, sl_strerror(rc));
	return l;
}

/* Payload i: deterministic, of varying length, some compressible. */
static size_t make_payload(unsigned i, uint8_t *p, size_t cap)
{
	size_t n = (i * 37u) % 200u;
	if (n > cap)
		n = cap;
	uint32_t s = i * 2654435761u + 1;
	for (size_t k = 0; k < n; k++) {
		s = s * 1103515245u + 12345u;
		p[k] = (i % 3 == 0) ? (uint8_t)('a' + k % 7) : (uint8_t)(s >> 16);
	}
	return n;
}

/* Appends records first..first+n-1 (epoch = i / 10 + 1, ts = i); lsns[i] gets each LSN. */
static void append_n(struct replog *l, unsigned first, unsigned n, uint64_t *lsns)
{
	uint8_t p[256];
	for (unsigned i = first; i < first + n; i++) {
		size_t len = make_payload(i, p, sizeof(p));
		uint64_t lsn = UINT64_MAX;
		assert_int_equal(replog_append(l, i / 10 + 1, i, RECORD_TXN, p, len, &lsn), 0);
		if (lsns)
			lsns[i] = lsn;
	}
}

/* Reads n records from r and checks they are records first.. in order. */
static void expect_records(struct replog_reader *r, unsigned first, unsigned n, const uint64_t *lsns)
{
	uint8_t p[256];
	struct buf out;
	buf_init(&out);
	for (unsigned i = first; i < first + n; i++) {
		struct record rec;
		int rc = replog_reader_next(r, &rec, 0);
		if (rc != 0)
			fail_msg("record %u: %s", i, sl_strerror(rc));
		size_t len = make_payload(i, p, sizeof(p));
		if (lsns)
			assert_int_equal(rec.lsn, lsns[i]);
		assert_int_equal(rec.epoch, i / 10 + 1);
		assert_int_equal(rec.commit_ts, i);
		assert_int_equal(rec.type, RECORD_TXN);
		assert_int_equal(record_payload(&rec, &out), 0);
		assert_int_equal(out.len, len);
		if (len)
			assert_memory_equal(out.data, p, len);
		assert_int_equal(replog_reader_position(r), rec.lsn + record_size(&rec));
	}
	buf_free(&out);
}

static unsigned count_segments(const char *dir)
{
	unsigned n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 20 && strcmp(e->d_name + 16, ".seg") == 0)
			n++;
	closedir(d);
	return n;
}

static uint64_t dir_bytes(const char *dir)
{
	uint64_t n = 0;
	char path[PATH_MAX + 32];
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || strstr(e->d_name, "spare"))
			continue; /* the zeroed next segment is not the log's yet */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(path, &st), 0);
		n += (uint64_t)st.st_size;
	}
	closedir(d);
	return n;
}

static int open_segment_file(struct fixture *f, uint64_t start, int flags)
{
	char name[32], path[PATH_MAX + 64];
	SEG_NAME(start, name);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	int fd = open(path, flags);
	assert_true(fd >= 0);
	return fd;
}

/* Overwrites bytes of the segment starting at start, at LSN lsn. */
static void poke(struct fixture *f, uint64_t start, uint64_t lsn, const void *p, size_t n)
{
	int fd = open_segment_file(f, start, O_WRONLY);
	assert_int_equal(pwrite(fd, p, n, (off_t)(32 + lsn - start)), (ssize_t)n);
	close(fd);
}

static uint8_t peek(struct fixture *f, uint64_t start, uint64_t lsn)
{
	uint8_t b = 0xEE;
	int fd = open_segment_file(f, start, O_RDONLY);
	assert_int_equal(pread(fd, &b, 1, (off_t)(32 + lsn - start)), 1);
	close(fd);
	return b;
}

static void flip_byte(struct fixture *f, uint64_t start, uint64_t lsn)
{
	uint8_t b = peek(f, start, lsn) ^ 0x40;
	poke(f, start, lsn, &b, 1);
}

/* The read-write fd the log holds on a segment file (found in /proc). */
static int find_log_fd(struct fixture *f, uint64_t start)
{
	char name[32], want[PATH_MAX + 64], real[PATH_MAX], link[300], got[PATH_MAX];
	SEG_NAME(start, name);
	snprintf(want, sizeof(want), "%s/%s", f->dir, name);
	assert_non_null(realpath(want, real));
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(link, got, sizeof(got) - 1);
		if (e->d_name[0] == '.' || n <= 0)
			continue;
		got[n] = '\0';
		if (strcmp(got, real) == 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR)
			found = fd;
	}
	closedir(d);
	assert_true(found >= 0);
	return found;
}

/* Puts a pipe where the fd was: fdatasync fails (EINVAL), pwrite too. */
static void break_fd(int fd)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[1], fd), fd);
	close(p[0]);
	close(p[1]);
}

/* ---------------------------------------------------------------- appends and reads */

static void test_empty_log(void **state)
{
	struct fixture *f = *state;
	struct replog *l = NULL;
	assert_int_equal(replog_open(&l, f->dir, 1000, &f->opt, f->err, sizeof(f->err)), 0);
	assert_int_equal(replog_start_lsn(l), 1000);
	assert_int_equal(replog_end_lsn(l), 1000);
	assert_int_equal(replog_durable_lsn(l), 1000);
	assert_int_equal(replog_last_epoch(l), 0);
	assert_int_equal(replog_size(l), 1024);
	assert_false(replog_failed(l));
	assert_int_equal(count_segments(f->dir), 1);
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/00000000000003E8.seg", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	struct replog_reader *r;
	struct record rec;
	assert_int_equal(replog_reader_open(l, 1000, &r), 0);
	assert_int_equal(replog_reader_next(r, &rec, 0), SL_ETIMEDOUT);
	replog_reader_close(r);
	assert_int_equal(replog_reader_open(l, 999, &r), SL_ENOTFOUND);
	assert_int_equal(replog_reader_open(l, 1001, &r), SL_ENOTFOUND);
	assert_int_equal(replog_sync(l), 0);
	replog_close(l);
	/* Reopening ignores first_lsn: the log is where it is. */
	assert_int_equal(replog_open(&l, f->dir, 5, &f->opt, f->err, sizeof(f->err)), 0);
	assert_int_equal(replog_end_lsn(l), 1000);
	/* A second opener of the same directory is refused. */
	struct replog *l2 = NULL;
	assert_int_equal(replog_open(&l2, f->dir, 0, &f->opt, f->err, sizeof(f->err)), SL_EIO);
	assert_non_null(strstr(f->err, "could not lock"));
	assert_null(l2);
	replog_close(l);
}

static void test_bad_options(void **state)
{
	struct fixture *f = *state;
	struct replog *l = NULL;
	f->opt.segment_size = 71;
	assert_int_equal(replog_open(&l, f->dir, 0, &f->opt, f->err, sizeof(f->err)), SL_EINVAL);
	assert_null(l);
	f->opt.segment_size = 0; /* the default, 64 MiB */
	assert_int_equal(replog_open(&l, f->dir, UINT64_MAX, &f->opt, f->err, sizeof(f->err)), SL_EINVAL);
	assert_int_equal(replog_open(&l, f->dir, 0, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(replog_size(l), 64ull * 1024 * 1024);
	uint8_t one = 1;
	assert_int_equal(replog_append(l, 1, 1, 9, &one, 1, NULL), SL_EINVAL);
	assert_int_equal(replog_append(l, 1, 1, RECORD_TXN, &one, (size_t)RECORD_MAX_PAYLOAD + 1, NULL), SL_ETOOBIG);
	assert_false(replog_failed(l));
	replog_close(l);
}

static void test_append_read_rollover(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[200];
	f->opt.compress = true;
	struct replog *l = open_log(f);
	struct replog_reader *r;
	struct record rec;
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	append_n(l, 0, 100, lsns);
	/* Appended but not synced: invisible. */
	assert_int_equal(replog_durable_lsn(l), 0);
	assert_int_equal(replog_reader_next(r, &rec, 0), SL_ETIMEDOUT);
	assert_int_equal(replog_reader_next(r, &rec, 20), SL_ETIMEDOUT);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_durable_lsn(l), replog_end_lsn(l));
	assert_int_equal(lsns[0], 0);
	for (unsigned i = 1; i < 100; i++)
		assert_true(lsns[i] > lsns[i - 1]);
	assert_true(count_segments(f->dir) > 5);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));
	assert_int_equal(replog_last_epoch(l), 99 / 10 + 1);
	expect_records(r, 0, 100, lsns);
	assert_int_equal(replog_reader_next(r, &rec, 0), SL_ETIMEDOUT);

	/* A record bigger than a segment gets a segment of its own. */
	uint8_t big[5000];
	uint32_t seed = 7;
	for (size_t i = 0; i < sizeof(big); i++) { /* incompressible */
		seed = seed * 1103515245u + 12345u;
		big[i] = (uint8_t)(seed >> 16);
	}
	uint64_t at;
	unsigned before = count_segments(f->dir);
	assert_int_equal(replog_append(l, 11, 500, RECORD_EPOCH, big, sizeof(big), &at), 0);
	assert_int_equal(count_segments(f->dir), before + 1);
	append_n(l, 100, 20, lsns);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_reader_next(r, &rec, 0), 0);
	assert_int_equal(rec.lsn, at);
	assert_int_equal(rec.type, RECORD_EPOCH);
	assert_int_equal(rec.raw_len, sizeof(big));
	expect_records(r, 100, 20, lsns);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));

	/* Readers may start at any record boundary, not inside one. */
	struct replog_reader *r2;
	assert_int_equal(replog_reader_open(l, lsns[50], &r2), 0);
	expect_records(r2, 50, 50, lsns);
	replog_reader_close(r2);
	assert_int_equal(replog_reader_open(l, lsns[50] + 1, &r2), SL_ENOTFOUND);
	assert_int_equal(replog_reader_open(l, replog_end_lsn(l) + 1, &r2), SL_ENOTFOUND);
	replog_reader_close(r);
	replog_close(l);
}

static void test_reopen_finds_end(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[100];
	struct replog *l = open_log(f);
	append_n(l, 0, 60, lsns);
	assert_int_equal(replog_sync(l), 0);
	uint64_t end = replog_end_lsn(l), size = replog_size(l);
	replog_close(l);

	l = open_log(f);
	assert_int_equal(replog_start_lsn(l), 0);
	assert_int_equal(replog_end_lsn(l), end);
	assert_int_equal(replog_durable_lsn(l), end);
	assert_int_equal(replog_last_epoch(l), 59 / 10 + 1);
	assert_int_equal(replog_size(l), size);
	append_n(l, 60, 40, lsns);
	assert_int_equal(lsns[60], end);
	assert_int_equal(replog_sync(l), 0);
	replog_close(l);

	l = open_log(f);
	struct replog_reader *r;
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	expect_records(r, 0, 100, lsns);
	replog_reader_close(r);
	replog_close(l);
}

/* ---------------------------------------------------------------- torn tails and damage */

/* A log of records 0..n-1 in one segment; returns the LSN after them. */
static uint64_t build_one_segment(struct fixture *f, unsigned n, uint64_t *lsns)
{
	f->opt.segment_size = 64 * 1024;
	struct replog *l = open_log(f);
	append_n(l, 0, n, lsns);
	assert_int_equal(replog_sync(l), 0);
	uint64_t end = replog_end_lsn(l);
	replog_close(l);
	return end;
}

static void check_cut_and_continue(struct fixture *f, uint64_t want_end, unsigned good, uint64_t *lsns)
{
	struct replog *l = open_log(f);
	assert_int_equal(replog_end_lsn(l), want_end);
	/* The bytes after the end are zero again. */
	for (uint64_t x = want_end; x < want_end + 300; x++)
		assert_int_equal(peek(f, 0, x), 0);
	append_n(l, good, 1, lsns);
	assert_int_equal(lsns[good], want_end);
	assert_int_equal(replog_sync(l), 0);
	struct replog_reader *r;
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	expect_records(r, 0, good + 1, lsns);
	replog_reader_close(r);
	replog_close(l);
}

static void test_torn_tail_every_byte(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[20];
	uint64_t end = build_one_segment(f, 6, lsns);
	uint64_t last = lsns[5];
	uint64_t size = end - last;
	assert_true(size > 40);
	/* A torn write: the record's bytes from cut on never reached the disk. */
	uint8_t *saved = malloc(size);
	assert_non_null(saved);
	for (uint64_t i = 0; i < size; i++)
		saved[i] = peek(f, 0, last + i);
	uint8_t zeros[512] = { 0 };
	for (uint64_t cut = 0; cut < size; cut++) {
		poke(f, 0, last, saved, size);
		poke(f, 0, last + cut, zeros, size - cut);
		check_cut_and_continue(f, last, 5, lsns);
	}
	/* The record whole again: nothing is cut. */
	poke(f, 0, last, saved, size);
	poke(f, 0, end, zeros, 100);
	struct replog *l = open_log(f);
	assert_int_equal(replog_end_lsn(l), end);
	replog_close(l);
	free(saved);
}

static void test_torn_tail_garbage(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[20];
	uint64_t end = build_one_segment(f, 6, lsns);
	uint8_t junk[77];
	memset(junk, 0xAB, sizeof(junk));
	poke(f, 0, end, junk, sizeof(junk));
	check_cut_and_continue(f, end, 6, lsns);

	/* A copy of the last record one record further on: its header is
	 * sane and its length plausible, but its LSN is wrong and nothing
	 * valid follows. A torn write, cut. */
	struct replog *l = open_log(f);
	end = replog_end_lsn(l);
	replog_close(l);
	uint64_t size = end - lsns[6];
	uint8_t copy[512];
	assert_true(size <= sizeof(copy));
	for (uint64_t i = 0; i < size; i++)
		copy[i] = peek(f, 0, lsns[6] + i);
	poke(f, 0, end, copy, size);
	check_cut_and_continue(f, end, 7, lsns);

	/* A stray byte well after the end, zeros before it: zeroed. */
	l = open_log(f);
	end = replog_end_lsn(l);
	replog_close(l);
	uint8_t one = 1;
	poke(f, 0, end + 5000, &one, 1);
	l = open_log(f);
	assert_int_equal(replog_end_lsn(l), end);
	replog_close(l);
	assert_int_equal(peek(f, 0, end + 5000), 0);
}

static void test_midlog_corrupt_last_segment(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[20];
	uint64_t end = build_one_segment(f, 6, lsns);
	struct replog *l = NULL;
	flip_byte(f, 0, lsns[3] + 45);
	assert_int_equal(replog_open(&l, f->dir, 0, &f->opt, f->err, sizeof(f->err)), SL_ECORRUPT);
	assert_null(l);
	char want[128];
	snprintf(want, sizeof(want), "/0000000000000000.seg at offset %llu (LSN 0/%llX): CRC mismatch",
		 (unsigned long long)(32 + lsns[3]), (unsigned long long)lsns[3]);
	if (!strstr(f->err, "corrupt record in log segment ") || !strstr(f->err, want))
		fail_msg("unexpected message: %s", f->err);
	/* Nothing was cut: put the byte back and the log is whole. */
	flip_byte(f, 0, lsns[3] + 45);
	l = open_log(f);
	assert_int_equal(replog_end_lsn(l), end);
	replog_close(l);

	/* A damaged CRC field in the middle: the next record is valid where
	 * the length says, so this is not a torn tail either. */
	flip_byte(f, 0, lsns[2] + 4); /* the CRC field */
	assert_int_equal(replog_open(&l, f->dir, 0, &f->opt, f->err, sizeof(f->err)), SL_ECORRUPT);
	flip_byte(f, 0, lsns[2] + 4);

	/* The very last record damaged is indistinguishable from a torn
	 * write: it is cut. */
	flip_byte(f, 0, lsns[5] + 45);
	l = open_log(f);
	assert_int_equal(replog_end_lsn(l), lsns[5]);
	replog_close(l);
}

/* Start LSNs of the segment files, sorted; returns how many. */
static unsigned segment_starts(const char *dir, uint64_t *out, unsigned max)
{
	unsigned n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 20 && strcmp(e->d_name + 16, ".seg") == 0 && n < max)
			out[n++] = strtoull(e->d_name, NULL, 16);
	closedir(d);
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void expect_corrupt_naming(struct fixture *f, const char *what, uint64_t seg)
{
	struct replog *l = NULL;
	char name[32];
	SEG_NAME(seg, name);
	int rc = replog_open(&l, f->dir, 0, &f->opt, f->err, sizeof(f->err));
	if (rc != SL_ECORRUPT || !strstr(f->err, what) || !strstr(f->err, name))
		fail_msg("want SL_ECORRUPT with \"%s\" and %s, got %s: %s", what, name, sl_strerror(rc), f->err);
	assert_null(l);
}

static void test_corrupt_not_last_segment(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[80], starts[64];
	struct replog *l = open_log(f);
	append_n(l, 0, 80, lsns);
	assert_int_equal(replog_sync(l), 0);
	replog_close(l);
	unsigned n = segment_starts(f->dir, starts, 64);
	assert_true(n >= 4);
	/* The last record of the first segment: nothing valid follows it in
	 * that file, but the file is not the last, so it is not torn. */
	unsigned last0 = 0;
	while (lsns[last0 + 1] < starts[1])
		last0++;
	flip_byte(f, 0, lsns[last0] + 2);
	expect_corrupt_naming(f, "corrupt record in log segment", 0);
	flip_byte(f, 0, lsns[last0] + 2);
	/* The first record of a middle segment. */
	flip_byte(f, starts[2], starts[2] + 41);
	expect_corrupt_naming(f, "corrupt record in log segment", starts[2]);
	flip_byte(f, starts[2], starts[2] + 41);
	/* A segment header. */
	int fd = open_segment_file(f, starts[n - 1], O_RDWR);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, 3), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, 3), 1);
	close(fd);
	expect_corrupt_naming(f, "bad header", starts[n - 1]);
	fd = open_segment_file(f, starts[n - 1], O_RDWR);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, 3), 1);
	close(fd);
	/* A leftover temporary file is removed; the log is whole again. */
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/00000000FFFFFFFF.seg.tmp", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	l = open_log(f);
	assert_int_equal(access(path, F_OK), -1);
	struct replog_reader *r;
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	expect_records(r, 0, 80, lsns);
	replog_reader_close(r);
	replog_close(l);
	/* A missing middle segment leaves a gap. */
	char name[32];
	SEG_NAME(starts[2], name);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(unlink(path), 0);
	expect_corrupt_naming(f, "are not contiguous", starts[1]);
	expect_corrupt_naming(f, "are not contiguous", starts[3]);
}

/* ---------------------------------------------------------------- waiting */

struct helper {
	struct replog *l;
	int rc;
	volatile int done;
};

static void *append_later(void *p)
{
	struct helper *h = p;
	uint8_t b[3] = { 1, 2, 3 };
	h->rc = replog_append(h->l, 4, 44, RECORD_TXN, b, sizeof(b), NULL);
	if (h->rc == 0)
		h->rc = replog_sync(h->l);
	return NULL;
}

static void *wake_until_done(void *p)
{
	struct helper *h = p;
	while (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE)) {
		replog_wakeup(h->l);
		usleep(1000);
	}
	return NULL;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static void test_reader_waits(void **state)
{
	struct fixture *f = *state;
	struct replog *l = open_log(f);
	struct replog_reader *r;
	struct record rec;
	pthread_t t;
	assert_int_equal(replog_reader_open(l, 0, &r), 0);

	double t0 = now_ms();
	assert_int_equal(replog_reader_next(r, &rec, 100), SL_ETIMEDOUT);
	assert_true(now_ms() - t0 >= 95.0);

	/* Another thread appends and syncs; the waiting reader gets it. */
	struct helper h = { .l = l };
	assert_int_equal(pthread_create(&t, NULL, append_later, &h), 0);
	assert_int_equal(replog_reader_next(r, &rec, 30000), 0);
	pthread_join(t, NULL);
	assert_int_equal(h.rc, 0);
	assert_int_equal(rec.epoch, 4);
	assert_int_equal(rec.raw_len, 3);

	/* Written but not synced stays invisible. */
	append_n(l, 0, 1, NULL);
	assert_int_equal(replog_reader_next(r, &rec, 50), SL_ETIMEDOUT);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_reader_next(r, &rec, 50), 0);

	/* replog_wakeup ends a wait without a deadline. */
	struct helper w = { .l = l };
	assert_int_equal(pthread_create(&t, NULL, wake_until_done, &w), 0);
	assert_int_equal(replog_reader_next(r, &rec, -1), SL_ETIMEDOUT);
	__atomic_store_n(&w.done, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	replog_reader_close(r);
	replog_close(l);
}

/* ---------------------------------------------------------------- retention */

static void test_retention_consumers(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[100];
	struct replog *l = open_log(f);
	struct replog_reader *r;
	append_n(l, 0, 100, lsns);
	assert_int_equal(replog_sync(l), 0);
	unsigned before = count_segments(f->dir);

	replog_retain(l, "f1", lsns[50]);
	replog_retain(l, "f2", lsns[70]);
	int removed = replog_trim(l);
	assert_true(removed > 0);
	assert_int_equal(count_segments(f->dir), before - (unsigned)removed);
	assert_true(replog_start_lsn(l) > 0 && replog_start_lsn(l) <= lsns[50]);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));
	assert_int_equal(replog_reader_open(l, 0, &r), SL_ENOTFOUND);
	assert_int_equal(replog_reader_open(l, lsns[50], &r), 0);
	expect_records(r, 50, 50, lsns);
	replog_reader_close(r);
	assert_int_equal(replog_trim(l), 0);

	/* Forgetting f1 lets the log go up to what f2 needs. */
	replog_retain(l, "f1", UINT64_MAX);
	assert_true(replog_trim(l) > 0);
	assert_true(replog_start_lsn(l) > lsns[50] && replog_start_lsn(l) <= lsns[70]);
	/* With nobody left, all but the segment being written goes. */
	replog_retain(l, "f2", UINT64_MAX);
	replog_retain(l, "never-registered", UINT64_MAX);
	assert_true(replog_trim(l) > 0);
	assert_int_equal(count_segments(f->dir), 1);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));
	replog_close(l);

	/* The start survives a reopen; appends go on. */
	l = open_log(f);
	uint64_t start = replog_start_lsn(l);
	assert_true(start > lsns[70]);
	append_n(l, 0, 30, NULL);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_reader_open(l, start, &r), 0);
	replog_reader_close(r);
	replog_close(l);
}

static void test_retention_keep_size(void **state)
{
	struct fixture *f = *state;
	f->opt.keep_size = 4000;
	struct replog *l = open_log(f);
	append_n(l, 0, 100, NULL);
	assert_int_equal(replog_sync(l), 0);
	assert_true(replog_trim(l) > 0);
	uint64_t kept = replog_end_lsn(l) - replog_start_lsn(l);
	assert_true(kept >= 4000);
	assert_true(kept < 4000 + 1024); /* one segment fewer would be too little */
	assert_int_equal(replog_trim(l), 0);
	replog_close(l);
}

static void test_retention_max_size(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[100];
	f->opt.max_size = 3000;
	struct replog *l = open_log(f);
	struct replog_reader *r;
	struct record rec;
	append_n(l, 0, 100, lsns);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	expect_records(r, 0, 3, lsns);

	/* f1 needs everything, but "local" only from record 40 on: the cap
	 * removes what f1 needs, and stops at what local needs. */
	replog_retain(l, "f1", 0);
	replog_retain(l, "local", lsns[40]);
	assert_true(replog_trim(l) > 0);
	assert_true(replog_start_lsn(l) > lsns[3] && replog_start_lsn(l) <= lsns[40]);
	assert_true(replog_size(l) > 3000);
	assert_int_equal(replog_reader_next(r, &rec, 0), SL_ENOTFOUND);
	assert_int_equal(replog_reader_next(r, &rec, 100), SL_ENOTFOUND);
	replog_reader_close(r);

	/* Local moves on: now the cap holds. */
	replog_retain(l, "local", lsns[99]);
	assert_true(replog_trim(l) > 0);
	assert_true(replog_size(l) <= 3000);
	assert_true(replog_start_lsn(l) <= lsns[99]);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));
	replog_close(l);
}

/* ---------------------------------------------------------------- truncation */

static void test_truncate(void **state)
{
	struct fixture *f = *state;
	uint64_t lsns[80], starts[64];
	struct replog *l = open_log(f);
	struct replog_reader *past, *from0;
	struct record rec;
	append_n(l, 0, 60, lsns);
	assert_int_equal(replog_sync(l), 0);
	assert_int_equal(replog_reader_open(l, lsns[50], &past), 0);
	assert_int_equal(replog_reader_open(l, 0, &from0), 0);

	assert_int_equal(replog_truncate(l, lsns[30] + 1), SL_EINVAL);
	assert_int_equal(replog_truncate(l, replog_end_lsn(l) + 1), SL_EINVAL);
	assert_int_equal(replog_truncate(l, replog_end_lsn(l)), 0);
	assert_int_equal(replog_truncate(l, lsns[30]), 0);
	assert_int_equal(replog_end_lsn(l), lsns[30]);
	assert_int_equal(replog_durable_lsn(l), lsns[30]);
	assert_int_equal(replog_last_epoch(l), 29 / 10 + 1);
	assert_int_equal(replog_size(l), dir_bytes(f->dir));
	unsigned n = segment_starts(f->dir, starts, 64);
	assert_true(starts[n - 1] <= lsns[30]);

	assert_int_equal(replog_reader_next(past, &rec, 0), SL_ENOTFOUND);
	replog_reader_close(past);
	expect_records(from0, 0, 30, lsns);
	assert_int_equal(replog_reader_next(from0, &rec, 0), SL_ETIMEDOUT);

	/* Appends go on from the cut, and survive a reopen. */
	append_n(l, 30, 20, lsns);
	assert_int_equal(replog_sync(l), 0);
	expect_records(from0, 30, 20, lsns);
	replog_reader_close(from0);
	replog_close(l);
	l = open_log(f);
	assert_int_equal(replog_end_lsn(l), lsns[49] + 40 + make_payload(49, (uint8_t[256]){ 0 }, 256));
	assert_int_equal(replog_reader_open(l, 0, &from0), 0);
	expect_records(from0, 0, 50, lsns);
	replog_reader_close(from0);

	/* Cut exactly at the start of a segment: it stays, empty. */
	n = segment_starts(f->dir, starts, 64);
	assert_true(n >= 3);
	assert_int_equal(replog_truncate(l, starts[n - 2]), 0);
	assert_int_equal(count_segments(f->dir), n - 1);
	assert_int_equal(replog_end_lsn(l), starts[n - 2]);
	append_n(l, 100, 3, NULL);
	assert_int_equal(replog_sync(l), 0);
	replog_close(l);
	l = open_log(f);
	assert_int_equal(count_segments(f->dir), n - 1);

	/* Down to nothing at all. */
	assert_int_equal(replog_truncate(l, 0), 0);
	assert_int_equal(replog_end_lsn(l), 0);
	assert_int_equal(replog_last_epoch(l), 0);
	assert_int_equal(count_segments(f->dir), 1);
	replog_close(l);
	l = open_log(f);
	assert_int_equal(replog_end_lsn(l), 0);
	replog_close(l);
}

/* ---------------------------------------------------------------- failures */

static void test_fsync_failure(void **state)
{
	struct fixture *f = *state;
	struct replog *l = open_log(f);
	struct replog_reader *r;
	struct record rec;
	append_n(l, 0, 3, NULL);
	assert_int_equal(replog_sync(l), 0);
	uint64_t durable = replog_durable_lsn(l);
	append_n(l, 3, 2, NULL);
	break_fd(find_log_fd(f, 0));
	assert_int_equal(replog_sync(l), SL_EIO);
	assert_true(replog_failed(l));
	assert_int_equal(replog_durable_lsn(l), durable);
	/* For good: nothing is retried. */
	uint8_t b = 1;
	assert_int_equal(replog_sync(l), SL_EIO);
	assert_int_equal(replog_append(l, 1, 1, RECORD_TXN, &b, 1, NULL), SL_EIO);
	assert_int_equal(replog_truncate(l, 0), SL_EIO);
	assert_int_equal(replog_durable_lsn(l), durable);
	/* Readers still get what is durable, then the failure. */
	assert_int_equal(replog_reader_open(l, 0, &r), 0);
	expect_records(r, 0, 3, NULL);
	assert_int_equal(replog_reader_next(r, &rec, 1000), SL_EIO);
	replog_reader_close(r);
	replog_close(l);
	/* Reopening rescans what is on disk. */
	l = open_log(f);
	assert_false(replog_failed(l));
	assert_true(replog_end_lsn(l) >= durable);
	replog_close(l);
}

static void test_write_failure(void **state)
{
	struct fixture *f = *state;
	struct replog *l = open_log(f);
	append_n(l, 0, 3, NULL);
	assert_int_equal(replog_sync(l), 0);
	break_fd(find_log_fd(f, 0));
	uint8_t b = 1;
	assert_int_equal(replog_append(l, 1, 1, RECORD_TXN, &b, 1, NULL), SL_EIO);
	assert_true(replog_failed(l));
	assert_int_equal(replog_sync(l), SL_EIO);
	replog_close(l);
	l = open_log(f);
	assert_false(replog_failed(l));
	replog_close(l);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_read_rollover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_finds_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_midlog_corrupt_last_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_not_last_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_consumers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_keep_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
