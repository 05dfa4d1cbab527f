# faultlib.sh — the fault suite's cluster on a network of its own, and its
# nemesis. Sourced by tests/fault/test_faults.sh after lib.sh and
# repl_lib.sh (whose node bookkeeping, queries and waits it reuses).
#
# Network: every node runs in a network namespace of its own (NET-nN), with
# the address 10.77.I.2 on a veth whose other end, 10.77.I.1, is in a hub
# namespace (NET-hub) that routes between them. Clients (psql, faultload)
# run in the hub, so they reach every node whatever the partition; the
# nodes reach each other only through the hub's routing, where a partition
# is a pair of `ip rule ... blackhole` entries: packets between the two
# nodes are dropped silently, as by a dead switch port. Each node listens
# for clients on its own address, port 5432, and for peers on port 7000.
# The namespaces are removed at exit.
#
# Nemesis (each call logs "TIME_US fault|heal KIND TARGET" to $NEMESIS_LOG,
# TIME_US being CLOCK_REALTIME microseconds like faultload's history):
#   nemesis_kill NODE        kill -9 (the node is down until node_revive)
#   nemesis_pause NODE       SIGSTOP (until nemesis_heal)
#   nemesis_isolate NODE     cut NODE from every other node
#   nemesis_cut A B          cut only the link between A and B (a bridge
#                            when a third node still reaches both)
#   nemesis_heal             SIGCONT the paused, restore every link,
#                            restart the killed
#   fault_leader             the node that leads with its lease, or nothing
#   wait_leader SECONDS      the same, waiting for one
#   fault_wait_past F L SECONDS  F applied what leader L had written

: "${FAULTLOAD:?FAULTLOAD must name tests/fault/faultload}"

FAULT_NET=slf$$
FAULT_HUB=$FAULT_NET-hub
declare -gA NODE_IP=() NODE_ARGS=() NODE_PAUSED=() NODE_DOWN=()
declare -ga FAULT_RULES=() DATA_NODES=()
NEMESIS_LOG=$TEST_TMP/nemesis.log

# fault_net_up NODE...: the hub and one namespace per node.
fault_net_up() {
	local n i=0
	ip netns add "$FAULT_HUB" || fail "cannot create a network namespace (root and iproute2 needed)"
	at_exit fault_net_down
	ip -n "$FAULT_HUB" link set lo up
	ip netns exec "$FAULT_HUB" sysctl -qw net.ipv4.ip_forward=1
	for n in "$@"; do
		i=$((i + 1))
		ip netns add "$FAULT_NET-$n"
		ip link add "sl$$-$i" type veth peer name "slh$$-$i"
		ip link set "sl$$-$i" netns "$FAULT_NET-$n"
		ip link set "slh$$-$i" netns "$FAULT_HUB"
		ip -n "$FAULT_NET-$n" addr add "10.77.$i.2/24" dev "sl$$-$i"
		ip -n "$FAULT_HUB" addr add "10.77.$i.1/24" dev "slh$$-$i"
		ip -n "$FAULT_NET-$n" link set lo up
		ip -n "$FAULT_NET-$n" link set "sl$$-$i" up
		ip -n "$FAULT_HUB" link set "slh$$-$i" up
		ip -n "$FAULT_NET-$n" route add default via "10.77.$i.1"
		NODE_IP[$n]=10.77.$i.2
	done
}

