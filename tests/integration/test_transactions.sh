#!/bin/bash
# test_transactions.sh — transaction semantics as PostgreSQL clients expect
# them: visibility of committed and rolled-back work from another session,
# savepoints, a failed block (25P02, COMMIT answers ROLLBACK), a reader's
# snapshot under REPEATABLE READ, readers never blocking the writer, a write
# conflict (40001), idle_in_transaction_session_timeout (25P03) freeing the
# writer, and cursors in a block.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a --idle_in_transaction_session_timeout=2s --lock_timeout=20s
q a "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null

# ---- visibility: uncommitted work is invisible to others until COMMIT
sess_open a s1
expect_eq "$(sess_q s1 "BEGIN")" "BEGIN" "BEGIN"
expect_eq "$(sess_q s1 "INSERT INTO t VALUES (1, 'one'), (2, 'two')")" "INSERT 0 2" "insert in a block"
expect_eq "$(sess_q s1 "SELECT count(*) FROM t")" "2" "own uncommitted rows visible to self"
expect_eq "$(q a "SELECT count(*) FROM t")" "0" "uncommitted rows invisible to another session"
expect_eq "$(sess_q s1 "COMMIT")" "COMMIT" "COMMIT"
expect_eq "$(q a "SELECT count(*) FROM t")" "2" "committed rows visible to another session"

expect_eq "$(sess_q s1 "BEGIN")" "BEGIN" "BEGIN"
sess_q s1 "INSERT INTO t VALUES (3, 'three')" >/dev/null
sess_q s1 "UPDATE t SET v = 'changed' WHERE k = 1" >/dev/null
sess_q s1 "DELETE FROM t WHERE k = 2" >/dev/null
expect_eq "$(sess_q s1 "ROLLBACK")" "ROLLBACK" "ROLLBACK"
expect_eq "$(q a "SELECT k, v FROM t ORDER BY k")" "1|one
2|two" "rolled-back insert/update/delete left no trace"

# ---- savepoints
out=$(psql_to a -At -v VERBOSITY=verbose -f - 2>&1 <<'EOF'
BEGIN;
INSERT INTO t VALUES (10, 'a');
SAVEPOINT s1;
INSERT INTO t VALUES (11, 'b');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO t VALUES (12, 'c');
SAVEPOINT s2;
INSERT INTO t VALUES (10, 'duplicate');
ROLLBACK TO s2;
INSERT INTO t VALUES (13, 'd');
SAVEPOINT s3;
INSERT INTO t VALUES (14, 'e');
RELEASE SAVEPOINT s3;
COMMIT;
EOF
) || fail "savepoint script failed: $out"
expect_match "$out" 'ERROR:  23505:' "duplicate inside savepoint s2"
expect_eq "$(grep -E '^[A-Z]+( [A-Z]+)?( [0-9]+)*$' <<<"$out")" "BEGIN
INSERT 0 1
SAVEPOINT
INSERT 0 1
ROLLBACK
INSERT 0 1
SAVEPOINT
ROLLBACK
INSERT 0 1
SAVEPOINT
INSERT 0 1
RELEASE
COMMIT" "savepoint script tags"
expect_eq "$(q a "SELECT k FROM t WHERE k >= 10 ORDER BY k" | tr '\n' ,)" "10,12,13,14," \
	"rows kept by the savepoint script"
expect_sqlstate a "ROLLBACK TO SAVEPOINT nosuch" 25P01

# ---- a failed block: 25P02 until the end, COMMIT answers ROLLBACK
expect_eq "$(sess_q s1 "BEGIN")" "BEGIN" "BEGIN"
sess_q s1 "INSERT INTO t VALUES (20, 'lost')" >/dev/null
expect_match "$(sess_q s1 "SELECT * FROM no_such_table")" 'ERROR:  42P01:' "error in a block"
expect_match "$(sess_q s1 "SELECT 1")" 'ERROR:  25P02:' "statement after an error in a block"
expect_match "$(sess_q s1 "INSERT INTO t VALUES (21, 'lost')")" 'ERROR:  25P02:' "insert after an error in a block"
expect_eq "$(sess_q s1 "COMMIT")" "ROLLBACK" "COMMIT of a failed block"
expect_eq "$(q a "SELECT count(*) FROM t WHERE k IN (20, 21)")" "0" "failed block's rows not committed"
expect_eq "$(sess_q s1 "SELECT 42")" "42" "session usable after the failed block"

