# repl_lib.sh — helpers for the streaming replication tests
# (test_replication*.sh, test_standby_conflict.sh). Sourced after lib.sh.
#
# Leaders: `leader_start NAME [--setting=value ...]` starts a leader with a
# peer port on 127.0.0.1 (port 0, written to a peer_port_file) and the
# test's cluster secret; PEER_PORT[NAME] is its peer port afterwards.
# Followers: `follower_start NAME LEADER [--setting=value ...]` starts a
# follower of LEADER on an empty (or its previous) data directory and waits
# (up to BOOTSTRAP_DEADLINE seconds) until its client port answers, i.e.
# until it has bootstrapped. `follower_launch` starts one without waiting
# (lib.sh's `node_launch`; `node_wait_ready` is the wait).
#
# Positions: `node_status NODE COLUMN` reads sluice_status; `lsn_num X/Y`
# turns an LSN into a number; `wait_caught_up FOLLOWER LEADER SECONDS` waits
# until the follower's applied_lsn equals the leader's current_lsn (and
# fails at once if the follower is ever ahead); `wait_replication_streaming
# LEADER FOLLOWER SECONDS` waits until sluice_replication on the leader shows
# the follower streaming with replay_lsn at the leader's current_lsn.
#
# Logs: `log_mark NODE` gives the current length of a node's log,
# `log_since NODE MARK` the lines after it, `run_log NODE` the lines of the
# node's current run (since its last "=== starting" line), `run_log_has
# NODE REGEX` whether that run logged such a line, and
# `bootstrap_lines NODE` the lines of the current run about a snapshot
# bootstrap (BOOTSTRAP_RE: begun, failed or done), `bootstraps_done NODE`
# how many bootstraps it finished (BOOTSTRAP_DONE_RE).
#
# Contents: `compare_stopped LEADER FOLLOWER [cmp]` compares two stopped
# nodes' databases with dbsum (and byte for byte with cmp);
# `discarded_txns NODE` counts the transactions a node set aside on
# rejoining another history (it needs $SLUICE).

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"

