#!/bin/bash
# test_sync_commit.sh — synchronous commit (synchronous_standbys,
# synchronous_commit, synchronous_timeout, synchronous_fallback,
# max_replica_lag, sluice.commit_lsn, sluice_wait_lsn) with a physical
# leader and up to three followers (f1, f2, f3) on 127.0.0.1. The leader is
# restarted on its data directory and peer port with other settings between
# the parts, which run in the order below (replication_timeout 30s
# everywhere, so that a follower held with SIGSTOP for a few seconds keeps
# its link):
#
#  E. synchronous_standbys = '': sluice_status.synchronous is 'off', every
#     follower's sync_state 'async'. max_replica_lag on f2: caught up, a
#     session with SET max_replica_lag = '1s' reads; with the leader silent
#     (SIGSTOP) such a session gets SQLSTATE 55000 "replica is too far
#     behind ..." for a SELECT (not within the first 0.9 s, and within
#     15 s), while sessions with max_replica_lag 0 or 60s read; the leader
#     resumed, '1s' reads again and sees a row written afterwards. With a
#     reader on f2 holding back page apply while the leader writes, a new
#     session with max_replica_lag=1s in its start-up options is refused
#     (55000) at once instead of waiting at the follower's gate.
#  A. 'FIRST 1 (f1)', synchronous_fallback = block, synchronous_timeout =
#     1s: sync_state f1 'sync', f2 'async'; synchronous 'on';
#     - read-your-writes: a session with SET synchronous_commit =
#       remote_apply inserts 200 rows one at a time, and right after each
#       COMMIT a session on f1 reads the row: it must be there every time;
#     - with a reader on f1 holding page apply back, a remote_apply INSERT
#       waits while another session's INSERT (on) is answered at once; a
#       cancel gives the waiting one 57014;
#     - an INSERT's reply carries ParameterStatus sluice.commit_lsn (an LSN
#       past the leader's LSN before it, not past its LSN after); SHOW
#       sluice.commit_lsn in the same session gives it too; with f2 held by
#       SIGSTOP, SELECT sluice_wait_lsn(that LSN, 5000) sent to f2 returns
#       true once f2 is resumed, and the same session then sees the row;
#       sluice_wait_lsn of an LSN far in the future with 300 ms fails with
#       57014 after about 300 ms;
#     - with f1 stopped (SIGSTOP), an INSERT waits: for 2 s neither new
#       sessions on the leader nor an open one nor readers on f2 see the
#       row; resumed (SIGCONT), the INSERT succeeds and the row shows on the
#       leader, f1 and f2;
#     - with f1 stopped, a session with synchronous_commit = local commits
#       at once, one with remote_write waits until f1 is resumed;
#     - with f1 stopped, an INSERT is still waiting after 3 s (past
#       synchronous_timeout: block keeps waiting; synchronous stays 'on');
#       psql gets SIGINT (a CancelRequest): the INSERT fails with 57014 and
#       is never reported a success; after SIGCONT the leader, f1 and f2
#       agree on whether the row exists.
#  B. 'FIRST 1 (f1)', synchronous_fallback = async, synchronous_timeout =
#     1s: with f1 stopped an INSERT succeeds with WARNING 01000 after about
#     the timeout (0.9 to 6 s); synchronous becomes 'degraded' and the
#     leader logs "synchronous replication degraded"; a commit while
#     degraded is answered at once (under 0.7 s), with the WARNING; resumed,
#     synchronous goes back to 'on' with "synchronous replication restored"
#     in the log, commits get no WARNING, and f1 stopped again makes a
#     commit wait for the timeout again (synchronous again).
#  C. 'ANY 2 (f1, f2, f3)': every sync_state 'quorum'; with f3 stopped,
#     commits succeed; with f2 and f3 stopped, an INSERT is still waiting
#     after 3 s (and f1 does not see it), and completes once f2 is resumed.
#  D. 'FIRST 1 (f1, f2)': sync_state f1 'sync', f2 'potential', f3 (not
#     listed) 'async'.
#  F. 'FIRST 1 (f1)', only f1 attached: four ackwriter clients commit
#     rows one at a time; while f1 is stopped for 1.5 s no client gets more
#     than one more commit acknowledged, and after SIGCONT they go on; then
#     the leader gets SIGKILL and stays dead; f1 is stopped (SIGTERM, exit
#     0), restarted and promoted by force (`sluice promote --force`), and
#     every row a client saw acknowledged is on it (at most one more per
#     client: the INSERT in flight at the kill). Before the promotion f1
#     may not show the last of them: a follower shows only what the leader
#     had made visible, and the leader died before it said so.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
: "${ACKWRITER:?ACKWRITER must name tests/integration/ackwriter}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

L=lead
COMMON=(--log_mode=physical --replication_timeout=30s)
FOLLOWERS=()
next_id=1000

