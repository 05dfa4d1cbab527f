# lib.sh — shared helpers for sluice's integration tests. Sourced by every
# tests/integration/test_*.sh after `set -euo pipefail`.
#
# Environment (exported by `make check`):
#   SLUICED     path of the sluiced binary
#   PGCLIENT    path of tests/integration/pgclient (the libpq test client)
#   TOP_SRCDIR  source tree root
# Optional:
#   KEEP_TMP=1  keep the per-test temporary directory for inspection
#   SL_USER     user name for connections (default "sluice"), SL_DB likewise
#   PGPASSWORD  used by psql/pgclient as usual, also for readiness checks
#
# Nodes: `node_start NAME [--setting=value ...]` starts sluiced on 127.0.0.1
# with port 0 and a port_file, a data directory of its own under the test's
# temporary directory (unless --data_dir=... is given; a restarted NAME keeps
# its directory), logs to a file, and waits with a deadline until the port
# file exists and psql connects (-D DIR works too); `node_launch` starts
# one without waiting and `node_wait_ready NAME SECONDS` is the wait. `node_port NAME`,
# `node_pid NAME`, `node_dir NAME`, `node_log NAME`, `node_conninfo NAME`
# tell about it; `node_stop` (SIGTERM, must exit 0) and `node_kill` end it.
#
# Queries: `q NODE SQL` (psql, stops at the first error, prints results and
# command tags), `expect_sqlstate NODE SQL STATE`, `expect_eq GOT WANT WHAT`,
# `expect_match GOT REGEX WHAT`, `wait_until CMD SECONDS`, `fail MESSAGE`.
# Sessions (`sess_open/sess_q/sess_close`) are long-lived psql processes fed
# through a FIFO, for tests that interleave several connections.
#
# Every wait has a deadline; on any failure (`fail`, or a command failing
# under set -e) the node logs are printed; on exit every process the test
# started is killed (nodes, sessions, and PIDs given to `bg_track`), the
# commands given to `at_exit` are run, and the temporary directory removed.

set -E

: "${SLUICED:?SLUICED must name the sluiced binary}"
: "${PGCLIENT:?PGCLIENT must name the pgclient binary}"
: "${TOP_SRCDIR:?TOP_SRCDIR must name the source tree}"

SL_USER=${SL_USER:-sluice}
SL_DB=${SL_DB:-sluice}
START_DEADLINE=${START_DEADLINE:-30}
STOP_DEADLINE=${STOP_DEADLINE:-20}
QUERY_TIMEOUT=${QUERY_TIMEOUT:-60}

# Keep the clients away from any ambient PostgreSQL configuration.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGSERVICEFILE PGOPTIONS \
	PGSSLMODE PGTARGETSESSIONATTRS PGAPPNAME PGPASSFILE PGCLIENT_DIALECT 2>/dev/null || true
export PGCONNECT_TIMEOUT=10
export PSQLRC=/dev/null

TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$TEST_NAME.XXXXXX")

declare -gA NODE_PID=() NODE_PORT=() NODE_DIR=() NODE_LOG=()
declare -ga NODE_NAMES=()
declare -ga BG_PIDS=()
declare -ga EXIT_HOOKS=()
declare -gA SESS_PID=() SESS_FD=() SESS_OUT=()

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "$TEST_NAME" "$*" >&2; }

dump_logs() {
	local n
	for n in "${NODE_NAMES[@]}"; do
		echo "----- log of node $n (${NODE_LOG[$n]}), last 150 lines -----"
		tail -n 150 "${NODE_LOG[$n]}" 2>/dev/null || true
	done
	echo "----- end of logs -----"
}

# fail MESSAGE: print it, the node logs, and exit 1.
# Called in a command substitution it also stops the main test shell.
fail() {
	local i where=""
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		if [ "${BASH_SOURCE[$i]}" = "$0" ]; then
			where=" (line ${BASH_LINENO[$((i - 1))]})"
			break
		fi
	done
	echo "FAIL: $TEST_NAME$where: $*" >&2
	if [ ! -e "$TEST_TMP/.failed" ]; then
		touch "$TEST_TMP/.failed"
		dump_logs >&2
	fi
	if [ "$BASHPID" != "$$" ]; then
		kill -TERM "$$" 2>/dev/null || true
	fi
	exit 1
}

