#!/bin/bash
# test_sandbox.sh — client SQL cannot reach the server's file system nor
# change how the database is stored, on a leader (log_mode = both, so the
# sandbox and logical capture share the authorizer) and on a follower.
#
#   - ATTACH DATABASE '/path/x.db' is refused with 42501 and creates no file
#     (it used to create it, and the attachment stayed on the pooled writer
#     connection for every other session); ATTACH '' and DETACH too;
#   - VACUUM … INTO '/path' is refused with 42501 and writes no file;
#   - load_extension() is refused with 42501;
#   - PRAGMAs that set durability, the journal or the file format
#     (synchronous, journal_mode, wal_autocheckpoint, locking_mode,
#     writable_schema, page_size, user_version, …) are refused with 42501,
#     and so is reading PRAGMA database_list (the server's paths);
#   - what stays allowed works: PRAGMA table_info, pragma_table_info(),
#     reading PRAGMA journal_mode, VACUUM, CHECKPOINT, ANALYZE, TRUNCATE;
#     logical capture still refuses a write to a table without a key (55000).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

leader_start l1 --log_mode=both
q l1 "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q l1 "INSERT INTO t VALUES (1, 'one'), (2, 'two')" >/dev/null
follower_start f1 l1
wait_caught_up f1 l1 30

target=$TEST_TMP/outside
mkdir -p "$target"
for n in l1 f1; do
	expect_sqlstate "$n" "ATTACH DATABASE '$target/attached-$n.db' AS x" 42501
	expect_sqlstate "$n" "ATTACH '' AS x" 42501
	expect_sqlstate "$n" "ATTACH ':memory:' AS x" 42501
	expect_sqlstate "$n" "DETACH DATABASE main" 42501
	expect_sqlstate "$n" "VACUUM INTO '$target/copy-$n.db'" 42501
	expect_sqlstate "$n" "VACUUM main INTO '$target/copy2-$n.db'" 42501
	expect_sqlstate "$n" "SELECT load_extension('$target/nothing')" 42501
	for p in "synchronous = OFF" "journal_mode = DELETE" "wal_autocheckpoint = 1" "locking_mode = EXCLUSIVE" \
		"writable_schema = ON" "page_size = 1024" "user_version = 7" "foreign_keys = OFF" "query_only = OFF" \
		"cache_size = 1" "temp_store_directory = '$target'" "database_list" "wal_checkpoint(TRUNCATE)" \
		"optimize" "shrink_memory"; do
		expect_sqlstate "$n" "PRAGMA $p" 42501
	done
	expect_sqlstate "$n" "SELECT * FROM pragma_database_list" 42501
	expect_match "$(psql_to "$n" -v VERBOSITY=verbose -c "PRAGMA synchronous = OFF" 2>&1 || true)" \
		"permission denied to set PRAGMA synchronous" "the refusal names the PRAGMA"
	# what stays allowed
	expect_eq "$(q "$n" "SELECT group_concat(name, ',') FROM pragma_table_info('t')")" "k,v" "pragma_table_info on $n"
	expect_match "$(q "$n" "PRAGMA table_info(t)")" "k\|INTEGER" "PRAGMA table_info on $n"
	expect_eq "$(q "$n" "PRAGMA foreign_keys")" 1 "reading PRAGMA foreign_keys on $n"
done
found=$(find "$target" -type f | head -n 5)
[ -z "$found" ] || fail "client SQL created files on the server: $found"

expect_eq "$(q l1 "PRAGMA journal_mode")" wal "reading PRAGMA journal_mode on the leader"

# the refused ATTACH left nothing attached for the next session
expect_eq "$(q l1 "SELECT count(*) FROM pragma_table_list WHERE schema NOT IN ('main', 'temp')")" 0 \
	"databases attached to the writer connection"

# maintenance still works; logical capture's own refusals still come first
expect_match "$(q l1 "VACUUM")" "VACUUM" "VACUUM on the leader"
expect_match "$(q l1 "VACUUM FULL t")" "VACUUM" "VACUUM FULL t on the leader"
expect_match "$(q l1 "CHECKPOINT")" "CHECKPOINT" "CHECKPOINT on the leader"
expect_match "$(q l1 "ANALYZE t")" "ANALYZE" "ANALYZE on the leader"
q l1 "CREATE TABLE nokey(a INTEGER, b TEXT)" >/dev/null
expect_sqlstate l1 "INSERT INTO nokey VALUES (1, 'x')" 55000
expect_match "$(q l1 "TRUNCATE t")" "TRUNCATE TABLE" "TRUNCATE on the leader"
q l1 "INSERT INTO t VALUES (3, 'three')" >/dev/null
wait_caught_up f1 l1 30
expect_eq "$(q f1 "SELECT group_concat(v) FROM t")" three "the follower after the maintenance"
node_stop f1
node_stop l1
log "PASS"
