#!/bin/bash
# test_replication.sh — streaming replication: a follower bootstrapped from
# a leader under load ends with the leader's content, serves reads only,
# and is found by libpq's target_session_attrs.
#
# For each log_mode (physical, logical): a leader with a peer port
# (peer_listen 127.0.0.1:0, peer_port_file, cluster_secret) and 1 MB log
# segments and checkpoint_wal_size (so that segments roll over and SQLite's
# WAL starts over during the run) runs two seeded random workloads
# (tests/integration/workload.c: DDL, savepoints, large transactions with
# blobs, VACUUM in one of them). While they run, a follower is started on an
# empty data directory: it must bootstrap (its client port opens only once
# it has a complete database) and then stream. During the load the follower
# refuses writes with 25006 and says in_hot_standby = on. After the load:
#   - the follower's applied_lsn reaches the leader's current_lsn (never
#     passes it), its state is streaming with lag_bytes 0, a row written last
#     on the leader is there;
#   - sluice_replication on the leader lists the follower as streaming with
#     flush_lsn and replay_lsn at the leader's current_lsn;
#   - physical mode only: libpq multi-host connection strings
#     (host=127.0.0.1,127.0.0.1 port=P1,P2) with target_session_attrs
#     read-write / primary find the leader and read-only / standby /
#     prefer-standby the follower, in either order of the hosts; `sluice
#     status` lists both nodes;
#   - both nodes are stopped (SIGTERM, exit 0) and their databases have the
#     same content (dbsum); in physical mode the sluice.db files are also
#     byte-identical (cmp).
# Seeds are random unless SLUICE_SEED is set; SLUICE_LONG_TESTS=1 runs
# longer workloads and three seeds per mode.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${WORKLOAD:?WORKLOAD must name tests/integration/workload}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

if [ "${SLUICE_LONG:-${SLUICE_LONG_TESTS:-0}}" = 1 ]; then
	rounds=3
	ntxn=1500
else
	rounds=1
	ntxn=500
fi
base_seed=${SLUICE_SEED:-$((RANDOM * 32768 + RANDOM))}
log "base seed $base_seed (set SLUICE_SEED=$base_seed to run the same again)"

LEADER_OPTS=(--log_segment_size=1MB --checkpoint_wal_size=1MB)

# multi_psql PORT1 PORT2 TSA: through a multi-host connection string, print
# in_hot_standby, sluice_status.role and the port psql ended up on.
multi_psql() {
	timeout -k 5 30 psql -X -w -At -v ON_ERROR_STOP=1 \
		"host=127.0.0.1,127.0.0.1 port=$1,$2 user=$SL_USER dbname=$SL_DB target_session_attrs=$3" \
		-c 'SHOW in_hot_standby' -c 'SELECT role FROM sluice_status' -c '\echo :PORT' 2>&1
}

check_multihost() {
	local l=$1 f=$2 lp fp out tsa
	lp=$(node_port "$l")
	fp=$(node_port "$f")
	for tsa in read-write primary; do
		out=$(multi_psql "$fp" "$lp" "$tsa") || fail "multi-host $tsa (follower listed first): $out"
		expect_eq "$out" "off
leader
$lp" "target_session_attrs=$tsa with the follower listed first"
		out=$(multi_psql "$lp" "$fp" "$tsa") || fail "multi-host $tsa (leader listed first): $out"
		expect_eq "$out" "off
leader
$lp" "target_session_attrs=$tsa with the leader listed first"
	done
	for tsa in read-only standby prefer-standby; do
		out=$(multi_psql "$lp" "$fp" "$tsa") || fail "multi-host $tsa (leader listed first): $out"
		expect_eq "$out" "on
follower
$fp" "target_session_attrs=$tsa with the leader listed first"
		out=$(multi_psql "$fp" "$lp" "$tsa") || fail "multi-host $tsa (follower listed first): $out"
		expect_eq "$out" "on
follower
$fp" "target_session_attrs=$tsa with the follower listed first"
	done
	# A write through read-write lands on the leader.
	out=$(timeout -k 5 30 psql -X -w -At -v ON_ERROR_STOP=1 \
		"host=127.0.0.1,127.0.0.1 port=$fp,$lp user=$SL_USER dbname=$SL_DB target_session_attrs=read-write" \
		-c "INSERT INTO marks VALUES (-1, 'via multi-host')" 2>&1) || fail "write through read-write multi-host: $out"
	expect_eq "$out" "INSERT 0 1" "write through read-write multi-host"
	log "multi-host connection strings find the leader and the follower in either order"
}

