#!/bin/bash
# test_stepdown.sh — a leader that steps down never answers a waiting
# COMMIT with success.
#
# n1 leads (every node with synchronous_standbys = 'FIRST 1 (n3)'); n2 and n3 follow
# (peers, fixed peer ports). n3 is paused (SIGSTOP), so an INSERT on n1
# waits for it after its record is durable. Then SELECT sluice_promote()
# on n2 moves the leadership there (a planned switchover: n2 has the whole
# log). The waiting INSERT fails with SQLSTATE 40003 (its outcome is
# unknown to its client), never INSERT 0 1. n1 follows n2; the row, which
# was durable in the log n2 took over, is on n2; n3, resumed, follows n2.
#
# Then a step-down while a session holds the writer inside a transaction
# block and another session's INSERT waits behind it: SELECT
# sluice_promote() on n1 moves the leadership back within seconds; the
# waiting INSERT fails at once with 40001 (it never ran), the block's
# session is ended with 57P01, and neither row is on the new leader. (The
# step-down used to wait for the waiting INSERT, which waited for the idle
# block, until one of the clients gave up.)
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

read -r p1 p2 p3 < <(free_ports 3)
COMMON=("--peers=n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3" "--cluster_secret=$REPL_SECRET")

members_start n1 n2 n3 -- "${COMMON[@]}" "--synchronous_standbys=FIRST 1 (n3)"
q n1 "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
wait_caught_up n2 n1 30
wait_caught_up n3 n1 30

kill -STOP "$(node_pid n3)"
psql_to n1 -v VERBOSITY=verbose -c "INSERT INTO t VALUES (1, 'waits for n3')" >"$TEST_TMP/insert.out" 2>&1 &
inserter=$!
bg_track "$inserter"
# durable on n1 (and so sent to n2), not published: it waits for n3
waiting() { [ -n "$(status_try n1 "SELECT 1 FROM sluice_status WHERE current_lsn <> applied_lsn")" ]; }
wait_until waiting 20 || fail "the INSERT did not wait for n3"
proc_alive "$inserter" || fail "the INSERT did not wait: $(cat "$TEST_TMP/insert.out")"

expect_eq "$(q n2 "SELECT sluice_promote()")" 1 "sluice_promote() on n2"
wait_until "[ \"\$(status_try n2 'SELECT role FROM sluice_status')\" = leader ]" 20 || fail "n2 did not become the leader"
wait_pid_exit "$inserter" 20 || true
out=$(cat "$TEST_TMP/insert.out")
expect_match "$out" "40003.*the leader stepped down before synchronous standbys confirmed the commit" \
	"the waiting INSERT's answer"
grep -q "INSERT 0 1" <<<"$out" && fail "the waiting INSERT was answered with success: $out"
expect_eq "$(node_status n2 epoch)" 2 "n2's epoch"
wait_until "[ \"\$(status_try n1 'SELECT role FROM sluice_status')\" = follower ]" 20 || fail "n1 did not step down"
expect_eq "$(q n2 "SELECT count(*) FROM t WHERE k = 1")" 1 "the row, durable in the log n2 took over"

kill -CONT "$(node_pid n3)"
wait_until "[ \"\$(status_try n2 \"SELECT count(*) FROM sluice_replication WHERE state = 'streaming'\")\" = 2 ]" 30 ||
	fail "n1 and n3 do not both stream from n2"
q n2 "INSERT INTO t VALUES (2, 'on n2')" >/dev/null
wait_caught_up n1 n2 30
wait_caught_up n3 n2 30

sess_open n2 holder
expect_match "$(sess_q holder "BEGIN; INSERT INTO t VALUES (10, 'in an open block')")" "INSERT 0 1" "the block's INSERT"
psql_to n2 -v VERBOSITY=verbose -c "INSERT INTO t VALUES (11, 'waits behind the block')" >"$TEST_TMP/behind.out" 2>&1 &
behind=$!
bg_track "$behind"
sleep 0.5
proc_alive "$behind" || fail "the second INSERT did not wait behind the block: $(cat "$TEST_TMP/behind.out")"
t0=$(now_ms)
expect_eq "$(q n1 "SELECT sluice_promote()")" 1 "sluice_promote() on n1"
wait_until "[ \"\$(status_try n1 \"SELECT role || '/' || state FROM sluice_status\")\" = leader/leading ]" 10 ||
	fail "n1 did not lead within 10 s while n2 had a block open: $(status_try n2 "SELECT * FROM sluice_status")"
log "switchover with a block open took $(($(now_ms) - t0)) ms"
rc=0
wait_pid_exit "$behind" 10 || rc=$?
[ "$rc" != 124 ] || fail "the INSERT behind the block still waits after the step-down"
expect_match "$(cat "$TEST_TMP/behind.out")" "40001.*changing role" "the INSERT that waited behind the block"
sess_send holder "COMMIT"
wait_until "! sess_alive holder" 10 || fail "the block's session still runs after the step-down"
expect_match "$(cat "${SESS_OUT[holder]}")" "57P01: terminating connection because this node stepped down" \
	"the block's session after the step-down"
expect_eq "$(q n1 "SELECT count(*) FROM t WHERE k IN (10, 11)")" 0 "rows of the block and of the waiting INSERT on n1"
q n1 "INSERT INTO t VALUES (12, 'on n1')" >/dev/null
wait_caught_up n2 n1 30
wait_caught_up n3 n1 30
node_stop n1
node_stop n3
node_stop n2
compare_stopped n1 n2
compare_stopped n1 n3
log "PASS"
