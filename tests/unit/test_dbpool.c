/*
 * test_dbpool.c — unit tests for the connection pool's statement checks
 * (server/exec/dbpool.c) on a real SQLite database in a temporary
 * directory.
 *
 * dbconn_reads_no_data tells a read of the node's own status tables and
 * plain expressions (what a node that must not show its data still
 * answers) from everything that reads stored data: a table, a join with
 * one, the schema, a view, and a table that took a status table's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dbpool.h"

static struct dbpool *pool;
static char dir[] = "/tmp/test_dbpool_XXXXXX";
static char path[sizeof(dir) + 16];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	char err[256];
	if (dbpool_open(path, false, 0, NULL, NULL, &pool, err, sizeof(err)) != 0) {
		fprintf(stderr, "dbpool_open: %s\n", err);
		return -1;
	}
	return dbconn_exec(pool->writer, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); "
					 "CREATE VIEW v AS SELECT v FROM t; INSERT INTO t VALUES (1, 'x')") == 0
		       ? 0
		       : -1;
}

static int teardown(void **state)
{
	(void)state;
	dbpool_close(pool);
	char cmd[sizeof(dir) + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_reads_no_data(void **state)
{
	(void)state;
	char err[256];
	struct dbconn *c = dbpool_acquire(pool, err, sizeof(err));
	assert_non_null(c);
	static const char *const none[] = {
		"SELECT * FROM sluice_status",
		"SELECT node_name, lease FROM SLUICE_STATUS WHERE role = 'leader'",
		"SELECT count(*) FROM sluice_replication",
		"SELECT s.role, r.name FROM sluice_status s LEFT JOIN sluice_replication r ON 1",
		"SELECT 1",
		"SELECT 6 * 7, upper('x'), ?",
		"SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) ORDER BY x",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		if (!dbconn_reads_no_data(c, none[i]))
			fail_msg("taken for a read of data: %s", none[i]);
	static const char *const data[] = {
		"SELECT * FROM t",
		"SELECT count(*) FROM t",
		"SELECT s.node_name, t.v FROM sluice_status s, t",
		"SELECT (SELECT max(k) FROM t) FROM sluice_status",
		"SELECT * FROM sluice_status WHERE EXISTS (SELECT 1 FROM t)",
		"SELECT * FROM v",
		"SELECT name FROM sqlite_master",
		"SELECT * FROM pragma_table_info('t')",
		"SELECT * FROM no_such_table",
		"not sql at all",
	};
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
		if (dbconn_reads_no_data(c, data[i]))
			fail_msg("taken for a read of no data: %s", data[i]);
	/* a table that took a status table's name holds data like any other */
	assert_int_equal(dbconn_exec(pool->writer, "CREATE TABLE sluice_replication(x); "
						   "INSERT INTO sluice_replication VALUES (1)"),
			 0);
	dbpool_release(pool, c);
	c = dbpool_acquire(pool, err, sizeof(err));
	assert_non_null(c);
	assert_false(dbconn_reads_no_data(c, "SELECT * FROM sluice_replication"));
	assert_true(dbconn_reads_no_data(c, "SELECT * FROM sluice_status"));
	dbpool_release(pool, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_no_data),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
