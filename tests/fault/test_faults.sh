#!/bin/bash
# test_faults.sh — the fault suite: a workload that records every
# operation's outcome (tests/fault/faultload.c) runs against a cluster on a
# network of its own (tests/fault/faultlib.sh) while a nemesis kills,
# pauses and partitions nodes; after healing and catching up, the checker
# (tests/fault/check.py) proves that no acknowledged write was lost, no
# two leaders acknowledged writes at once, the bank's total held, reads on
# a node never went back, and every data node holds the same content. One
# line per schedule:
#
#   kill/3: ops ok=… failed=… unknown=… reads=… lost=0 phantom=0
#           split-brain=0 bank=0 stale-reads=0 identical=yes failovers=…
#           failover p50=…ms p99=…ms
#
# Schedules are NEMESIS/TOPOLOGY: topology 3 (three data nodes) or 2w (two
# data nodes and a witness); nemesis
#   kill            kill -9 the leader, restart it 3 s later
#   pause           SIGSTOP the leader for 2.5 s (past failover_timeout)
#   isolate-leader  cut the leader from every other node for 3 s
#   isolate-one     cut a random node (maybe the leader, maybe the
#                   witness) from the rest for 3 s
#   bridge          cut the link between the leader and one other node for
#                   3 s; a third node still reaches both
#   mixed           one of the above at random each round
# with rounds of fault, heal, 2 s of quiet, for the schedule's duration.
#
# By default each nemesis runs once for FAULT_SECONDS (20) on three nodes,
# and kill and isolate-leader on two nodes and a witness. With
# SLUICE_LONG_TESTS=1 (scripts/run-tests --long): twelve schedules, every
# nemesis on both topologies, 300 s each (FAULT_LONG_SECONDS). FAULT_SCHEDULES
# ("kill/3 bridge/2w ...") picks schedules by hand; FAULT_SEED seeds the
# choices (default: the time, printed).
#
# Needs root and iproute2 (network namespaces); the settings are the
# defaults but for the synchronous standbys: ANY 1 of the data nodes.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"
source "$TOP_SRCDIR/tests/fault/faultlib.sh"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"

ACCOUNTS=5
BALANCE=100
KEYS=8
SEED=${FAULT_SEED:-$(date +%s)}
RANDOM=$SEED
log "seed $SEED (FAULT_SEED=$SEED repeats the nemesis's choices)"

if [ -n "${FAULT_SCHEDULES:-}" ]; then
	read -r -a SCHEDULES <<<"$FAULT_SCHEDULES"
	SECONDS_EACH=${FAULT_SECONDS:-20}
elif [ "${SLUICE_LONG_TESTS:-0}" = 1 ]; then
	SCHEDULES=()
	for nem in kill pause isolate-leader isolate-one bridge mixed; do
		SCHEDULES+=("$nem/3" "$nem/2w")
	done
	SECONDS_EACH=${FAULT_LONG_SECONDS:-300}
else
	SCHEDULES=(kill/3 pause/3 isolate-leader/3 isolate-one/3 bridge/3 kill/2w isolate-leader/2w)
	SECONDS_EACH=${FAULT_SECONDS:-20}
fi

# pick WORD...: one of the words at random.
pick() {
	local a=("$@")
	echo "${a[RANDOM % ${#a[@]}]}"
}

# round NEMESIS: one fault on the current leader (or a random node), held,
# then healed.
round() {
	local nem=$1 leader others=() n
	leader=$(wait_leader 20) || fail "no leader within 20 s before a fault"
	for n in "${NODE_NAMES[@]}"; do
		[ "$n" = "$leader" ] || others+=("$n")
	done
	[ "$nem" != mixed ] || nem=$(pick kill pause isolate-leader isolate-one bridge)
	log "fault: $nem (leader $leader)"
	case $nem in
	kill) nemesis_kill "$leader" && sleep 3 ;;
	pause) nemesis_pause "$leader" && sleep 2.5 ;;
	isolate-leader) nemesis_isolate "$leader" && sleep 3 ;;
	isolate-one) nemesis_isolate "$(pick "${NODE_NAMES[@]}")" && sleep 3 ;;
	bridge) nemesis_cut "$leader" "$(pick "${others[@]}")" && sleep 3 ;;
	*) fail "unknown nemesis $nem" ;;
	esac
	nemesis_heal
	sleep 2
}

# rows N V: "(0, V), (1, V), ... (N-1, V)"
rows() { seq 0 $(($1 - 1)) | awk -v v="$2" '{ printf "%s(%d, %s)", (NR > 1 ? ", " : ""), $1, v }'; }