# ---- REPEATABLE READ: a reader keeps its snapshot while another commits
sess_open a s2
base=$(q a "SELECT count(*) FROM t")
expect_eq "$(sess_q s1 "BEGIN ISOLATION LEVEL REPEATABLE READ")" "BEGIN" "BEGIN REPEATABLE READ"
expect_eq "$(sess_q s1 "SELECT count(*) FROM t")" "$base" "snapshot count"
expect_eq "$(sess_q s2 "INSERT INTO t VALUES (30, 'new')")" "INSERT 0 1" "writer commits while a reader holds a snapshot"
expect_eq "$(sess_q s2 "UPDATE t SET v = 'uno' WHERE k = 1")" "UPDATE 1" "writer updates while a reader holds a snapshot"
expect_eq "$(sess_q s1 "SELECT count(*) FROM t")" "$base" "reader still sees its snapshot (count)"
expect_eq "$(sess_q s1 "SELECT v FROM t WHERE k = 1")" "one" "reader still sees its snapshot (value)"
expect_eq "$(sess_q s1 "COMMIT")" "COMMIT" "end of the reader's block"
expect_eq "$(sess_q s1 "SELECT count(*) FROM t")" "$((base + 1))" "new snapshot after the block"
expect_eq "$(sess_q s1 "SELECT v FROM t WHERE k = 1")" "uno" "new value after the block"

# ---- a read-only transaction never blocks a writer
expect_eq "$(sess_q s1 "BEGIN READ ONLY")" "BEGIN" "BEGIN READ ONLY"
sess_q s1 "SELECT count(*) FROM t" >/dev/null
start=$(now_ms)
expect_eq "$(sess_q s2 "INSERT INTO t VALUES (31, 'x')" 5)" "INSERT 0 1" "insert while a read-only block is open"
expect_eq "$(sess_q s2 "BEGIN; UPDATE t SET v = 'y' WHERE k = 31; COMMIT" 5)" "BEGIN
UPDATE 1
COMMIT" "explicit write block while a read-only block is open"
log "writes during an open read-only transaction took $(($(now_ms) - start)) ms"
expect_match "$(sess_q s1 "INSERT INTO t VALUES (32, 'no')")" 'ERROR:  25006:' "write in a READ ONLY block"
sess_q s1 "ROLLBACK" >/dev/null
expect_eq "$(sess_q s1 "SET default_transaction_read_only = on")" "SET" "SET default_transaction_read_only"
expect_match "$(sess_q s1 "INSERT INTO t VALUES (33, 'no')")" 'ERROR:  25006:' "write with default_transaction_read_only"
expect_eq "$(sess_q s1 "SET default_transaction_read_only = off")" "SET" "reset default_transaction_read_only"

# ---- write conflict: A reads in a block, B commits a write, A writes → 40001
q a "CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)" >/dev/null
q a "INSERT INTO acct VALUES (1, 100), (2, 100)" >/dev/null
sess_q s1 "BEGIN ISOLATION LEVEL REPEATABLE READ" >/dev/null
expect_eq "$(sess_q s1 "SELECT bal FROM acct WHERE id = 1")" "100" "A reads"
expect_eq "$(sess_q s2 "UPDATE acct SET bal = bal + 1 WHERE id = 1")" "UPDATE 1" "B commits a write"
expect_match "$(sess_q s1 "UPDATE acct SET bal = bal + 10 WHERE id = 1")" 'ERROR:  40001:' \
	"A's write after B's commit"
expect_eq "$(sess_q s1 "COMMIT")" "ROLLBACK" "A's failed block rolls back"
expect_eq "$(q a "SELECT bal FROM acct WHERE id = 1")" "101" "only B's write survived"
# Retried, the same transaction succeeds.
sess_q s1 "BEGIN ISOLATION LEVEL REPEATABLE READ" >/dev/null
sess_q s1 "SELECT bal FROM acct WHERE id = 1" >/dev/null
expect_eq "$(sess_q s1 "UPDATE acct SET bal = bal + 10 WHERE id = 1")" "UPDATE 1" "retry of A's write"
expect_eq "$(sess_q s1 "COMMIT")" "COMMIT" "retry commits"
expect_eq "$(q a "SELECT bal FROM acct WHERE id = 1")" "111" "both writes applied once"