new_id() { next_id=$((next_id + 1)); }

# lead_restart [--setting=value ...]: stop the leader (SIGTERM, exit 0),
# start it again on its data directory and peer port with these settings,
# and wait until every follower in FOLLOWERS streams from it again.
lead_restart() {
	local f
	node_stop "$L"
	leader_start "$L" "${COMMON[@]}" "--peer_listen=127.0.0.1:${PEER_PORT[$L]}" "$@"
	for f in "${FOLLOWERS[@]}"; do
		wait_replication_streaming "$L" "$f" 30
	done
}

node_pause() { kill -STOP "$(node_pid "$1")"; log "node $1: SIGSTOP"; }
node_resume() { kill -CONT "$(node_pid "$1")"; log "node $1: SIGCONT"; }

SYNC_STATES_SQL="SELECT group_concat(name || '=' || sync_state, ' ')
	FROM (SELECT name, sync_state FROM sluice_replication ORDER BY name)"

# expect_sync_states WANT: sluice_replication on the leader shows WANT
# ("f1=sync f2=async", names in order) within 15 s.
expect_sync_states() {
	wait_row "$L" "$SYNC_STATES_SQL" "$1" 15
	log "sync_state: $1"
}

# count_id NODE ID: rows with that id on NODE (fails on error).
count_id() { q "$1" "SELECT count(*) FROM t WHERE id = $2"; }

# lsn_now NODE: the node's current_lsn as a number, or nothing.
lsn_now() {
	local cur
	cur=$(status_try "$1" "SELECT current_lsn FROM sluice_status")
	[[ $cur =~ ^[0-9A-Fa-f]+/[0-9A-Fa-f]+$ ]] && lsn_num "$cur"
}

# lsn_moved_past NODE N: the node's current_lsn is past N.
lsn_moved_past() {
	local cur
	cur=$(lsn_now "$1") || return 1
	[ -n "$cur" ] && [ "$cur" -gt "$2" ]
}

# timed NODE SQL: run SQL with psql and \timing; sets T_OUT (stdout and
# stderr: results, tags, verbose errors and warnings), T_RC (psql's exit
# status) and T_MS (the statement's round trip in ms, -1 if not printed).
timed() {
	T_RC=0
	T_OUT=$(psql_to "$1" -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c '\timing on' -c "$2" 2>&1) || T_RC=$?
	T_MS=$(sed -nE 's/^Time: ([0-9]+)(\.[0-9]+)? ms.*/\1/p' <<<"$T_OUT" | tail -n 1)
	[ -n "$T_MS" ] || T_MS=-1
}

# ---------------------------------------------------------------- pipes
# A pipe is a long-lived psql whose output comes back through a FIFO, so
# that a statement's answer is read as soon as psql prints it (no polling):
# for back-to-back statements on two connections.
declare -gA PIPE_W=() PIPE_R=() PIPE_PID=()

# pipe_open NAME NODE
pipe_open() {
	local s=$1 n=$2 in out w r
	in=$TEST_TMP/pipe-$s.in
	out=$TEST_TMP/pipe-$s.out
	rm -f "$in" "$out"
	mkfifo "$in" "$out"
	psql -X -w -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port "$n")" -U "$SL_USER" -d "$SL_DB" \
		<"$in" >"$out" 2>&1 &
	PIPE_PID[$s]=$!
	bg_track $!
	exec {w}>"$in"
	exec {r}<"$out"
	PIPE_W[$s]=$w
	PIPE_R[$s]=$r
	expect_eq "$(pipe_q "$s" "SELECT 1")" "1" "pipe $s: first query"
}

# pipe_q NAME SQL [TIMEOUT]: send SQL, print what psql answered (results,
# tags, errors). Fails when a line does not come within TIMEOUT seconds.
pipe_q() {
	local s=$1 sql=$2 t=${3:-$QUERY_TIMEOUT} mark line
	mark="__pipe_${s}_${EPOCHREALTIME/./}_${RANDOM}__"
	[[ $sql =~ \;[[:space:]]*$ ]] || sql="$sql;"
	printf '%s\n\\echo %s\n' "$sql" "$mark" >&"${PIPE_W[$s]}" || fail "pipe $s: cannot send (psql gone?)"
	while :; do
		IFS= read -r -t "$t" line <&"${PIPE_R[$s]}" ||
			fail "pipe $s: no answer to '$sql' within ${t}s (psql $(proc_alive "${PIPE_PID[$s]}" && echo running || echo exited))"
		[ "$line" != "$mark" ] || return 0
		printf '%s\n' "$line"
	done
}

# pipe_close NAME
pipe_close() {
	local s=$1 rc=0
	printf '\\q\n' >&"${PIPE_W[$s]}" 2>/dev/null || true
	eval "exec ${PIPE_W[$s]}>&- ${PIPE_R[$s]}<&-"
	wait_pid_exit "${PIPE_PID[$s]}" 10 || rc=$?
	[ "$rc" != 124 ] || fail "pipe $s: psql did not exit"
	unset "PIPE_W[$s]" "PIPE_R[$s]" "PIPE_PID[$s]"
}