# cluster_start TOPOLOGY: the nodes, the tables, every follower caught up.
cluster_start() {
	local topo=$1 n peers="" i=0 all role
	if [ "$topo" = 3 ]; then
		all=(n1 n2 n3)
		DATA_NODES=(n1 n2 n3)
	else
		all=(n1 n2 w)
		DATA_NODES=(n1 n2)
	fi
	fault_net_up "${all[@]}"
	for n in "${all[@]}"; do
		i=$((i + 1))
		peers+=${peers:+, }$n@10.77.$i.2:7000
	done
	local sync
	sync="ANY 1 ($(printf '%s, ' "${DATA_NODES[@]}" | sed 's/, $//'))"
	for n in "${all[@]}"; do
		case $n in n1) role=leader ;; w) role=witness ;; *) role=follower ;; esac
		fnode_launch "$n" "--role=$role" "--peers=$peers" "--cluster_secret=$REPL_SECRET" \
			"--synchronous_standbys=$sync"
	done
	for n in "${all[@]}"; do
		fnode_wait_ready "$n" 60
	done
	# n1 leads the first epoch, unless a slow start made it step down first
	local first
	first=$(wait_leader 30) || fail "no leader within 30 s of the start"
	q "$first" "CREATE TABLE fset (id INTEGER PRIMARY KEY, epoch INTEGER, node TEXT)" >/dev/null
	q "$first" "CREATE TABLE reg (k INTEGER PRIMARY KEY, v INTEGER)" >/dev/null
	q "$first" "CREATE TABLE bank (id INTEGER PRIMARY KEY, bal INTEGER)" >/dev/null
	q "$first" "INSERT INTO reg VALUES $(rows "$KEYS" 0)" >/dev/null
	q "$first" "INSERT INTO bank VALUES $(rows "$ACCOUNTS" "$BALANCE")" >/dev/null
	for n in "${DATA_NODES[@]}"; do
		[ "$n" = "$first" ] || wait_caught_up "$n" "$first" 60
	done
}

# cluster_stop: every node stopped (SIGTERM, exit 0), the network removed.
cluster_stop() {
	local n
	for n in "${NODE_NAMES[@]}"; do
		node_stop "$n"
	done
	fault_net_down
	NODE_NAMES=()
	NODE_PID=()
	NODE_DIR=()
	NODE_LOG=()
	NODE_ARGS=()
}

# run_schedule NEMESIS/TOPOLOGY: one schedule, its line, its verdict.
run_schedule() {
	local name=$1 nem=${1%/*} topo=${1#*/} dir readers=() n leader t_end
	dir=$TEST_TMP/$nem-$topo
	mkdir -p "$dir"
	: >"$NEMESIS_LOG"
	log "---- schedule $name: $SECONDS_EACH s"
	cluster_start "$topo"
	for n in "${DATA_NODES[@]}"; do
		readers+=(--read "$n=$(fault_conninfo "$n")")
	done
	ip netns exec "$FAULT_HUB" "$FAULTLOAD" --rw "$(fault_conninfo "${DATA_NODES[@]}") target_session_attrs=read-write" \
		"${readers[@]}" --out "$dir/history" --seconds $((SECONDS_EACH + 300)) --seed "$SEED" \
		--keys "$KEYS" --accounts "$ACCOUNTS" 2>"$dir/faultload.err" &
	local load=$!
	bg_track "$load"
	sleep 1
	t_end=$(($(now_ms) + SECONDS_EACH * 1000))
	while [ "$(now_ms)" -lt "$t_end" ]; do
		round "$nem"
	done

	# heal is done; one leader, every follower caught up, still writing
	leader=$(wait_leader 30) || fail "no leader within 30 s of the last heal"
	for n in "${DATA_NODES[@]}"; do
		[ "$n" = "$leader" ] || fault_wait_past "$n" "$leader" 60
	done
	sleep 1
	kill -TERM "$load"
	wait_pid_exit "$load" 30 || fail "faultload did not stop within 30 s"
	wait "$load" || fail "faultload failed: $(cat "$dir/faultload.err")"

	leader=$(wait_leader 30) || fail "no leader after the workload stopped"
	for n in "${DATA_NODES[@]}"; do
		[ "$n" = "$leader" ] || wait_caught_up "$n" "$leader" 60
	done
	q "$leader" "SELECT id FROM fset" >"$dir/fset"
	q "$leader" "SELECT k || '|' || v FROM reg" >"$dir/reg"
	q "$leader" "SELECT id || '|' || bal FROM bank" >"$dir/bank"
	sed -i '/^(\|^SELECT\|^$/d' "$dir/fset" "$dir/reg" "$dir/bank"
	cp "$NEMESIS_LOG" "$dir/nemesis"

	cluster_stop
	local sums identical=yes
	sums=$(for n in "${DATA_NODES[@]}"; do "$DBSUM" "$TEST_TMP/node-$n/data/sluice.db"; done | sort -u)
	[ "$(grep -c '' <<<"$sums")" = 1 ] || identical=no
	mv "$TEST_TMP"/node-* "$dir/"
	if ! python3 "$TOP_SRCDIR/tests/fault/check.py" "$name" "$dir/history" "$dir/nemesis" "$dir" \
		$((ACCOUNTS * BALANCE)) "$identical" >"$dir/verdict"; then
		cat "$dir/verdict"
		echo "$name: FAILED" >>"$TEST_TMP/verdicts"
	fi
	head -n 1 "$dir/verdict" | tee -a "$TEST_TMP/lines"
}

for s in "${SCHEDULES[@]}"; do
	run_schedule "$s"
done
echo "---- fault suite, seed $SEED"
cat "$TEST_TMP/lines"
[ ! -e "$TEST_TMP/verdicts" ] || fail "schedules broke a promise: $(cat "$TEST_TMP/verdicts")"