on_err() {
	local rc=$? line=$1 cmd=$2
	[ -e "$TEST_TMP/.failed" ] && return
	touch "$TEST_TMP/.failed"
	echo "FAIL: $TEST_NAME: command failed (exit $rc) at line $line: $cmd" >&2
	dump_logs >&2
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

# True if pid $1 is alive and not a zombie.
proc_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

cleanup() {
	local rc=$? n p s
	trap - ERR
	set +e
	local pids=()
	for s in "${!SESS_PID[@]}"; do
		eval "exec ${SESS_FD[$s]}>&-" 2>/dev/null
		pids+=("${SESS_PID[$s]}")
	done
	pids+=("${BG_PIDS[@]}")
	for n in "${NODE_NAMES[@]}"; do
		pids+=("${NODE_PID[$n]:-}")
	done
	for p in "${pids[@]}"; do
		if [ -n "$p" ] && proc_alive "$p"; then
			disown "$p" 2>/dev/null # no "Killed" job notices
			kill -9 "$p" 2>/dev/null
		fi
	done
	for p in "${pids[@]}"; do
		[ -n "$p" ] && wait_until "! proc_alive $p" 10
	done
	for p in "${EXIT_HOOKS[@]}"; do
		eval "$p"
	done
	if [ "$rc" != 0 ] && [ ! -e "$TEST_TMP/.failed" ]; then
		echo "FAIL: $TEST_NAME: exit status $rc" >&2
		dump_logs >&2
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "kept $TEST_TMP" >&2
	else
		rm -rf "$TEST_TMP"
	fi
	[ "$rc" = 0 ] && echo "PASS: $TEST_NAME"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# bg_track PID: kill PID at exit if it still runs.
bg_track() { BG_PIDS+=("$1"); }

# at_exit CMD: evaluate CMD at exit, after the test's processes are killed
# and before the temporary directory is removed (e.g. to unmount a file
# system mounted under it).
at_exit() { EXIT_HOOKS+=("$1"); }

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# wait_until CMD TIMEOUT_SECONDS: evaluate CMD every 50 ms until it succeeds
# (return 0) or the deadline passes (return 1). Bounded by the deadline.
wait_until() {
	local cmd=$1 timeout=$2 deadline
	deadline=$(($(now_ms) + timeout * 1000))
	while :; do
		if eval "$cmd" >/dev/null 2>&1; then
			return 0
		fi
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# wait_pid_exit PID TIMEOUT_SECONDS: wait until a child process has exited;
# then reap it and return its exit status (124 if still running).
wait_pid_exit() {
	local pid=$1 timeout=$2 rc=0
	if ! wait_until "! proc_alive $pid" "$timeout"; then
		return 124
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# ---------------------------------------------------------------- nodes

node_port() { [ -n "${NODE_PORT[$1]:-}" ] || fail "no node named $1"; echo "${NODE_PORT[$1]}"; }
node_pid() { [ -n "${NODE_PID[$1]:-}" ] || fail "no node named $1"; echo "${NODE_PID[$1]}"; }
node_dir() { echo "${NODE_DIR[$1]}"; }
node_log() { echo "${NODE_LOG[$1]}"; }
# node_conninfo NAME [extra key=value ...]
node_conninfo() {
	local n=$1
	shift
	echo "host=127.0.0.1 port=$(node_port "$n") user=$SL_USER dbname=$SL_DB $*"
}

# psql_to NAME [psql args...]: psql connected to node NAME, bounded in time.
psql_to() {
	local n=$1
	shift
	timeout -k 5 "$QUERY_TIMEOUT" psql -X -w -h 127.0.0.1 -p "$(node_port "$n")" -U "$SL_USER" -d "$SL_DB" "$@"
}

# node_register NAME: its directory and log under the test's directory,
# once (a restarted node keeps them). True if it was new.
node_register() {
	[ -z "${NODE_DIR[$1]:-}" ] || return 1
	NODE_DIR[$1]=$TEST_TMP/node-$1
	NODE_LOG[$1]=$TEST_TMP/node-$1.log
	NODE_NAMES+=("$1")
	mkdir -p "${NODE_DIR[$1]}"
}

# node_start NAME [--setting=value ...]
# node_launch NAME [--setting=value ...]: start a node without waiting.
node_launch() {
	local n=$1 a datadir="" pid
	shift
	for a in "$@"; do
		case $a in --data_dir=* | -D) datadir=given ;; esac
	done
	node_register "$n" || true # a restart keeps its directory
	if [ -n "${NODE_PID[$n]:-}" ] && proc_alive "${NODE_PID[$n]}"; then
		fail "node $n is already running"
	fi
	rm -f "${NODE_DIR[$n]}/port"
	local args=(--listen_address=127.0.0.1 --port=0 "--port_file=${NODE_DIR[$n]}/port")
	[ -n "$datadir" ] || args+=("--data_dir=${NODE_DIR[$n]}/data")
	echo "=== $(date +%T.%3N) starting: $SLUICED ${args[*]} $*" >>"${NODE_LOG[$n]}"
	"$SLUICED" "${args[@]}" "$@" >>"${NODE_LOG[$n]}" 2>&1 &
	pid=$!
	NODE_PID[$n]=$pid
	NODE_PORT[$n]=
	log "node $n: started pid $pid"
}

# node_has_port NAME: its port file holds a port.
node_has_port() { grep -qE '^[0-9]+$' "${NODE_DIR[$1]}/port" 2>/dev/null; }

# node_wait_ready NAME SECONDS: wait until the port file exists and psql
# connects (fails if the process exits or the deadline passes).
node_wait_ready() {
	local n=$1 secs=$2 pid deadline
	pid=$(node_pid "$n")
	deadline=$(($(now_ms) + secs * 1000))
	while ! node_has_port "$n"; do
		proc_alive "$pid" || fail "node $n (pid $pid) exited during start-up"
		[ "$(now_ms)" -lt "$deadline" ] || fail "node $n: no port file ${NODE_DIR[$n]}/port within ${secs}s"
		sleep 0.05
	done
	NODE_PORT[$n]=$(head -n1 "${NODE_DIR[$n]}/port")
	while ! timeout -k 2 10 psql -X -w -At -h 127.0.0.1 -p "${NODE_PORT[$n]}" -U "$SL_USER" -d "$SL_DB" \
		-c 'SELECT 1' >/dev/null 2>&1; do
		proc_alive "$pid" || fail "node $n (pid $pid) exited during start-up"
		[ "$(now_ms)" -lt "$deadline" ] || fail "node $n: psql could not connect to port ${NODE_PORT[$n]} within ${secs}s"
		sleep 0.05
	done
	log "node $n: ready on port ${NODE_PORT[$n]}"
}

# node_start NAME [--setting=value ...]: start a node and wait until it serves.
node_start() {
	node_launch "$@"
	node_wait_ready "$1" "$START_DEADLINE"
}

# node_stop NAME: SIGTERM, wait with a deadline; the exit status must be 0.
node_stop() {
	local n=$1 pid rc=0
	pid=$(node_pid "$n")
	proc_alive "$pid" || fail "node $n (pid $pid) is not running at stop"
	kill -TERM "$pid"
	wait_pid_exit "$pid" "$STOP_DEADLINE" || rc=$?
	[ "$rc" != 124 ] || fail "node $n (pid $pid) did not exit within ${STOP_DEADLINE}s of SIGTERM"
	[ "$rc" = 0 ] || fail "node $n (pid $pid) exited with status $rc after SIGTERM (want 0)"
	node_check_log "$n"
	log "node $n: stopped (exit 0)"
}

# node_check_log NAME: fail on sanitizer reports or crash notices in the log
# (with an ASan/UBSan build, runtime errors do not change the exit status).
node_check_log() {
	local hit
	hit=$(grep -m 5 -E 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:|double free|free\(\): invalid|corrupted' \
		"${NODE_LOG[$1]}" 2>/dev/null) || true
	[ -z "$hit" ] || fail "node $1: its log reports memory errors:
$hit"
}

# node_kill NAME: SIGKILL and reap.
node_kill() {
	local n=$1 pid
	pid=$(node_pid "$n")
	disown "$pid" 2>/dev/null || true # no "Killed" job notice; the status is not wanted
	kill -KILL "$pid" 2>/dev/null || true
	wait_pid_exit "$pid" 10 || true
	log "node $n: killed"
}

# ---------------------------------------------------------------- queries

# q NAME SQL: run SQL with psql (unaligned, tuples only; command tags
# printed), stop at the first error; prints the output.
q() {
	local n=$1 sql=$2 out rc=0
	out=$(psql_to "$n" -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$sql" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		fail "query on $n failed (exit $rc): $sql
$out"
	fi
	printf '%s\n' "$out"
}

# q_raw NAME SQL: like q but never fails; prints stdout+stderr and returns
# psql's exit status.
q_raw() {
	local n=$1 sql=$2
	psql_to "$n" -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$sql" 2>&1
}

# expect_eq GOT WANT [WHAT]
expect_eq() {
	local got=$1 want=$2 what=${3:-value}
	if [ "$got" != "$want" ]; then
		fail "$what: got
--------
$got
--------
want
--------
$want
--------"
	fi
}

# expect_match GOT REGEX [WHAT] (extended regex, whole output searched)
expect_match() {
	local got=$1 re=$2 what=${3:-value}
	if ! grep -qE -- "$re" <<<"$got"; then
		fail "$what: output does not match /$re/:
$got"
	fi
}

# expect_sqlstate NAME SQL STATE: SQL must fail with SQLSTATE STATE.
expect_sqlstate() {
	local n=$1 sql=$2 state=$3 out rc=0
	out=$(psql_to "$n" -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$sql" 2>&1) || rc=$?
	[ "$rc" != 0 ] || fail "'$sql' on $n succeeded, want SQLSTATE $state:
$out"
	grep -qE "(ERROR|FATAL):  $state:" <<<"$out" ||
		fail "'$sql' on $n: want SQLSTATE $state, got:
$out"
	log "ok: '$sql' -> $state"
}

# pgclient ARGS...: run the libpq test client, bounded in time.
pgclient() { timeout -k 5 "$QUERY_TIMEOUT" "$PGCLIENT" "$@"; }

# ---------------------------------------------------------------- sessions
# A session is a long-lived psql reading from a FIFO, for tests that
# interleave statements of several connections. Errors do not end it.

# sess_open NODE SESS [psql args...]
sess_open() {
	local n=$1 s=$2 fifo out pid fd
	shift 2
	fifo=$TEST_TMP/sess-$s.in
	out=$TEST_TMP/sess-$s.out
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$out"
	psql -X -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port "$n")" -U "$SL_USER" -d "$SL_DB" "$@" \
		<"$fifo" >"$out" 2>&1 &
	pid=$!
	exec {fd}>"$fifo"
	SESS_PID[$s]=$pid
	SESS_FD[$s]=$fd
	SESS_OUT[$s]=$out
	sess_q "$s" 'SELECT 1' >/dev/null
}

# sess_q SESS SQL [TIMEOUT]: send SQL, wait until it is done, print its
# output (results, command tags and errors). Fails after the deadline.
sess_q() {
	local s=$1 sql=$2 timeout=${3:-$QUERY_TIMEOUT} mark start
	# Unique without shared state: sess_q usually runs in a $(subshell).
	mark="__sess_${s}_${EPOCHREALTIME/./}_${RANDOM}__"
	start=$(grep -c '' "${SESS_OUT[$s]}" || true)
	[[ $sql =~ \;[[:space:]]*$ ]] || sql="$sql;"
	printf '%s\n\\echo %s\n' "$sql" "$mark" >&"${SESS_FD[$s]}" ||
		fail "session $s: cannot send (psql gone?)"
	if ! wait_until "grep -qx '$mark' '${SESS_OUT[$s]}'" "$timeout"; then
		fail "session $s: '$sql' not done within ${timeout}s; psql $(proc_alive "${SESS_PID[$s]}" && echo running || echo exited); output:
$(cat "${SESS_OUT[$s]}")"
	fi
	sed -n "$((start + 1)),\$p" "${SESS_OUT[$s]}" | sed "/^$mark\$/,\$d"
}

# sess_send SESS SQL: send SQL (terminated by ;) without waiting for it.
sess_send() {
	printf '%s;\n' "$2" >&"${SESS_FD[$1]}" || fail "session $1: cannot send"
}

# sess_alive SESS
sess_alive() { proc_alive "${SESS_PID[$1]}"; }

# sess_close SESS: end psql (\q; other children may hold the FIFO open, so
# EOF alone is not enough) and wait for it.
sess_close() {
	local s=$1 rc=0
	printf '\\q\n' >&"${SESS_FD[$s]}" 2>/dev/null || true
	eval "exec ${SESS_FD[$s]}>&-"
	wait_pid_exit "${SESS_PID[$s]}" 10 || rc=$?
	[ "$rc" != 124 ] || fail "session $s: psql did not exit"
	unset "SESS_PID[$s]" "SESS_FD[$s]"
	return 0
}

# ---------------------------------------------------------------- raw bytes

# startup_hex USER: hex of a protocol 3.0 startup packet for USER.
startup_hex() {
	python3 -c '
import struct, sys
u = sys.argv[1].encode()
body = struct.pack("!I", 196608) + b"user\0" + u + b"\0database\0" + u + b"\0\0"
print((struct.pack("!I", len(body) + 4) + body).hex())' "$1"
}

# proto_hex MSG...: the hex of frontend protocol messages, one per argument:
#   Q:SQL  P:NAME:SQL  B:PORTAL:STATEMENT  E:PORTAL:MAXROWS  D:P|S:NAME
#   C:P|S:NAME (Close)  S (Sync)  H (Flush)  X (Terminate)
proto_hex() {
	python3 -c '
import struct, sys
def msg(t, body=b""):
    return t + struct.pack("!I", len(body) + 4) + body
z = lambda s: s.encode() + b"\0"
out = b""
for a in sys.argv[1:]:
    kind, _, rest = a.partition(":")
    if kind == "Q":
        out += msg(b"Q", z(rest))
    elif kind == "P":
        name, _, sql = rest.partition(":")
        out += msg(b"P", z(name) + z(sql) + struct.pack("!h", 0))
    elif kind == "B":
        portal, _, stmt = rest.partition(":")
        out += msg(b"B", z(portal) + z(stmt) + struct.pack("!hhh", 0, 0, 0))
    elif kind == "E":
        portal, _, n = rest.partition(":")
        out += msg(b"E", z(portal) + struct.pack("!i", int(n)))
    elif kind in ("D", "C"):
        what, _, name = rest.partition(":")
        out += msg(kind.encode(), what.encode() + z(name))
    elif kind in ("S", "H", "X"):
        out += msg(kind.encode())
    else:
        sys.exit("proto_hex: unknown message " + a)
print(out.hex())' "$@"
}

# proto_run NODE MSG...: log in over a raw socket, send the messages, print
# the replies after the start-up (one per line, as pgclient rawbytes prints
# them) up to where the server goes quiet.
proto_run() {
	local n=$1
	shift
	local hex
	hex=$(proto_hex "$@")
	{ pgclient rawbytes "$(node_port "$n")" - --startup "$SL_USER" --timeout-ms 2000 <<<"$hex" || true; } |
		sed -n '/^sent /,$p' | sed -e '1d' -e '/^TIMEOUT$/d'
}