# ---------------------------------------------------------------- background statements
# bgq_start NAME NODE SQL...: psql runs each SQL (-c) in the background; its own pid (no
# timeout wrapper), so that SIGINT reaches psql, which then sends a
# CancelRequest. Output in $TEST_TMP/bgq-NAME.out.
declare -gA BGQ_PID=()
bgq_start() {
	local s=$1 n=$2 sql cs=()
	shift 2
	for sql in "$@"; do
		cs+=(-c "$sql")
	done
	psql -X -w -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port "$n")" \
		-U "$SL_USER" -d "$SL_DB" "${cs[@]}" >"$TEST_TMP/bgq-$s.out" 2>&1 &
	BGQ_PID[$s]=$!
	bg_track $!
}
bgq_out() { cat "$TEST_TMP/bgq-$1.out"; }
bgq_running() { proc_alive "${BGQ_PID[$1]}"; }
# bgq_wait NAME SECONDS: psql's exit status (124: still running).
bgq_wait() {
	local rc=0
	wait_pid_exit "${BGQ_PID[$1]}" "$2" || rc=$?
	return "$rc"
}

# expect_still_waiting NAME WHAT: the background statement has not
# finished, and has printed nothing (no success, no error).
expect_still_waiting() {
	bgq_running "$1" || fail "$2: the statement finished while it should wait: $(bgq_out "$1")"
	[ ! -s "$TEST_TMP/bgq-$1.out" ] || fail "$2: the waiting statement printed: $(bgq_out "$1")"
}

# ================================================================ E
log "---- part E: no synchronous standbys; max_replica_lag"
leader_start "$L" "${COMMON[@]}"
q "$L" "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q "$L" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100)
	INSERT INTO t SELECT x, 'row ' || x FROM c" >/dev/null
follower_start f1 "$L" --log_mode=physical --replication_timeout=30s
follower_start f2 "$L" --log_mode=physical --replication_timeout=30s
FOLLOWERS=(f1 f2)
for f in "${FOLLOWERS[@]}"; do
	wait_replication_streaming "$L" "$f" 30
done
expect_eq "$(node_status "$L" synchronous)" "off" "$L: sluice_status.synchronous without synchronous_standbys"
expect_sync_states "f1=async f2=async"

# f2_read LAG: a new session on f2 with SET max_replica_lag = LAG reads the
# row count; prints psql's output, returns its status.
f2_read() {
	psql_to f2 -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "SET max_replica_lag = '$1'" \
		-c "SELECT count(*) FROM t" 2>&1
}
# f2_refused: f2_read 1s fails with 55000.
f2_refused() {
	local out rc=0
	out=$(f2_read 1s) || rc=$?
	[ "$rc" != 0 ] && grep -qE '(ERROR|FATAL):  55000:' <<<"$out"
}

out=$(f2_read 1s) || fail "f2, caught up: a read with max_replica_lag = 1s failed: $out"
expect_eq "$out" "SET
100" "f2, caught up: a read with max_replica_lag = 1s"
# While page apply waits for a reader's snapshot, the follower holds every
# new read at its gate, so a lag made that way cannot be observed by a
# read; a leader that has gone silent makes the follower stale instead.
node_pause "$L"
t0=$(now_ms)
wait_until f2_refused 15 ||
	fail "f2: with its leader silent (SIGSTOP), a read with max_replica_lag = 1s was not refused with 55000 within 15 s; last answer: $(f2_read 1s 2>&1); f2 status: $(status_try f2 "SELECT lag_ms, state FROM sluice_status")"
took=$(($(now_ms) - t0))
log "f2: reads with max_replica_lag = 1s refused (55000) $took ms after the leader went silent"
[ "$took" -ge 900 ] || fail "f2 refused a read with max_replica_lag = 1s only $took ms after the leader went silent"
out=$(f2_read 1s 2>&1) && fail "f2, stale: a read with max_replica_lag = 1s succeeded: $out"
expect_match "$out" '^ERROR:  55000: replica is too far behind' "f2, stale: the refusal"
expect_sqlstate f2 "SET max_replica_lag = '1s'; SELECT count(*) FROM t" 55000
for lag in 0 60s; do
	out=$(f2_read "$lag") || fail "f2, stale: a read with max_replica_lag = $lag failed: $out"
	expect_eq "$out" "SET
