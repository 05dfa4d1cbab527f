#!/bin/bash
# test_rejoin.sh — a new epoch at every leadership start, and followers
# whose log left the leader's history.
#
# 1. A former follower restarted as leader (for log_mode physical and
#    logical): leader L with followers F1 and F2; F1 stops; 5 rows written
#    on L reach F2; L and F2 stop. F1 starts as leader: its epoch is 2.
#    It takes other rows, and F2, started as F1's follower, must find that
#    its log leaves F1's history where epoch 2 starts: it keeps its 5
#    transactions in DATA_DIR/discarded (which `sluice log dump` reads: 5
#    TXN records), fetches a new snapshot (it had applied them), and ends
#    with exactly F1's content (dbsum).
# 2. Followers serve only what the leader showed, also after a crash, and
#    cut back an unapplied divergent suffix without a snapshot: L with the
#    synchronous standby F1 and the asynchronous F2; F1 paused (SIGSTOP),
#    an insert of 3 rows waits on L while F2 receives its record (it is not
#    visible yet). F2 is killed (-9) and restarted: it still shows none of
#    them. Then L and F1 are killed; F1 restarts as leader (epoch 2)
#    without that record; F2, restarted as its follower, discards exactly
#    that transaction by cutting its log back (no snapshot), streams on,
#    and ends with F1's content.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

count() { q "$1" "SELECT count(*) FROM t"; }

scenario_restart_as_leader() {
	local mode=$1 L=L$1 F1=F1$1 F2=F2$1
	log "--- $mode: a former follower restarted as leader"
	leader_start "$L" "--log_mode=$mode"
	follower_start "$F1" "$L"
	follower_start "$F2" "$L"
	q "$L" "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
	q "$L" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20) INSERT INTO t SELECT i, 'base' FROM s" >/dev/null
	wait_caught_up "$F1" "$L" 30
	wait_caught_up "$F2" "$L" 30
	node_stop "$F1"
	for i in 1 2 3 4 5; do
		q "$L" "INSERT INTO t VALUES (100 + $i, 'only on L and F2')" >/dev/null
	done
	wait_caught_up "$F2" "$L" 30
	expect_eq "$(count "$F2")" 25 "$F2's rows before the change of leader"
	expect_eq "$(node_status "$L" epoch)" 1 "$L's epoch"
	node_stop "$L"
	node_stop "$F2"

	leader_start "$F1" "--log_mode=$mode"
	expect_eq "$(node_status "$F1" epoch)" 2 "epoch of $F1 restarted as leader"
	expect_eq "$(node_status "$F1" role)" leader "$F1's role"
	q "$F1" "INSERT INTO t VALUES (200, 'new leader'), (201, 'new leader')" >/dev/null
	follower_start "$F2" "$F1"
	# it serves its old content until it reaches F1 and finds the parting
	wait_until "run_log_has $F2 'bootstrap done'" 30 || fail "$F2 fetched no new snapshot"
	wait_caught_up "$F2" "$F1" 60
	expect_eq "$(count "$F2")" 22 "$F2's rows after rejoining $F1"
	expect_eq "$(q "$F2" "SELECT count(*) FROM t WHERE k > 100 AND k < 200")" 0 "$F2's rows that only the old leader had"
	expect_eq "$(node_status "$F2" epoch)" 2 "$F2's epoch"
	run_log_has "$F2" 'discarded transactions that are not on the leader' ||
		fail "$F2 did not log the discarded transactions"
	node_stop "$F1"
	node_stop "$F2"
	compare_stopped "$F1" "$F2"
	expect_eq "$(discarded_txns "$F2")" 5 "transactions $F2 discarded"
}

scenario_unapplied_suffix() {
	local L=L3 F1=F13 F2=F23 i applied flushed
	log "--- a follower holding records the leader never showed"
	leader_start "$L" "--synchronous_standbys=FIRST 1 ($F1)"
	follower_start "$F1" "$L"
	follower_start "$F2" "$L"
	q "$L" "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
	for i in 1 2 3 4 5 6 7 8 9 10; do
		q "$L" "INSERT INTO t VALUES ($i, 'base')" >/dev/null
	done
	wait_caught_up "$F2" "$L" 30
	kill -STOP "$(node_pid "$F1")"
	psql_to "$L" -c "INSERT INTO t VALUES (101, 'never shown'), (102, 'never shown'), (103, 'never shown')" \
		>/dev/null 2>&1 &
	bg_track $!
	# F2 receives the record (it is durable on L) but may not apply it
	received_unshown() {
		local lc
		lc=$(status_try "$L" "SELECT current_lsn FROM sluice_status WHERE current_lsn <> applied_lsn")
		[ -n "$lc" ] && [ "$(status_try "$F2" "SELECT current_lsn FROM sluice_status")" = "$lc" ]
	}
	wait_until received_unshown 20 || fail "$F2 did not receive the waiting commit's record"
	applied=$(node_status "$F2" applied_lsn)
	flushed=$(node_status "$F2" current_lsn)
	[ "$(lsn_num "$flushed")" -gt "$(lsn_num "$applied")" ] || fail "$F2 applied what $L has not shown ($applied, $flushed)"
	expect_eq "$(count "$F2")" 10 "$F2's rows while the commits wait"
	node_kill_hard "$F2"
	follower_restart "$F2"
	expect_eq "$(count "$F2")" 10 "$F2's rows after a crash and restart"
	node_kill_hard "$L"
	node_kill_hard "$F1"

	leader_start "$F1"
	expect_eq "$(node_status "$F1" epoch)" 2 "epoch of $F1 restarted as leader"
	expect_eq "$(count "$F1")" 10 "rows on $F1"
	q "$F1" "INSERT INTO t VALUES (300, 'new leader')" >/dev/null
	node_stop "$F2"
	follower_start "$F2" "$F1"
	wait_caught_up "$F2" "$F1" 30
	expect_eq "$(count "$F2")" 11 "$F2's rows after rejoining $F1"
	expect_eq "$(q "$F2" "SELECT count(*) FROM t WHERE k > 100 AND k < 200")" 0 "$F2's rows never shown"
	run_log_has "$F2" 'log cut back to the leader' || fail "$F2 did not cut its log back"
	expect_eq "$(bootstrap_count "$F2")" 0 "bootstrap lines of $F2's last run (it needed no snapshot)"
	node_stop "$F1"
	node_stop "$F2"
	compare_stopped "$F1" "$F2"
	expect_eq "$(discarded_txns "$F2")" 1 "transactions $F2 discarded"
}

scenario_restart_as_leader physical
scenario_restart_as_leader logical
scenario_unapplied_suffix
log "PASS"