REPL_SECRET=${REPL_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
BOOTSTRAP_DEADLINE=${BOOTSTRAP_DEADLINE:-90}
# Follower log lines: any about a bootstrap (begun, failed, done), and the
# one for a finished bootstrap.
BOOTSTRAP_RE=${BOOTSTRAP_RE:-'bootstrap'}
BOOTSTRAP_DONE_RE=${BOOTSTRAP_DONE_RE:-'bootstrap done'}

declare -gA PEER_PORT=()
declare -gA FOLLOWER_ARGS=()

# node_kill_hard NAME: SIGKILL, then wait until the process is gone for
# good: its data directory lock (flock on sluiced.pid) is free. (The main
# thread may be a zombie while other threads still exit and hold it.)
node_kill_hard() {
	local n=$1 pidf
	node_kill "$n"
	pidf=${NODE_DIR[$n]}/data/sluiced.pid
	[ -e "$pidf" ] || return 0
	wait_until "flock -n '$pidf' true" 10 || fail "node $n: its data directory is still locked 10 s after SIGKILL"
}

# leader_start NAME [--setting=value ...]
leader_start() {
	local n=$1 pf
	shift
	pf=$TEST_TMP/node-$n.peerport
	rm -f "$pf"
	node_start "$n" --role=leader "--node_name=$n" --peer_listen=127.0.0.1:0 "--peer_port_file=$pf" \
		"--cluster_secret=$REPL_SECRET" "$@"
	wait_until "grep -qE '^[0-9]+\$' '$pf'" 10 || fail "leader $n: no peer port in $pf"
	PEER_PORT[$n]=$(head -n1 "$pf")
	log "leader $n: peer port ${PEER_PORT[$n]}"
}

# members_start LEADER FOLLOWER... -- [--setting=value ...]: a cluster
# whose members know each other (peers, automatic failover) on its first
# start, each node started with the settings given. The followers start
# first, so that they answer the leader's heartbeats from its start (a
# leader alone loses its lease and steps down after failover_timeout,
# which a slow start under sanitizers can reach); waits until every node
# serves and LEADER leads with its lease.
members_start() {
	local leader=$1 n followers=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		followers+=("$1")
		shift
	done
	[ "${1:-}" = -- ] || fail "members_start: want LEADER FOLLOWER... -- SETTINGS"
	shift
	for n in "${followers[@]}"; do
		node_launch "$n" --role=follower "--node_name=$n" "$@"
	done
	node_start "$leader" --role=leader "--node_name=$leader" "$@"
	for n in "${followers[@]}"; do
		node_wait_ready "$n" "$START_DEADLINE"
	done
	wait_until "[ \"\$(status_try $leader \"SELECT role || '/' || state FROM sluice_status\")\" = leader/leading ]" 30 ||
		fail "$leader does not lead: $(status_try "$leader" "SELECT * FROM sluice_status")"
}

# follower_launch NAME LEADER [--setting=value ...]: start, do not wait.
# The arguments are remembered for follower_restart.
follower_launch() {
	local n=$1 l=$2
	shift 2
	[ -n "${PEER_PORT[$l]:-}" ] || fail "no leader named $l"
	FOLLOWER_ARGS[$n]="$l $*"
	node_launch "$n" --role=follower "--node_name=$n" "--leader_peer=127.0.0.1:${PEER_PORT[$l]}" \
		"--cluster_secret=$REPL_SECRET" "$@"
}

# follower_start NAME LEADER [--setting=value ...]: start and wait until it
# serves clients (it has bootstrapped).
follower_start() {
	follower_launch "$@"
	node_wait_ready "$1" "$BOOTSTRAP_DEADLINE"
}

# follower_restart NAME: start again with the arguments of the last start.
follower_restart() {
	local n=$1
	# shellcheck disable=SC2086 # the remembered arguments hold no spaces
	follower_start "$n" ${FOLLOWER_ARGS[$n]}
}

# node_status NODE COLUMN: one column of sluice_status (fails on error).
node_status() { q "$1" "SELECT $2 FROM sluice_status"; }

# lsn_num X/Y: the LSN as a decimal number.
lsn_num() {
	[[ $1 =~ ^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$ ]] || fail "not an LSN: '$1'"
	echo $(((16#${BASH_REMATCH[1]} << 32) | 16#${BASH_REMATCH[2]}))
}

# status_try NODE SQL: the query's output, or nothing (never fails).
status_try() { psql_to "$1" -At -c "$2" 2>/dev/null || true; }

# wait_caught_up FOLLOWER LEADER SECONDS
wait_caught_up() {
	local f=$1 l=$2 secs=$3 deadline lc fa last=""
	deadline=$(($(now_ms) + secs * 1000))
	while :; do
		lc=$(status_try "$l" "SELECT current_lsn FROM sluice_status")
		fa=$(status_try "$f" "SELECT applied_lsn FROM sluice_status")
		if [ -n "$lc" ] && [ -n "$fa" ]; then
			if [ "$(lsn_num "$fa")" -gt "$(lsn_num "$lc")" ]; then
				fail "follower $f applied_lsn $fa is ahead of leader $l current_lsn $lc"
			fi
			if [ "$fa" = "$lc" ]; then
				log "$f caught up with $l at $lc"
				return 0
			fi
		fi
		last="leader current_lsn=$lc, follower applied_lsn=$fa"
		if [ "$(now_ms)" -ge "$deadline" ]; then
			fail "$f did not catch up with $l within ${secs}s: $last; follower status:
$(status_try "$f" "SELECT * FROM sluice_status")
leader's sluice_replication:
$(status_try "$l" "SELECT * FROM sluice_replication")"
		fi
		sleep 0.2
	done
}

# wait_lsn_past NODE BYTES SECONDS: until NODE's current_lsn has moved
# BYTES past where it is now.
wait_lsn_past() {
	local n=$1 bytes=$2 secs=$3 from cur deadline
	from=$(lsn_num "$(node_status "$n" current_lsn)")
	deadline=$(($(now_ms) + secs * 1000))
	while :; do
		cur=$(status_try "$n" "SELECT current_lsn FROM sluice_status")
		if [ -n "$cur" ] && [ "$(lsn_num "$cur")" -ge $((from + bytes)) ]; then
			return 0
		fi
		[ "$(now_ms)" -lt "$deadline" ] || fail "$n: current_lsn did not move $bytes bytes within ${secs}s (now $cur)"
		sleep 0.1
	done
}

# wait_replication_streaming LEADER FOLLOWER SECONDS
wait_replication_streaming() {
	local l=$1 f=$2 secs=$3 deadline row lc
	deadline=$(($(now_ms) + secs * 1000))
	while :; do
		lc=$(status_try "$l" "SELECT current_lsn FROM sluice_status")
		row=$(status_try "$l" "SELECT state, replay_lsn, flush_lsn FROM sluice_replication WHERE name = '$f'")
		if [ -n "$lc" ] && [ "$row" = "streaming|$lc|$lc" ]; then
			log "$l: sluice_replication shows $f streaming, replayed and flushed up to $lc"
			return 0
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			fail "$l: sluice_replication does not show $f streaming with replay_lsn = flush_lsn = current_lsn $lc within ${secs}s; its row: '$row'; all rows:
$(status_try "$l" "SELECT * FROM sluice_replication")"
		fi
		sleep 0.2
	done
}

# wait_row NODE SQL WANT SECONDS: until SQL's output on NODE is WANT.
wait_row() {
	local n=$1 sql=$2 want=$3 secs=$4 deadline got
	deadline=$(($(now_ms) + secs * 1000))
	while :; do
		got=$(status_try "$n" "$sql")
		[ "$got" != "$want" ] || return 0
		[ "$(now_ms)" -lt "$deadline" ] ||
			fail "$n: '$sql' did not give '$want' within ${secs}s (last: '$got')"
		sleep 0.1
	done
}

# log_mark NODE: the number of lines in the node's log so far.
log_mark() { if [ -f "${NODE_LOG[$1]}" ]; then wc -l <"${NODE_LOG[$1]}"; else echo 0; fi; }
# log_since NODE MARK: the lines after MARK.
log_since() { sed -n "$(($2 + 1)),\$p" "${NODE_LOG[$1]}"; }
# free_ports N: N ports on 127.0.0.1 nothing listens on now, on one line
# (for settings that need a fixed port, such as peers).
free_ports() {
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()' "$1"
}

# run_log_has NODE REGEX: the node's current run logged a line matching REGEX.
run_log_has() {
	local lines
	lines=$(run_log "$1")
	grep -qE -- "$2" <<<"$lines"
}

# discarded_txns NODE: the TXN records (sluice log dump) in the one
# directory of transactions NODE discarded on rejoining (DATA/discarded/).
discarded_txns() {
	local d=${NODE_DIR[$1]}/data/discarded dirs out
	dirs=$(find "$d" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
	expect_eq "$dirs" 1 "directories in $1's discarded/"
	out=$("$SLUICE" log dump "$(find "$d" -mindepth 1 -maxdepth 1 -type d)" 2>&1) ||
		fail "sluice log dump of $1's discarded transactions: $out"
	grep -c 'type: TXN' <<<"$out" || true
}

# run_log NODE: the lines of the node's current (last started) run.
run_log() { awk '/^=== /{n=0} {l[n++]=$0} END{for (i = 0; i < n; i++) print l[i]}' "${NODE_LOG[$1]}"; }
# bootstrap_lines NODE: lines of the current run reporting a bootstrap.
bootstrap_lines() { run_log "$1" | grep -v '^=== ' | grep -iE -- "$BOOTSTRAP_RE" || true; }
# bootstrap_count NODE
bootstrap_count() { bootstrap_lines "$1" | grep -c '' || true; }
# bootstraps_done NODE: how many bootstraps the current run finished.
bootstraps_done() { run_log "$1" | grep -v '^=== ' | grep -ciE -- "$BOOTSTRAP_DONE_RE" || true; }

# db_inode NODE: inode number of the node's sluice.db.
db_inode() { stat -c %i "${NODE_DIR[$1]}/data/sluice.db"; }

# compare_stopped A B [cmp]: the stopped nodes' databases hold the same
# content (dbsum); with "cmp", the files are also byte-identical.
compare_stopped() {
	local a=$1 b=$2 how=${3:-} da db sa sb
	da=${NODE_DIR[$a]}/data/sluice.db
	db=${NODE_DIR[$b]}/data/sluice.db
	sa=$("$DBSUM" "$da" 2>&1) || fail "dbsum of $a's database failed: $sa"
	sb=$("$DBSUM" "$db" 2>&1) || fail "dbsum of $b's database failed: $sb"
	if [ "$sa" != "$sb" ]; then
		"$DBSUM" -v "$da" 2>"$TEST_TMP/$a.tables" >/dev/null || true
		"$DBSUM" -v "$db" 2>"$TEST_TMP/$b.tables" >/dev/null || true
		fail "$b's content differs from $a's (dbsum $sb, want $sa); tables that differ:
$(diff "$TEST_TMP/$a.tables" "$TEST_TMP/$b.tables" | head -n 20)"
	fi
	log "$a and $b: same content (dbsum $sa)"
	if [ "$how" = cmp ]; then
		cmp -s "$da" "$db" ||
			fail "$b's sluice.db is not byte-identical to $a's: $(cmp "$da" "$db" 2>&1 | head -n 1) (sizes $(stat -c %s "$da") and $(stat -c %s "$db"))"
		log "$a and $b: sluice.db byte-identical ($(stat -c %s "$da") bytes)"
	fi
}

# ---------------------------------------------------------------- load

declare -ga WL_PIDS=() WL_OUTS=()

# wl_start CONNINFO SEED NTXN [workload options...]: a seeded workload in
# the background.
wl_start() {
	local ci=$1 seed=$2 ntxn=$3 out
	shift 3
	out=$TEST_TMP/wl.$seed.out
	timeout -k 5 300 "$WORKLOAD" "$ci" "$seed" "$ntxn" "$@" >"$out" 2>&1 &
	WL_PIDS+=($!)
	WL_OUTS+=("$out")
	bg_track $!
}

# wl_running: some workload started by wl_start still runs.
wl_running() {
	local p
	for p in "${WL_PIDS[@]}"; do
		proc_alive "$p" && return 0
	done
	return 1
}

# wl_wait SECONDS: wait for every workload; each must exit 0.
wl_wait() {
	local secs=$1 i rc
	for i in "${!WL_PIDS[@]}"; do
		rc=0
		wait_pid_exit "${WL_PIDS[$i]}" "$secs" || rc=$?
		[ "$rc" = 0 ] || fail "workload (output ${WL_OUTS[$i]}) exited $rc: $(grep -m 1 -E '^workload:' "${WL_OUTS[$i]}" || tail -n 3 "${WL_OUTS[$i]}")"
		log "$(tail -n 1 "${WL_OUTS[$i]}")"
	done
	WL_PIDS=()
	WL_OUTS=()
}