100" "f2, stale: a read with max_replica_lag = $lag"
done
node_resume "$L"
wait_until "f2_read 1s" 10 || fail "f2: reads with max_replica_lag = 1s still refused 10 s after the leader was resumed: $(f2_read 1s 2>&1)"
q "$L" "INSERT INTO t VALUES (101, 'after the silence')" >/dev/null
wait_caught_up f2 "$L" 30
out=$(f2_read 1s) || fail "f2, caught up again: a read with max_replica_lag = 1s failed: $out"
expect_eq "$out" "SET
101" "f2, caught up again: a read with max_replica_lag = 1s"

# A reader holding its snapshot keeps page apply (and, at the gate, new
# reads) waiting: a session that set max_replica_lag (here in the start-up
# options) is refused at once once f2 is behind by more, not kept waiting.
pipe_open hold f2
expect_eq "$(pipe_q hold "BEGIN")" "BEGIN" "f2: BEGIN"
expect_eq "$(pipe_q hold "SELECT count(*) FROM t")" "101" "f2: the snapshot held"
for i in 1 2 3; do
	q "$L" "INSERT INTO t VALUES ($((101 + i)), 'behind a held snapshot')" >/dev/null
done
sleep 1.5
t0=$(now_ms)
rc=0
out=$(PGOPTIONS="-c max_replica_lag=1s" psql_to f2 -At -v VERBOSITY=verbose -c "SELECT count(*) FROM t" 2>&1) || rc=$?
took=$(($(now_ms) - t0))
[ "$rc" != 0 ] || fail "f2, apply held back: a read with max_replica_lag = 1s (start-up options) succeeded: $out"
expect_match "$out" '^ERROR:  55000: replica is too far behind' "f2, apply held back: the refusal"
[ "$took" -lt 5000 ] || fail "f2, apply held back: the refusal took $took ms"
expect_eq "$(pipe_q hold "ROLLBACK")" "ROLLBACK" "f2: ROLLBACK"
pipe_close hold
wait_caught_up f2 "$L" 30
out=$(PGOPTIONS="-c max_replica_lag=1s" psql_to f2 -At -c "SELECT count(*) FROM t" 2>&1) ||
	fail "f2, caught up after the held snapshot: a read with max_replica_lag = 1s failed: $out"
expect_eq "$out" "104" "f2, caught up after the held snapshot"
log "f2: with apply held back by a snapshot, max_replica_lag = 1s refused a read in $took ms"

# ================================================================ A
log "---- part A: FIRST 1 (f1), fallback block"
lead_restart "--synchronous_standbys=FIRST 1 (f1)" --synchronous_fallback=block --synchronous_timeout=1s
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous with FIRST 1 (f1)"
expect_sync_states "f1=sync f2=async"

# -- read-your-writes with remote_apply
pipe_open w "$L"
pipe_open r f1
expect_eq "$(pipe_q w "SET synchronous_commit = remote_apply")" "SET" "SET synchronous_commit"
expect_eq "$(pipe_q w "SHOW synchronous_commit")" "remote_apply" "SHOW synchronous_commit"
misses=0
first_miss=""
t0=$(now_ms)
for ((i = 1; i <= 200; i++)); do
	new_id
	out=$(pipe_q w "INSERT INTO t VALUES ($next_id, 'ryw $i')" 30)
	expect_eq "$out" "INSERT 0 1" "remote_apply INSERT $i"
	got=$(pipe_q r "SELECT v FROM t WHERE id = $next_id" 30)
	if [ "$got" != "ryw $i" ]; then
		misses=$((misses + 1))
		[ -n "$first_miss" ] || first_miss="insert $i (id $next_id): f1 gave '$got'"
	fi
done
[ "$misses" = 0 ] || fail "read-your-writes: $misses of 200 reads on f1 right after a remote_apply COMMIT missed the row; first: $first_miss"
log "read-your-writes: 200 remote_apply commits, each seen at once on f1 ($(($(now_ms) - t0)) ms)"

# -- a remote_apply commit waits on its own: with f1's page apply held
# back by a reader's snapshot, it waits; an 'on' commit of another session
# meanwhile is answered at once; a cancel gets 57014
expect_eq "$(pipe_q r "BEGIN")" "BEGIN" "f1: BEGIN"
pipe_q r "SELECT count(*) FROM t" >/dev/null
new_id
held_id=$next_id
bgq_start held "$L" "SET synchronous_commit = remote_apply; INSERT INTO t VALUES ($held_id, 'held')"
sleep 1
expect_still_waiting held "a remote_apply INSERT while a reader on f1 holds apply back"
new_id
timed "$L" "INSERT INTO t VALUES ($next_id, 'not held')"
[ "$T_RC" = 0 ] || fail "an INSERT (synchronous_commit on) while a remote_apply one waits failed: $T_OUT"
[ "$T_MS" -ge 0 ] && [ "$T_MS" -lt 1000 ] ||
	fail "an INSERT (synchronous_commit on) took $T_MS ms while a remote_apply one waited for apply"
