#!/bin/bash
# test_snapshots.sh — a block's read snapshot across jobs and across the
# move to the writer: cursors stepped in later messages, ROLLBACK TO a
# savepoint after a serialization failure keeping the old snapshot, a write
# refused while a cursor is open on the snapshot, utility commands over the
# extended protocol (they need the writer), an extended read never waiting
# behind, nor reading inside, another session's write transaction, and a
# query text larger than the pipelining buffer.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a --lock_timeout=20s
q a "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)" >/dev/null
q a "INSERT INTO t VALUES (1, 100)" >/dev/null

# ---- a cursor stepped by later statements of the block (each its own job)
out=$(psql_to a -At -v ON_ERROR_STOP=1 -f - 2>&1 <<'SQL'
BEGIN;
DECLARE c CURSOR FOR WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000) SELECT i FROM r;
MOVE 50000 IN c;
FETCH 2 FROM c;
COMMIT;
SQL
)
expect_eq "$out" "BEGIN
DECLARE CURSOR
MOVE 50000
50001
50002
COMMIT" "cursor moved and fetched across statements"

# ---- 40001, then ROLLBACK TO a savepoint: the old snapshot stays
sess_open a s1
sess_q s1 "BEGIN" >/dev/null
expect_eq "$(sess_q s1 "SELECT v FROM t WHERE id = 1")" "100" "snapshot read"
sess_q s1 "SAVEPOINT s" >/dev/null
expect_eq "$(q a "UPDATE t SET v = 200 WHERE id = 1")" "UPDATE 1" "concurrent update commits"
expect_match "$(sess_q s1 "UPDATE t SET v = v + 1 WHERE id = 1")" "ERROR:  40001:" "write after a concurrent commit"
expect_eq "$(sess_q s1 "ROLLBACK TO s")" "ROLLBACK" "ROLLBACK TO after 40001"
expect_eq "$(sess_q s1 "SELECT v FROM t WHERE id = 1")" "100" "ROLLBACK TO keeps the block's snapshot"
expect_match "$(sess_q s1 "UPDATE t SET v = 90 WHERE id = 1")" "ERROR:  40001:" "a second write still conflicts"
expect_eq "$(sess_q s1 "COMMIT")" "ROLLBACK" "COMMIT of the failed block"
expect_eq "$(q a "SELECT v FROM t WHERE id = 1")" "200" "the concurrent update is not lost"

# ---- a write while a cursor is open on the read snapshot is refused, clearly
sess_q s1 "BEGIN" >/dev/null
sess_q s1 "DECLARE c CURSOR FOR SELECT id FROM t" >/dev/null
expect_match "$(sess_q s1 "INSERT INTO t VALUES (2, 1)")" "ERROR:  0A000:" "write with an open cursor"
sess_q s1 "ROLLBACK" >/dev/null
expect_eq "$(q a "SELECT count(*) FROM t")" "1" "nothing written"

# ---- utility commands over the extended protocol
out=$(proto_run a "P::TRUNCATE t" "B::" "E::0" "S" "P::VACUUM" "B::" "E::0" "S" "P::CHECKPOINT" "B::" "E::0" "S")
expect_match "$out" "C TRUNCATE TABLE" "extended TRUNCATE"
expect_match "$out" "C VACUUM" "extended VACUUM"
expect_match "$out" "C CHECKPOINT" "extended CHECKPOINT"
expect_eq "$(q a "SELECT count(*) FROM t")" "0" "extended TRUNCATE emptied the table"

# ---- while another session holds the writer in a block, an extended read
# answers at once from a reader connection and does not see that block's rows
sess_q s1 "BEGIN" >/dev/null
sess_q s1 "INSERT INTO t VALUES (77, 77)" >/dev/null
start=$(now_ms)
out=$(proto_run a "P::SELECT count(*) FROM t WHERE id = 77" "B::" "E::0" "S")
elapsed=$(($(now_ms) - start))
expect_match "$out" "^D 0$" "uncommitted row invisible to an extended read"
[ "$elapsed" -lt 10000 ] || fail "the read waited ${elapsed} ms behind the writer"
sess_q s1 "ROLLBACK" >/dev/null
expect_eq "$(q a "SELECT count(*) FROM t WHERE id = 77")" "0" "rolled back"

sess_close s1

# ---- the same, when the session's previous unnamed statement was a write:
# the read parsed in the next job must still go to a reader. (It once went
# to the writer queue, waited past lock_timeout and then read inside the
# other session's open transaction.)
node_start b --lock_timeout=500ms
q b "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)" >/dev/null
sess_open b s2
sess_q s2 "BEGIN" >/dev/null
sess_q s2 "INSERT INTO t VALUES (77, 77)" >/dev/null
out=$(proto_run b "P::INSERT INTO t VALUES (6, 6)" "B::" "E::0" "S" \
	"P::SELECT count(*) FROM t WHERE id = 77" "B::" "E::0" "S")
expect_match "$out" "^E 55P03" "the write waits for the writer, then times out"
expect_match "$out" "^D 0$" "the following read does not see the open transaction's row"
sess_q s2 "ROLLBACK" >/dev/null
sess_close s2
node_stop b

# ---- a query text larger than the pipelining buffer (1 MB)
big=$(head -c 2000000 /dev/zero | tr '\0' a)
out=$(printf "SELECT length('%s');\n" "$big" | psql_to a -At -f - 2>&1)
expect_eq "$out" "2000000" "a 2 MB query"

node_stop a
log "PASS"