fault_net_down() {
	local ns
	for ns in $(ip netns list | awk -v p="$FAULT_NET-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns"
	done
}

# psql_to NODE ARGS...: lib.sh's, through the hub to the node's address
# (so q, status_try, node_status and wait_caught_up work unchanged).
psql_to() {
	local n=$1
	shift
	timeout -k 5 "$QUERY_TIMEOUT" ip netns exec "$FAULT_HUB" \
		psql -X -w -h "${NODE_IP[$n]}" -p 5432 -U "$SL_USER" -d "$SL_DB" "$@"
}

# fault_conninfo NODE...: a libpq string for the nodes (several: multi-host).
fault_conninfo() {
	local n hosts="" ports=""
	for n in "$@"; do
		hosts+=${hosts:+,}${NODE_IP[$n]}
		ports+=${ports:+,}5432
	done
	echo "host=$hosts port=$ports user=$SL_USER dbname=$SL_DB connect_timeout=2"
}

# fnode_launch NODE [--setting=value ...]: start sluiced in NODE's namespace
# (a restart reuses the data directory and the settings of the first start).
fnode_launch() {
	local n=$1 pid
	shift
	if node_register "$n"; then
		NODE_ARGS[$n]=$(printf '%s\n' "$@")
	fi
	local args=("--listen_address=${NODE_IP[$n]}" --port=5432 "--data_dir=${NODE_DIR[$n]}/data" "--node_name=$n")
	local given
	mapfile -t given <<<"${NODE_ARGS[$n]}"
	args+=("${given[@]}")
	echo "=== $(date +%T.%3N) starting: $SLUICED ${args[*]}" >>"${NODE_LOG[$n]}"
	ip netns exec "$FAULT_NET-$n" "$SLUICED" "${args[@]}" >>"${NODE_LOG[$n]}" 2>&1 &
	pid=$!
	NODE_PID[$n]=$pid
	NODE_PORT[$n]=5432
	NODE_DOWN[$n]=0
	NODE_PAUSED[$n]=0
	log "node $n: started pid $pid at ${NODE_IP[$n]}"
}

# fnode_wait_ready NODE SECONDS: until psql connects (data nodes) or the
# process is up for a second (a witness has no client port).
fnode_wait_ready() {
	local n=$1 secs=$2 deadline
	deadline=$(($(now_ms) + secs * 1000))
	if grep -qx -- --role=witness <<<"${NODE_ARGS[$n]}"; then
		sleep 1
		proc_alive "${NODE_PID[$n]}" || fail "witness $n exited during start-up"
		return 0
	fi
	until status_try "$n" "SELECT 1" | grep -qx 1; do
		proc_alive "${NODE_PID[$n]}" || fail "node $n exited during start-up"
		[ "$(now_ms)" -lt "$deadline" ] || fail "node $n did not answer within ${secs}s"
		sleep 0.1
	done
}

nemesis_note() { echo "${EPOCHREALTIME/./} $*" >>"$NEMESIS_LOG"; }

# fault_leader: the node whose sluice_status says leader/leading, if one.
fault_leader() {
	local n
	for n in "${DATA_NODES[@]}"; do
		[ "${NODE_DOWN[$n]}" = 0 ] && [ "${NODE_PAUSED[$n]}" = 0 ] || continue
		if [ "$(status_try "$n" "SELECT role || '/' || state FROM sluice_status")" = leader/leading ]; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

# wait_leader SECONDS: print the leader once there is one.
wait_leader() {
	local deadline=$(($(now_ms) + $1 * 1000)) l
	until l=$(fault_leader); do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
	echo "$l"
}

# fault_wait_past FOLLOWER LEADER SECONDS: until the follower applied what
# the leader had written when called (works while the load runs).
fault_wait_past() {
	local f=$1 l=$2 deadline lc fa
	deadline=$(($(now_ms) + $3 * 1000))
	until lc=$(status_try "$l" "SELECT current_lsn FROM sluice_status") && [ -n "$lc" ]; do
		[ "$(now_ms)" -lt "$deadline" ] || fail "leader $l does not answer"
		sleep 0.2
	done
	while :; do
		fa=$(status_try "$f" "SELECT applied_lsn FROM sluice_status")
		if [ -n "$fa" ] && [ "$(lsn_num "$fa")" -ge "$(lsn_num "$lc")" ]; then
			return 0
		fi
		[ "$(now_ms)" -lt "$deadline" ] || fail "$f did not apply $l's $lc within $3 s (applied: ${fa:-?})"
		sleep 0.2
	done
}

nemesis_kill() {
	nemesis_note fault kill "$1"
	node_kill "$1"
	NODE_DOWN[$1]=1
}

nemesis_pause() {
	nemesis_note fault pause "$1"
	kill -STOP "${NODE_PID[$1]}"
	NODE_PAUSED[$1]=1
}

# fault_block A B: drop what A and B send each other in the hub.
fault_block() {
	local a=${NODE_IP[$1]} b=${NODE_IP[$2]}
	ip -n "$FAULT_HUB" rule add from "$a" to "$b" blackhole
	ip -n "$FAULT_HUB" rule add from "$b" to "$a" blackhole
	FAULT_RULES+=("$a $b" "$b $a")
}

nemesis_cut() {
	nemesis_note fault cut "$1-$2"
	fault_block "$1" "$2"
}

nemesis_isolate() {
	local o
	nemesis_note fault isolate "$1"
	for o in "${NODE_NAMES[@]}"; do
		[ "$o" = "$1" ] || fault_block "$1" "$o"
	done
}

nemesis_heal() {
	local n r
	for r in "${FAULT_RULES[@]}"; do
		set -- $r
		ip -n "$FAULT_HUB" rule del from "$1" to "$2" blackhole
	done
	FAULT_RULES=()
	for n in "${NODE_NAMES[@]}"; do
		if [ "${NODE_PAUSED[$n]}" = 1 ]; then
			kill -CONT "${NODE_PID[$n]}"
			NODE_PAUSED[$n]=0
		fi
		if [ "${NODE_DOWN[$n]}" = 1 ]; then
			fnode_launch "$n"
		fi
	done
	nemesis_note heal all -
}