expect_still_waiting held "the remote_apply INSERT after another session's commit"
kill -INT "${BGQ_PID[held]}"
rc=0
bgq_wait held 10 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "the cancelled remote_apply INSERT: exit $rc: $(bgq_out held)"
grep -q 'ERROR:  57014: canceling wait for synchronous replication' <<<"$(bgq_out held)" ||
	fail "the cancelled remote_apply INSERT did not get 57014: $(bgq_out held)"
! grep -q 'INSERT 0 1' <<<"$(bgq_out held)" || fail "the cancelled remote_apply INSERT reported success"
expect_eq "$(pipe_q r "ROLLBACK")" "ROLLBACK" "f1: ROLLBACK"
wait_row f1 "SELECT v FROM t WHERE id = $held_id" "held" 15
log "remote_apply: waited for f1's apply alone, cancel gave 57014"
pipe_close r

# -- sluice.commit_lsn: ParameterStatus, SHOW
new_id
before=$(lsn_num "$(node_status "$L" current_lsn)")
out=$(proto_run "$L" "Q:INSERT INTO t VALUES ($next_id, 'param')")
expect_match "$out" '^C INSERT 0 1$' "raw INSERT's reply"
plsn=$(sed -n 's/^S sluice\.commit_lsn=//p' <<<"$out" | tail -n 1)
[ -n "$plsn" ] || fail "no ParameterStatus sluice.commit_lsn in the reply to an INSERT:
$out"
after=$(lsn_num "$(node_status "$L" current_lsn)")
pn=$(lsn_num "$plsn")
[ "$pn" -gt "$before" ] && [ "$pn" -le "$after" ] ||
	fail "ParameterStatus sluice.commit_lsn $plsn is not past the leader's LSN before the INSERT ($before) and at most its LSN after ($after)"
log "ParameterStatus sluice.commit_lsn=$plsn"

