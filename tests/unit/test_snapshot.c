/*
 * test_snapshot.c — unit tests for server/leader/snapshot.c and
 * pagesink.c: a snapshot streamed from a read transaction on a WAL
 * database is that transaction's view, whatever was written after it
 * began, byte for byte but for page 1's file change counter (the schema
 * cookie is the source's); a small database (no cache spill); pieces
 * stay within
 * their bound; and a piece callback's refusal stops the stream with its
 * code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sl_error.h"
#include "snapshot.h"

#define PIECE_MAX (64u << 10)

struct image {
	uint8_t *data;
	uint64_t size;
	size_t pieces, biggest;
	int refuse_after; /* refuse the piece after this many (0: never) */
};

static int take_piece(void *arg, uint64_t offset, const uint8_t *data, size_t len)
{
	struct image *im = arg;
	if (im->refuse_after && (int)im->pieces >= im->refuse_after)
		return SL_EIO;
	assert_true(offset + len <= im->size);
	memcpy(im->data + offset, data, len);
	im->pieces++;
	if (len > im->biggest)
		im->biggest = len;
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static char path[64];

/* A WAL database of a few MB whose last pages are still in the WAL. */
static sqlite3 *make_db(void)
{
	snprintf(path, sizeof(path), "/tmp/test_snapshot.%d.db", (int)getpid());
	unlink(path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
		    "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);"
		    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)"
		    " INSERT INTO t SELECT x, randomblob(900) FROM c;"
		    "PRAGMA wal_checkpoint(TRUNCATE);"
		    "UPDATE t SET v = randomblob(900) WHERE k % 7 = 0;"
		    "CREATE INDEX t_v ON t(v);");
	return db;
}

/* The snapshot's read transaction, opened by hand (no commit log here). */
static void begin(struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(sqlite3_open(path, &s->db), SQLITE_OK);
	exec_ok(s->db, "BEGIN; SELECT count(*) FROM sqlite_master;");
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT page_size * page_count, page_size FROM pragma_page_count, pragma_page_size", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s->size = (uint64_t)sqlite3_column_int64(st, 0);
	s->page_size = (uint32_t)sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
}

static uint8_t *read_file(const char *p, uint64_t *size)
{
	FILE *f = fopen(p, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*size = (uint64_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = malloc(*size);
	assert_int_equal(fread(data, 1, *size, f), *size);
	fclose(f);
	return data;
}

static void test_exact_view(void **state)
{
	(void)state;
	sqlite3 *w = make_db();
	struct snapshot s;
	begin(&s);
	/* writes after the snapshot began are not in it */
	exec_ok(w, "UPDATE t SET v = randomblob(900) WHERE k % 5 = 0; DELETE FROM t WHERE k > 2500;");
	struct image im = { calloc(1, s.size), s.size, 0, 0, 0 };
	char err[256] = "";
	assert_int_equal(snapshot_stream(&s, PIECE_MAX, take_piece, &im, NULL, err, sizeof(err)), 0);
	assert_true(im.biggest <= PIECE_MAX);
	assert_true(im.pieces > 1);
	/* the view, as a database file: roll the later writes back by
	 * checkpointing only what the snapshot saw is not possible, so the
	 * snapshot's view is read again through its own connection */
	snapshot_end(&s);
	sqlite3 *copy;
	char copy_path[80];
	snprintf(copy_path, sizeof(copy_path), "%s.copy", path);
	FILE *f = fopen(copy_path, "wb");
	assert_int_equal(fwrite(im.data, 1, im.size, f), im.size);
	fclose(f);
	assert_int_equal(sqlite3_open(copy_path, &copy), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(copy, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(copy, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 3000);
	sqlite3_finalize(st);
	sqlite3_close(copy);
	unlink(copy_path);
	free(im.data);
	sqlite3_close(w);
	unlink(path);
}

static void test_bytes_of_the_file(void **state)
{
	(void)state;
	sqlite3 *w = make_db();
	struct snapshot s;
	begin(&s);
	struct image im = { calloc(1, s.size), s.size, 0, 0, 0 };
	char err[256] = "";
	assert_int_equal(snapshot_stream(&s, PIECE_MAX, take_piece, &im, NULL, err, sizeof(err)), 0);
	snapshot_end(&s);
	/* nothing was written since: after a full checkpoint the file is the
	 * view, and the snapshot must be the same bytes but for page 1's file
	 * change counter and its copy (the schema cookie is the source's) */
	exec_ok(w, "PRAGMA wal_checkpoint(TRUNCATE)");
	uint64_t size;
	uint8_t *file = read_file(path, &size);
	assert_int_equal(size, im.size);
	memcpy(im.data + 24, file + 24, 4);
	memcpy(im.data + 92, file + 92, 4);
	for (uint64_t off = 0; off < size; off += s.page_size)
		if (memcmp(file + off, im.data + off, s.page_size) != 0)
			fail_msg("page %llu differs", (unsigned long long)(off / s.page_size + 1));
	free(file);
	free(im.data);
	sqlite3_close(w);
	unlink(path);
}

/* A database smaller than the sink's cache: all of it goes at commit. */
static void test_small(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/test_snapshot.%d.db", (int)getpid());
	unlink(path);
	sqlite3 *w;
	assert_int_equal(sqlite3_open(path, &w), SQLITE_OK);
	exec_ok(w, "PRAGMA journal_mode=WAL; CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');");
	struct snapshot s;
	begin(&s);
	struct image im = { calloc(1, s.size), s.size, 0, 0, 0 };
	char err[256] = "";
	assert_int_equal(snapshot_stream(&s, PIECE_MAX, take_piece, &im, NULL, err, sizeof(err)), 0);
	snapshot_end(&s);
	assert_int_equal(s.size, 2 * s.page_size);
	assert_memory_equal(im.data, "SQLite format 3", 16);
	assert_true(im.data[s.page_size] == 0x0d); /* page 2: t's leaf */
	free(im.data);
	sqlite3_close(w);
	unlink(path);
}

static void test_refused_piece(void **state)
{
	(void)state;
	sqlite3 *w = make_db();
	struct snapshot s;
	begin(&s);
	struct image im = { calloc(1, s.size), s.size, 0, 0, 2 };
	char err[256] = "";
	assert_int_equal(snapshot_stream(&s, PIECE_MAX, take_piece, &im, NULL, err, sizeof(err)), SL_EIO);
	assert_true(strlen(err) > 0);
	snapshot_end(&s);
	free(im.data);
	sqlite3_close(w);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_view),
		cmocka_unit_test(test_bytes_of_the_file),
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_refused_piece),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
