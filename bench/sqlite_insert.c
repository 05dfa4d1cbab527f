/*
 * sqlite_insert.c — the raw SQLite ceiling for bench/pgbench-compare.
 *
 * What sluiced's insert workload costs with no server in the way: one
 * connection, journal_mode=WAL, synchronous=FULL, table
 * kv(k INTEGER PRIMARY KEY, v TEXT), and a loop of one-row transactions,
 * each the upsert of bench/sql/insert.sql with a random key in 1..1e9 and a
 * 100-byte value:
 *
 *   INSERT INTO kv(k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v
 *
 * run in autocommit, so each statement is its own transaction (commit and
 * fsync included), as each pgbench transaction is. The statement is
 * prepared once. The key sequence comes from a fixed seed, so runs repeat.
 *
 * usage: sqlite_insert DB_PATH [SECONDS=10] [MAX_TXNS=100000000]
 *
 * DB_PATH and its -wal and -shm files are deleted first. Prints one line:
 *
 *   sqlite_insert sync=FULL txns=N secs=S txn_per_s=X txn_median_us=M txn_p99_us=P
 *
 * Build: gcc -O2 -o sqlite_insert sqlite_insert.c -lsqlite3
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VALUE_BYTES 100
#define KEY_MAX 1000000000ULL

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* xorshift64*: a fixed, fast key sequence. */
static uint64_t next_key(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (x * 0x2545F4914F6CDD1DULL) % KEY_MAX + 1;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sqlite_insert: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static void remove_database(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char name[4096];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		unlink(name);
	}
}

int main(int argc, char **argv)
{
	const char *path;
	double max_seconds = 10;
	long max_txns = 100000000;
	sqlite3 *db = NULL;
	sqlite3_stmt *upsert = NULL;
	double *latencies = NULL;
	size_t capacity = 0, done = 0;
	char value[VALUE_BYTES];
	uint64_t rng = 0x9E3779B97F4A7C15ULL;
	double start, elapsed;
	int rc = 1;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s DB_PATH [SECONDS=10] [MAX_TXNS=100000000]\n", argv[0]);
		return 2;
	}
	path = argv[1];
	if (argc > 2)
		max_seconds = atof(argv[2]);
	if (argc > 3)
		max_txns = atol(argv[3]);
	if (max_seconds <= 0 || max_txns <= 0) {
		fprintf(stderr, "sqlite_insert: SECONDS and MAX_TXNS must be positive\n");
		return 2;
	}
	memset(value, 'x', sizeof(value));

	remove_database(path);
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		fprintf(stderr, "sqlite_insert: cannot open %s: %s\n", path, sqlite3_errmsg(db));
		goto fail;
	}
	if (exec_sql(db, "PRAGMA journal_mode=WAL") < 0 || exec_sql(db, "PRAGMA synchronous=FULL") < 0 ||
	    exec_sql(db, "CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)") < 0)
		goto fail;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO kv(k, v) VALUES (?, ?) "
			       "ON CONFLICT(k) DO UPDATE SET v = excluded.v",
			       -1, &upsert, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite_insert: prepare: %s\n", sqlite3_errmsg(db));
		goto fail;
	}

	start = now_seconds();
	for (;;) {
		double t0 = now_seconds(), t1;

		sqlite3_bind_int64(upsert, 1, (sqlite3_int64)next_key(&rng));
		sqlite3_bind_text(upsert, 2, value, VALUE_BYTES, SQLITE_STATIC);
		if (sqlite3_step(upsert) != SQLITE_DONE) {
			fprintf(stderr, "sqlite_insert: upsert: %s\n", sqlite3_errmsg(db));
			goto fail;
		}
		sqlite3_reset(upsert);
		t1 = now_seconds();

		if (done == capacity) {
			size_t n = capacity ? capacity * 2 : 65536;
			double *grown = realloc(latencies, n * sizeof(*grown));

			if (grown == NULL) {
				fprintf(stderr, "sqlite_insert: out of memory\n");
				goto fail;
			}
			latencies = grown;
			capacity = n;
		}
		latencies[done++] = (t1 - t0) * 1e6;
		if (t1 - start >= max_seconds || (long)done >= max_txns)
			break;
	}
	elapsed = now_seconds() - start;

	qsort(latencies, done, sizeof(*latencies), compare_doubles);
	printf("sqlite_insert sync=FULL txns=%zu secs=%.2f txn_per_s=%.0f txn_median_us=%.1f txn_p99_us=%.1f\n",
	       done, elapsed, (double)done / elapsed, latencies[done / 2], latencies[(size_t)((double)done * 0.99)]);
	rc = 0;
fail:
	sqlite3_finalize(upsert);
	sqlite3_close(db);
	free(latencies);
	return rc;
}