new_id
out=$(psql_to "$L" -At -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES ($next_id, 'show')" -c "SHOW sluice.commit_lsn" \
	-c "SELECT current_lsn FROM sluice_status" 2>&1) || fail "INSERT; SHOW sluice.commit_lsn: $out"
mapfile -t lines <<<"$out"
expect_eq "${lines[0]}" "INSERT 0 1" "INSERT before SHOW sluice.commit_lsn"
slsn=${lines[1]:-}
[[ $slsn =~ ^[0-9A-Fa-f]+/[0-9A-Fa-f]+$ ]] || fail "SHOW sluice.commit_lsn gave '$slsn' (all output: $out)"
[ "$(lsn_num "$slsn")" -gt "$pn" ] && [ "$(lsn_num "$slsn")" -le "$(lsn_num "${lines[2]}")" ] ||
	fail "SHOW sluice.commit_lsn $slsn: not past the previous commit's $plsn, or past the leader's current_lsn ${lines[2]}"
out=$(q "$L" "SELECT sluice_wait_lsn('$slsn', 1000)")
expect_match "$out" '^(t|true|1)$' "sluice_wait_lsn of a committed LSN on the leader"

# -- sluice_wait_lsn on the async follower f2, held back by SIGSTOP
node_pause f2
new_id
out=$(psql_to "$L" -At -v ON_ERROR_STOP=1 -c "INSERT INTO t VALUES ($next_id, 'wait lsn')" -c "SHOW sluice.commit_lsn" 2>&1) ||
	fail "INSERT with f2 stopped (it is not synchronous): $out"
wlsn=$(sed -n 2p <<<"$out")
[[ $wlsn =~ ^[0-9A-Fa-f]+/[0-9A-Fa-f]+$ ]] || fail "SHOW sluice.commit_lsn gave '$wlsn'"
bgq_start wl f2 "SELECT sluice_wait_lsn('$wlsn', 5000)" "SELECT v FROM t WHERE id = $next_id"
sleep 0.5
node_resume f2
rc=0
bgq_wait wl 15 || rc=$?
[ "$rc" = 0 ] || fail "sluice_wait_lsn('$wlsn', 5000) on f2 (resumed after 0.5 s) exited $rc: $(bgq_out wl)"
out=$(bgq_out wl)
expect_match "$(head -n 1 <<<"$out")" '^(t|true|1)$' "sluice_wait_lsn on f2"
expect_eq "$(sed -n 2p <<<"$out")" "wait lsn" "f2: the row, read in the session right after sluice_wait_lsn returned"
log "sluice_wait_lsn('$wlsn') on f2 returned true; the row was visible right after"
t0=$(now_ms)
expect_sqlstate f2 "SELECT sluice_wait_lsn('FFFF/0', 300)" 57014
took=$(($(now_ms) - t0))
[ "$took" -ge 250 ] && [ "$took" -lt 5000 ] || fail "sluice_wait_lsn('FFFF/0', 300) failed after $took ms, want about 300"

# -- while a commit waits, nobody sees it; resumed, everybody does
node_pause f1
new_id
id=$next_id
before=$(lsn_num "$(node_status "$L" current_lsn)")
bgq_start vis "$L" "INSERT INTO t VALUES ($id, 'waited')"
wait_until "lsn_moved_past $L $before" 3 || log "the leader's current_lsn did not move while the INSERT waits"
t0=$(now_ms)
checks=0
while [ $(($(now_ms) - t0)) -lt 2000 ]; do
	expect_still_waiting vis "INSERT with the synchronous follower f1 stopped"
	expect_eq "$(count_id "$L" "$id")" 0 "a new session on the leader while the commit waits"
	expect_eq "$(pipe_q w "SELECT count(*) FROM t WHERE id = $id" 30)" 0 "an open session on the leader while the commit waits"
	expect_eq "$(count_id f2 "$id")" 0 "a reader on f2 while the commit waits"
	checks=$((checks + 1))
done
expect_still_waiting vis "INSERT with the synchronous follower f1 stopped"
log "while the INSERT waited: $checks rounds of reads on the leader (new and open sessions) and f2 did not see it"
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous while a commit waits (block)"
node_resume f1
rc=0
bgq_wait vis 15 || rc=$?
[ "$rc" = 0 ] || fail "the waiting INSERT did not succeed within 15 s of resuming f1 (exit $rc): $(bgq_out vis)"
expect_eq "$(bgq_out vis)" "INSERT 0 1" "the INSERT that waited for f1"
for n in "$L" f1 f2; do
	wait_row "$n" "SELECT v FROM t WHERE id = $id" "waited" 15
done
log "resumed, the commit completed and its row is on the leader, f1 and f2"

# -- per session: local does not wait for f1, remote_write does
node_pause f1
new_id
timed "$L" "SET synchronous_commit = local; INSERT INTO t VALUES ($next_id, 'local')"
[ "$T_RC" = 0 ] || fail "INSERT with synchronous_commit = local, f1 stopped: exit $T_RC: $T_OUT"
[ "$T_MS" -ge 0 ] && [ "$T_MS" -lt 1000 ] || fail "INSERT with synchronous_commit = local took $T_MS ms with f1 stopped"
new_id
id=$next_id
bgq_start rw "$L" "SET synchronous_commit = remote_write; INSERT INTO t VALUES ($id, 'remote_write')"
sleep 1.5
expect_still_waiting rw "INSERT with synchronous_commit = remote_write, f1 stopped"
node_resume f1
rc=0
bgq_wait rw 15 || rc=$?
[ "$rc" = 0 ] || fail "the remote_write INSERT did not succeed within 15 s of resuming f1 (exit $rc): $(bgq_out rw)"
expect_eq "$(bgq_out rw)" $'SET\nINSERT 0 1' "the remote_write INSERT that waited"
log "synchronous_commit per session: local answered at once, remote_write waited for f1"

# -- block: still waiting after 3 s, then cancelled
node_pause f1
new_id
id=$next_id
bgq_start cancel "$L" "INSERT INTO t VALUES ($id, 'cancelled')"
sleep 3
expect_still_waiting cancel "INSERT 3 s after f1 was stopped (fallback block, timeout 1s)"
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous after the timeout with fallback block"
kill -INT "${BGQ_PID[cancel]}"
rc=0
bgq_wait cancel 10 || rc=$?
[ "$rc" != 124 ] || fail "psql still running 10 s after SIGINT (CancelRequest) of the waiting INSERT"
out=$(bgq_out cancel)
log "cancelled INSERT (psql exit $rc): $(tr '\n' ' ' <<<"$out")"
! grep -q 'INSERT 0 1' <<<"$out" || fail "the cancelled commit was reported a success: $out"
[ "$rc" != 0 ] || fail "psql exited 0 for the cancelled commit: $out"
grep -qE 'ERROR:  57014:' <<<"$out" || fail "the cancelled commit did not fail with 57014: $out"
node_resume f1
wait_caught_up f1 "$L" 30
wait_caught_up f2 "$L" 30
cl=$(count_id "$L" "$id")
c1=$(count_id f1 "$id")
c2=$(count_id f2 "$id")
[ "$cl" = "$c1" ] && [ "$cl" = "$c2" ] ||
	fail "after the cancelled commit and SIGCONT the nodes disagree on its row: leader $cl, f1 $c1, f2 $c2"
log "the cancelled commit's row: $([ "$cl" = 1 ] && echo present || echo absent) on the leader, f1 and f2"
pipe_close w

# ================================================================ B
log "---- part B: FIRST 1 (f1), fallback async, timeout 1s"
mark=$(log_mark "$L")
lead_restart "--synchronous_standbys=FIRST 1 (f1)" --synchronous_fallback=async --synchronous_timeout=1s
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous (fallback async)"

# insert_expect WARN|NOWARN: an INSERT must succeed, with or without the
# WARNING; its round trip in T_MS.
insert_expect() {
	new_id
	timed "$L" "INSERT INTO t VALUES ($next_id, 'async $1')"
	[ "$T_RC" = 0 ] || fail "INSERT (fallback async) failed (exit $T_RC): $T_OUT"
	expect_match "$T_OUT" '^INSERT 0 1$' "INSERT (fallback async)"
	if [ "$1" = WARN ]; then
		grep -qE '^WARNING:  01000: commit was not confirmed' <<<"$T_OUT" ||
			fail "INSERT with f1 stopped (fallback async): no WARNING 01000 'commit was not confirmed ...': $T_OUT"
	else
		! grep -q 'WARNING' <<<"$T_OUT" || fail "INSERT with f1 streaming got a WARNING: $T_OUT"
	fi
	[ "$T_MS" -ge 0 ] || fail "no \\timing line: $T_OUT"
}
insert_expect NOWARN
node_pause f1
insert_expect WARN
[ "$T_MS" -ge 900 ] && [ "$T_MS" -le 6000 ] ||
	fail "the first commit with f1 stopped was answered after $T_MS ms, want about synchronous_timeout (1 s)"
log "with f1 stopped: first commit answered with the WARNING after $T_MS ms"
expect_eq "$(count_id "$L" "$next_id")" 1 "the degraded commit's row on the leader"
expect_eq "$(node_status "$L" synchronous)" "degraded" "$L: synchronous after the timeout with fallback async"
grep -q 'synchronous replication degraded' <<<"$(log_since "$L" "$mark")" ||
	fail "$L: no 'synchronous replication degraded' in its log"
insert_expect WARN
[ "$T_MS" -lt 700 ] || fail "a commit while degraded took $T_MS ms (it should not wait)"
log "while degraded: a commit answered after $T_MS ms with the WARNING"
node_resume f1
wait_row "$L" "SELECT synchronous FROM sluice_status" on 20
wait_until "log_since $L $mark | grep -q 'synchronous replication restored'" 10 ||
	fail "$L: synchronous is 'on' again but no 'synchronous replication restored' in its log"
log "f1 resumed: synchronous back to 'on', restored"
insert_expect NOWARN
wait_row f1 "SELECT count(*) FROM t WHERE id = $next_id" 1 10
wait_caught_up f1 "$L" 30
node_pause f1
insert_expect WARN
[ "$T_MS" -ge 900 ] ||
	fail "after the restore, a commit with f1 stopped again was answered after $T_MS ms: it did not wait (not synchronous again)"
expect_eq "$(node_status "$L" synchronous)" "degraded" "$L: synchronous after f1 stopped again"
node_resume f1
wait_row "$L" "SELECT synchronous FROM sluice_status" on 20
wait_caught_up f1 "$L" 30
wait_caught_up f2 "$L" 30

# ================================================================ C
log "---- part C: ANY 2 (f1, f2, f3)"
lead_restart "--synchronous_standbys=ANY 2 (f1, f2, f3)"
follower_start f3 "$L" --log_mode=physical --replication_timeout=30s
FOLLOWERS+=(f3)
wait_replication_streaming "$L" f3 30
expect_sync_states "f1=quorum f2=quorum f3=quorum"
node_pause f3
for k in 1 2 3; do
	new_id
	timed "$L" "INSERT INTO t VALUES ($next_id, 'quorum $k')"
	[ "$T_RC" = 0 ] && grep -qx 'INSERT 0 1' <<<"$T_OUT" || fail "ANY 2 with f3 stopped: INSERT failed: $T_OUT"
	[ "$T_MS" -lt 5000 ] || fail "ANY 2 with f3 stopped: an INSERT took $T_MS ms"
done
log "ANY 2 with f3 stopped: commits succeed (last in $T_MS ms)"
node_pause f2
new_id
id=$next_id
bgq_start quorum "$L" "INSERT INTO t VALUES ($id, 'two stopped')"
t0=$(now_ms)
while [ $(($(now_ms) - t0)) -lt 3000 ]; do
	expect_eq "$(count_id f1 "$id")" 0 "f1 while a commit waits for a second acknowledgement"
	sleep 0.2
done
expect_still_waiting quorum "ANY 2 with f2 and f3 stopped: an INSERT after 3 s"
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous while waiting (ANY 2)"
node_resume f2
rc=0
bgq_wait quorum 15 || rc=$?
[ "$rc" = 0 ] || fail "ANY 2: the waiting INSERT did not succeed within 15 s of resuming f2 (exit $rc): $(bgq_out quorum)"
expect_eq "$(bgq_out quorum)" "INSERT 0 1" "ANY 2: the INSERT that waited"
node_resume f3
for f in f1 f2 f3; do
	wait_caught_up "$f" "$L" 30
	expect_eq "$(count_id "$f" "$id")" 1 "$f: the row that waited for a quorum"
done

# ================================================================ D
log "---- part D: FIRST 1 (f1, f2)"
lead_restart "--synchronous_standbys=FIRST 1 (f1, f2)"
expect_sync_states "f1=sync f2=potential f3=async"
expect_eq "$(node_status "$L" synchronous)" "on" "$L: synchronous with FIRST 1 (f1, f2)"

# ================================================================ F
log "---- part F: kill -9 of the leader, FIRST 1 (f1)"
node_stop f3
node_stop f2
FOLLOWERS=(f1)
lead_restart "--synchronous_standbys=FIRST 1 (f1)"
q "$L" "CREATE TABLE acks (client INTEGER, seq INTEGER, PRIMARY KEY (client, seq))" >/dev/null
writers=4
conninfo=$(node_conninfo "$L")
pids=()
for ((w = 1; w <= writers; w++)); do
	"$ACKWRITER" "$conninfo" "$w" 0 >"$TEST_TMP/ack.$w" 2>"$TEST_TMP/ack.$w.err" &
	pids+=($!)
	bg_track $!
done
acked_total() { cat "$TEST_TMP"/ack.[0-9] | grep -c '' || true; }
# acked_each: each client's acknowledged count, space-separated.
acked_each() {
	local w
	for ((w = 1; w <= writers; w++)); do
		printf '%s ' "$(grep -c '' "$TEST_TMP/ack.$w" || true)"
	done
}
wait_until '[ "$(acked_total)" -ge 100 ]' 6 || fail "the ackwriters got fewer than 100 commits acknowledged in 6 s: $(acked_each)"
# With f1 stopped no commit may be acknowledged (each client may see at
# most the one f1 had confirmed just before it stopped).
node_pause f1
read -ra at_stop <<<"$(acked_each)"
sleep 1.5
read -ra after_stop <<<"$(acked_each)"
for ((w = 1; w <= writers; w++)); do
	[ "${after_stop[$((w - 1))]}" -le $((at_stop[w - 1] + 1)) ] ||
		fail "ackwriter $w got $((after_stop[w - 1] - at_stop[w - 1])) commits acknowledged while the synchronous follower f1 was stopped"
done
log "f1 stopped 1.5 s: acknowledged per client ${at_stop[*]} -> ${after_stop[*]}"
node_resume f1
before=$(acked_total)
wait_until '[ "$(acked_total)" -ge $((before + 100)) ]' 10 ||
	fail "commits were not acknowledged again after f1 was resumed: $(acked_each)"
sleep 0.$((RANDOM % 5))
node_kill_hard "$L"
for ((w = 1; w <= writers; w++)); do
	rc=0
	wait_pid_exit "${pids[$((w - 1))]}" 15 || rc=$?
	case $rc in
	1 | 2) ;;
	124) fail "ackwriter $w still running 15 s after the leader was killed" ;;
	*) fail "ackwriter $w exited $rc: $(cat "$TEST_TMP/ack.$w.err")" ;;
	esac