# check_cli LEADER FOLLOWER: `sluice status` shows both nodes.
check_cli() {
	local l=$1 f=$2 out rc=0 n
	for n in "$l" "$f"; do
		out=$(PGUSER=$SL_USER timeout -k 5 30 "$SLUICE" status --host "127.0.0.1:$(node_port "$n")" 2>&1) || rc=$?
		[ "$rc" = 0 ] || fail "sluice status --host (node $n) exited $rc: $out"
		expect_match "$out" "$l.*leader" "sluice status via $n lists the leader"
		expect_match "$out" "$f.*follower" "sluice status via $n lists the follower"
		out=$(PGUSER=$SL_USER timeout -k 5 30 "$SLUICE" status --host "127.0.0.1:$(node_port "$n")" --json 2>&1) || rc=$?
		[ "$rc" = 0 ] || fail "sluice status --json (node $n) exited $rc: $out"
		python3 -c 'import json, sys; json.loads(sys.stdin.read())' <<<"$out" ||
			fail "sluice status --json (node $n) is not JSON: $out"
		expect_match "$out" "\"$f\"" "sluice status --json via $n names the follower"
	done
	log "sluice status lists both nodes"
}

# A follower that stops reading (SIGSTOP) delays neither the leader nor
# the other follower; resumed, it catches up.
check_stalled_follower() {
	local l=$1 f=$2 s=stalled-$1 k
	follower_start "$s" "$l"
	wait_caught_up "$s" "$l" 30
	kill -STOP "$(node_pid "$s")"
	for k in 1 2 3 4 5; do
		q "$l" "INSERT INTO marks VALUES (1000 + $k, repeat('x', 100000))" >/dev/null
	done
	wait_caught_up "$f" "$l" 10
	expect_eq "$(q "$f" "SELECT count(*) FROM marks WHERE k > 1000")" "5" "$f: rows written while $s was stopped"
	[ "$(q "$l" "SELECT lag_bytes > 0 FROM sluice_replication WHERE name = '$s'")" = 1 ] ||
		fail "$l: sluice_replication shows no lag for the stopped follower $s"
	kill -CONT "$(node_pid "$s")"
	wait_caught_up "$s" "$l" 30
	expect_eq "$(q "$s" "SELECT count(*) FROM marks WHERE k > 1000")" "5" "$s: rows written while it was stopped"
	node_stop "$s"
	log "a stopped follower held up neither the leader nor $f"
}

for ((round = 1; round <= rounds; round++)); do
	for mode in physical logical; do
		seed=$((base_seed + round * 10))
		L=lead-$mode-$round
		F=fol-$mode-$round
		leader_start "$L" --log_mode="$mode" "${LEADER_OPTS[@]}"
		q "$L" "CREATE TABLE marks (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
		q "$L" "INSERT INTO marks VALUES (0, 'before the follower')" >/dev/null
		wl_opts=()
		[ "$mode" = physical ] || wl_opts+=(--logical)
		ci=$(node_conninfo "$L")
		wl_start "$ci" "$seed" "$ntxn" "${wl_opts[@]}"
		wl_start "$ci" $((seed + 1000000)) "$ntxn" --no-vacuum "${wl_opts[@]}"
		# Let the load build up some data and log first.
		wait_lsn_past "$L" $((4 << 20)) 30
		wl_running || fail "$L: the load ended before the follower was started (raise ntxn)"
		start=$(now_ms)
		follower_start "$F" "$L" --log_mode="$mode"
		log "$F: bootstrapped and serving after $(($(now_ms) - start)) ms; load still running: $(wl_running && echo yes || echo no)"
		[ "$(bootstraps_done "$F")" = 1 ] || fail "$F: want one line matching /$BOOTSTRAP_DONE_RE/ in its log after its first start:
