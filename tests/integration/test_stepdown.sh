#!/bin/bash
# test_stepdown.sh — a leader that steps down never answers a waiting
# COMMIT with success.
#
# n1 leads with synchronous_standbys = 'FIRST 1 (n3)'; n2 and n3 follow
# (peers, fixed peer ports). n3 is paused (SIGSTOP), so an INSERT on n1
# waits for it after its record is durable. Then SELECT sluice_promote()
# on n2 moves the leadership there (a planned switchover: n2 has the whole
# log). The waiting INSERT fails with SQLSTATE 40003 (its outcome is
# unknown to its client), never INSERT 0 1. n1 follows n2; the row, which
# was durable in the log n2 took over, is on n2; n3, resumed, follows n2.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

read -r p1 p2 p3 < <(free_ports 3)
COMMON=("--peers=n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3" "--cluster_secret=$REPL_SECRET")

node_start n1 --role=leader --node_name=n1 "${COMMON[@]}" "--synchronous_standbys=FIRST 1 (n3)"
node_start n2 --role=follower --node_name=n2 "${COMMON[@]}"
node_start n3 --role=follower --node_name=n3 "${COMMON[@]}"
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
node_stop n1
node_stop n3
node_stop n2
compare_stopped n2 n1
compare_stopped n2 n3
log "PASS"