done
total=$(acked_total)
[ "$total" -ge 20 ] || fail "only $total commits were acknowledged before the kill (want at least 20 to check)"
node_stop f1
follower_restart f1
out=$("$SLUICE" promote f1 --host "127.0.0.1:$(node_port f1)" --force --yes 2>&1) ||
	fail "sluice promote f1 --force after the leader's kill -9 failed: $out"
log "f1 restarted and promoted: $(tail -n 1 <<<"$out")"
values=""
for ((w = 1; w <= writers; w++)); do
	f=$TEST_TMP/ack.$w
	k=$(grep -c '' "$f" || true)
	if [ "$k" -gt 0 ]; then
		[ "$(head -n 1 "$f")" = 0 ] && [ "$(tail -n 1 "$f")" = $((k - 1)) ] ||
			fail "ackwriter $w printed an unexpected sequence: $(head -n 3 "$f" | tr '\n' ' ')... $(tail -n 1 "$f")"
	fi
	values+="${values:+, }($w, $((k - 1)))"
done
out=$(q f1 "SELECT c, hi + 1, (SELECT count(*) FROM acks WHERE client = c AND seq <= hi),
	(SELECT count(*) FROM acks WHERE client = c AND seq > hi)
	FROM (SELECT column1 AS c, column2 AS hi FROM (VALUES $values)) ORDER BY c")
while IFS='|' read -r c want have extra; do
	[ "$have" = "$want" ] ||
		fail "f1 after the leader's kill -9, its own restart and its promotion: client $c: $((want - have)) of $want acknowledged rows missing"
	[ "$extra" -le 1 ] || fail "f1: client $c: $extra rows beyond the last acknowledged one (at most 1 was in flight)"
done <<<"$out"
log "kill -9 of the leader: all $total acknowledged rows are on f1 after its restart and promotion"
node_check_log "$L"
node_stop f1