$(bootstrap_lines "$F")"
		# stderr is no terminal here: progress comes as log lines, not a bar
		expect_match "$(bootstrap_lines "$F")" 'bootstrap progress received=' "$F: bootstrap progress lines"

		# A follower refuses writes and says it is a standby (during the load
		# if it still runs).
		expect_eq "$(q "$F" "SHOW in_hot_standby")" "on" "$F: in_hot_standby"
		expect_eq "$(q "$F" "SHOW transaction_read_only")" "on" "$F: transaction_read_only"
		expect_sqlstate "$F" "INSERT INTO marks VALUES (100, 'on the follower')" 25006
		expect_sqlstate "$F" "CREATE TABLE nope (x INTEGER PRIMARY KEY)" 25006
		expect_sqlstate "$F" "BEGIN; DELETE FROM marks; COMMIT" 25006
		expect_eq "$(q "$F" "SELECT role FROM sluice_status")" "follower" "$F: sluice_status.role"
		expect_match "$(q "$F" "SELECT state FROM sluice_status")" '^(catchup|streaming)$' "$F: state after the bootstrap"
		expect_eq "$(q "$F" "SELECT v FROM marks WHERE k = 0")" "before the follower" "$F: a row written before it started"
		expect_eq "$(q "$L" "SHOW in_hot_standby")" "off" "$L: in_hot_standby"

		wl_wait 300
		q "$L" "INSERT INTO marks VALUES (1, 'after the load')" >/dev/null
		wait_caught_up "$F" "$L" 120
		expect_eq "$(q "$F" "SELECT v FROM marks WHERE k = 1")" "after the load" "$F: the last row written on the leader"
		lc=$(node_status "$L" current_lsn)
		expect_eq "$(q "$L" "SELECT role, state, applied_lsn, node_name FROM sluice_status")" "leader|leading|$lc|$L" "$L: sluice_status"
		expect_eq "$(q "$F" "SELECT role, node_name, leader, current_lsn, applied_lsn FROM sluice_status")" \
			"follower|$F|127.0.0.1:${PEER_PORT[$L]}|$lc|$lc" "$F: sluice_status when caught up"
		wait_row "$F" "SELECT state, lag_bytes FROM sluice_status" "streaming|0" 30
		expect_eq "$(q "$F" "SELECT sluice_current_lsn()")" "$lc" "$F: sluice_current_lsn()"
		expect_eq "$(q "$L" "SELECT sluice_current_lsn()")" "$lc" "$L: sluice_current_lsn()"
		wait_replication_streaming "$L" "$F" 30
		expect_eq "$(q "$L" "SELECT count(*), min(lag_bytes) FROM sluice_replication")" "1|0" "$L: sluice_replication rows"
		expect_eq "$(q "$F" "SELECT count(*) FROM sluice_replication")" "0" "$F: sluice_replication is empty on a follower"
		expect_eq "$(q "$L" "SELECT address FROM sluice_replication WHERE name = '$F'")" "127.0.0.1:$(node_port "$F")" \
			"$L: the follower's client address in sluice_replication"

		if [ "$mode" = physical ] && [ "$round" = 1 ]; then
			check_multihost "$L" "$F"
			wait_caught_up "$F" "$L" 30
			expect_eq "$(q "$F" "SELECT v FROM marks WHERE k = -1")" "via multi-host" "$F: the row written through multi-host"
			check_cli "$L" "$F"
			check_stalled_follower "$L" "$F"
		fi

		node_stop "$F"
		node_stop "$L"
		if [ "$mode" = physical ]; then
			compare_stopped "$L" "$F" cmp
		else
			compare_stopped "$L" "$F"
		fi
		rm -rf "$(node_dir "$L")/data" "$(node_dir "$F")/data"
	done
done
log "all rounds converged (base seed $base_seed)"