# ---- cursors in a block
q a "CREATE TABLE nums (n INTEGER PRIMARY KEY)" >/dev/null
q a "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 25) INSERT INTO nums SELECT x FROM c" >/dev/null
out=$(psql_to a -At -v ON_ERROR_STOP=1 -f - 2>&1 <<'EOF'
BEGIN;
DECLARE cur CURSOR FOR SELECT n FROM nums ORDER BY n;
FETCH 3 FROM cur;
FETCH NEXT FROM cur;
FETCH 20 FROM cur;
FETCH 5 FROM cur;
CLOSE cur;
COMMIT;
EOF
) || fail "cursor script failed: $out"
expect_eq "$out" "BEGIN
DECLARE CURSOR
1
2
3
4
5
6
7
8
9
10
11
12
13
14
15
16
17
18
19
20
21
22
23
24
25
CLOSE CURSOR
COMMIT" "DECLARE/FETCH/CLOSE output"
# psql prints no tag for FETCH with -t; check the tags through the session.
sess_q s1 "BEGIN" >/dev/null
expect_eq "$(sess_q s1 "DECLARE c2 CURSOR FOR SELECT n FROM nums WHERE n > 20 ORDER BY n")" "DECLARE CURSOR" "DECLARE"
expect_eq "$(sess_q s1 "FETCH 2 FROM c2")" "21
22" "FETCH 2"
expect_eq "$(sess_q s1 "FETCH ALL FROM c2")" "23
24
25" "FETCH ALL"
expect_eq "$(sess_q s1 "FETCH 1 FROM c2")" "" "FETCH past the end"
expect_eq "$(sess_q s1 "CLOSE c2")" "CLOSE CURSOR" "CLOSE"
expect_match "$(sess_q s1 "FETCH 1 FROM c2")" 'ERROR:  34000:' "FETCH from a closed cursor"
sess_q s1 "ROLLBACK" >/dev/null
expect_sqlstate a "DECLARE c3 CURSOR FOR SELECT 1" 25P01
sess_close s1
sess_close s2

# ---- idle_in_transaction_session_timeout (2 s here) ends an idle session
# holding a write transaction (25P03) and frees the writer for others.
# s3 stays idle outside a transaction all that time and must survive.
sess_open a s3
holder_out=$TEST_TMP/holder.out
"$PGCLIENT" "$(node_conninfo a)" hold 30000 "BEGIN" "INSERT INTO t VALUES (40, 'held')" >"$holder_out" 2>&1 &
holder=$!
bg_track "$holder"
wait_until "grep -q '^connected' '$holder_out'" 10 || fail "holder did not start: $(cat "$holder_out")"
start=$(now_ms)
expect_eq "$(q a "SELECT count(*) FROM t WHERE k = 40")" "0" "held row invisible to others"
rc=0
wait_pid_exit "$holder" 15 || rc=$?
[ "$rc" != 124 ] || fail "idle-in-transaction session still open 15 s after the 2 s timeout: $(cat "$holder_out")"
log "holder ended after $(($(now_ms) - start)) ms with status $rc"
[ "$rc" = 2 ] || fail "holder exit status $rc, want 2 (closed by the server): $(cat "$holder_out")"
expect_match "$(cat "$holder_out")" '^closed sqlstate=25P03' "idle-in-transaction session closed with 25P03"
# The writer is free again and the held transaction was rolled back.
start=$(now_ms)
expect_eq "$(q a "INSERT INTO t VALUES (41, 'after')")" "INSERT 0 1" "write after the idle session was closed"
took=$(($(now_ms) - start))
[ "$took" -lt 5000 ] || fail "write after the idle session ended took $took ms"
expect_eq "$(q a "SELECT count(*) FROM t WHERE k = 40")" "0" "held row rolled back"
# s3, idle outside a transaction for longer than the timeout, is not affected.
expect_eq "$(sess_q s3 "SELECT 'still here'")" "still here" "idle session outside a transaction survives"
sess_close s3

node_stop a
