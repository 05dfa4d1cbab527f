#!/bin/bash
# test_promote.sh — a follower promoted in a running process: sluice
# promote, sluice_promote(), admin users, sessions that see the new role,
# and the nodes that follow the new leader.
#
# 1. Admin only: on a node with auth_method = password and admin_users =
#    alice, bob's SELECT sluice_promote() gets 42501; alice's gets 55000
#    (the node leads already).
# 2. Forced promotion with the leader killed, and rejoin: leader L,
#    followers F1 and F2 (each with a peer port of its own, port 0). While
#    L runs, a planned sluice_promote() on F1 is refused (its peer port is
#    not a fixed one the old leader could follow). F1 is stopped while 3
#    rows commit on L and reach F2; then L is killed and F1 starts again.
#    Once L is gone, `sluice promote F1` without --force is refused with a hint
#    naming sluice_promote(force => true); with --force --yes it prints
#    the range F1 lacks (F2 reports a higher LSN) and F1 leads at epoch 2
#    in the same process. A session connected to F1 since before receives
#    ParameterStatus in_hot_standby = off and default_transaction_read_only
#    = off and can write; a session inside a transaction block is ended
#    with 57P01; libpq's target_session_attrs=read-write finds F1. F2 and
#    L, restarted as F1's followers, discard the 3 transactions F1 never
#    had (listed in discarded/), fetch a snapshot, and end with F1's
#    content.
# 3. A sibling on the new leader's history follows it without a snapshot:
#    F1 is killed, F2 is promoted by force (nothing to lose) at epoch 3
#    while a 20 s read runs on it: the loop serves psql's cancel request
#    meanwhile, so the promotion takes far less than 20 s,
#    and L and F1, restarted as F2's followers, stream from where their
#    logs end with no snapshot; every node converges (dbsum).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

count() { q "$1" "SELECT count(*) FROM t"; }

# restart_follower NODE LEADER: stop (if running) and start NODE as a
# follower of LEADER with a peer port of its own.
restart_follower() {
	local n=$1 l=$2
	if [ -n "${NODE_PID[$n]:-}" ] && proc_alive "${NODE_PID[$n]}"; then
		node_stop "$n"
	fi
	rm -f "$TEST_TMP/node-$n.peerport"
	follower_start "$n" "$l" --peer_listen=127.0.0.1:0 "--peer_port_file=$TEST_TMP/node-$n.peerport"
}

# note_peer_port NODE: after a promotion, the node's peer port (its file).
note_peer_port() {
	local n=$1 pf=$TEST_TMP/node-$1.peerport
	wait_until "[ -s '$pf' ] && grep -qE '^[0-9]+\$' '$pf'" 10 || fail "$n: no peer port in $pf"
	PEER_PORT[$n]=$(head -n1 "$pf")
}

# ------------------------------------------------------------ admin only
log "--- admin users"
printf 'alice:pw-a\nbob:pw-b\n' >"$TEST_TMP/users"
SL_USER=alice PGPASSWORD=pw-a node_start A --auth_method=password "--password_file=$TEST_TMP/users" --admin_users=alice \
	--log_mode=off
as_user() {
	PGPASSWORD=$2 timeout -k 5 30 psql -X -w -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port A)" -U "$1" \
		-d sluice -c "$3" 2>&1 || true
}
out=$(as_user bob pw-b "SELECT sluice_promote()")
expect_match "$out" "42501.*permission denied for function sluice_promote" "bob's sluice_promote()"
out=$(as_user alice pw-a "SELECT sluice_promote(force => true)")
expect_match "$out" "55000.*this node is the leader already" "alice's sluice_promote() on a leader"
PGPASSWORD=pw-a node_stop A

# ------------------------------------------------- forced promotion, rejoin
log "--- forced promotion with the leader killed"
leader_start L
restart_follower F1 L
restart_follower F2 L
q L "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
	q L "INSERT INTO t VALUES ($i, 'base')" >/dev/null
done
wait_caught_up F1 L 30
wait_caught_up F2 L 30
out=$(q_raw F1 "SELECT sluice_promote()") || true
expect_match "$out" "55000.*a planned switchover needs peer_listen with a fixed port" \
	"a planned sluice_promote() on a follower whose peer port is not fixed"

node_stop F1
for i in 1 2 3; do
	q L "INSERT INTO t VALUES ($((100 + i)), 'only L and F2')" >/dev/null
done
wait_caught_up F2 L 30
node_kill_hard L
restart_follower F1 L
expect_eq "$(count F1)" 10 "F1's rows"

# sessions on F1 from before: one idle, watching ParameterStatus; one in a block
python3 - "$(node_port F1)" "$TEST_TMP/watch.ready" >"$TEST_TMP/watch.out" 2>&1 <<'EOF' &
import socket, struct, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
params = b"user\0sluice\0database\0sluice\0\0"
s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
buf, seen = b"", {}
def messages():
    global buf
    while True:
        while len(buf) >= 5:
            t, n = buf[0:1], struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            body, buf = buf[5:1 + n], buf[1 + n:]
            yield t, body
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed; seen %r" % seen)
        buf += chunk
s.settimeout(60)
started = False
for t, body in messages():
    if t == b"S":
        k, v = body.split(b"\0")[:2]
        seen[k.decode()] = v.decode()
        if started:
            print("ParameterStatus %s=%s" % (k.decode(), v.decode()), flush=True)
    elif t == b"Z" and not started:
        started = True
        assert seen.get("in_hot_standby") == "on", seen
        open(ready, "w").close()
    if started and seen.get("in_hot_standby") == "off" and seen.get("default_transaction_read_only") == "off":
        print("role change seen", flush=True)
        break
EOF
watcher=$!
bg_track "$watcher"
wait_until "[ -e '$TEST_TMP/watch.ready' ]" 10 || fail "the ParameterStatus watcher did not start: $(cat "$TEST_TMP/watch.out")"
sess_open F1 blk
sess_q blk "BEGIN" >/dev/null
expect_eq "$(sess_q blk "SELECT count(*) FROM t")" 10 "rows in F1's open block"
sess_open F1 idle
expect_eq "$(sess_q idle "SHOW in_hot_standby")" on "in_hot_standby on F1 before"

wait_until "[ \"\$(status_try F1 'SELECT state FROM sluice_status')\" = connecting ]" 20 ||
	fail "F1 did not notice that L is gone"
out=$("$SLUICE" promote F1 --host "127.0.0.1:$(node_port F1)" 2>&1) && fail "promote without --force succeeded: $out"
expect_match "$out" "the leader cannot be reached" "sluice promote without --force"
expect_match "$out" "sluice_promote\(force => true\)" "its hint"
f2_lsn=$(node_status F2 current_lsn)
out=$("$SLUICE" promote F1 --host "127.0.0.1:$(node_port F1),127.0.0.1:$(node_port F2)" --force --yes 2>&1) ||
	fail "sluice promote --force failed: $out"
log "sluice promote --force: $out"
expect_match "$out" "the highest LSN a reachable node reports is $f2_lsn \(F2\)" "the range F1 lacks"
expect_match "$out" "would be lost" "what may be lost"
expect_match "$out" "F1 is the leader at epoch 2 \(was 1" "sluice promote's result"
expect_eq "$(node_status F1 role)" leader "F1's role"
expect_eq "$(node_status F1 epoch)" 2 "F1's epoch"
note_peer_port F1

wait_pid_exit "$watcher" 20 || fail "no ParameterStatus for the new role: $(cat "$TEST_TMP/watch.out")"
expect_match "$(cat "$TEST_TMP/watch.out")" "role change seen" "ParameterStatus on the idle session"
expect_eq "$(sess_q idle "SHOW in_hot_standby")" off "in_hot_standby on the session from before"
expect_match "$(sess_q idle "INSERT INTO t VALUES (200, 'new leader')")" "INSERT 0 1" "a write on the session from before"
# psql reads the FATAL with its next query, and ends
sess_send blk "SELECT 1"
wait_until "! sess_alive blk" 10 || fail "the session inside a block was not ended"
expect_match "$(cat "${SESS_OUT[blk]}")" "terminating connection because this node was promoted to leader" \
	"the session inside a block"
out=$(timeout -k 5 30 psql -X -w -At \
	"host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(node_port F2),$(node_port L 2>/dev/null || echo 1),$(node_port F1) user=sluice dbname=sluice target_session_attrs=read-write" \
	-c "SELECT node_name FROM sluice_status" 2>&1) || fail "target_session_attrs=read-write: $out"
expect_eq "$out" F1 "the node target_session_attrs=read-write finds"

restart_follower F2 F1
restart_follower L F1
wait_until "run_log_has F2 'bootstrap done'" 30 || fail "F2 fetched no new snapshot"
wait_until "run_log_has L 'bootstrap done'" 30 || fail "L fetched no new snapshot"
wait_caught_up F2 F1 30
wait_caught_up L F1 30
expect_eq "$(discarded_txns F2)" 3 "transactions F2 discarded"
expect_eq "$(discarded_txns L)" 3 "transactions L discarded"
for n in F1 F2 L; do
	expect_eq "$(count "$n")" 11 "rows on $n"
done

# ---------------------------------------- a sibling follows without a snapshot
log "--- promotion of a follower that lacks nothing"
q F1 "INSERT INTO t VALUES (300, 'epoch 2')" >/dev/null
wait_caught_up F2 F1 30
wait_caught_up L F1 30
node_kill_hard F1
wait_until "[ \"\$(status_try F2 'SELECT state FROM sluice_status')\" = connecting ]" 20 ||
	fail "F2 did not notice that F1 is gone"
# a 20 s read runs on F2: the promotion waits for it, but the loop goes on
# serving, so psql's cancel request (SIGINT after 2 s) ends it and the
# promotion with it
timeout -s INT 2 psql -X -w -h 127.0.0.1 -p "$(node_port F2)" -U sluice -d sluice -v VERBOSITY=verbose \
	-c "\\! touch $TEST_TMP/sleep.started" -c "SELECT pg_sleep(20)" >"$TEST_TMP/sleep.out" 2>&1 &
sleeper=$!
bg_track "$sleeper"
wait_until "[ -e '$TEST_TMP/sleep.started' ]" 10 || fail "the long read did not start: $(cat "$TEST_TMP/sleep.out")"
out=$("$SLUICE" promote F2 --host "127.0.0.1:$(node_port L),127.0.0.1:$(node_port F2)" --force --yes 2>&1) ||
	fail "sluice promote --force F2 failed: $out"
expect_match "$out" "No reachable node holds a commit that F2 lacks" "what promoting F2 may lose"
expect_match "$out" "F2 is the leader at epoch 3" "sluice promote's result"
took=$(grep -oE 'took [0-9]+ ms' <<<"$out" | grep -oE '[0-9]+')
[ "$took" -lt 10000 ] || fail "the promotion waited for the 20 s read ($took ms): the cancel request was not served"
wait_pid_exit "$sleeper" 10 || true
expect_match "$(cat "$TEST_TMP/sleep.out")" "57014" "the cancelled read on F2"
note_peer_port F2
q F2 "INSERT INTO t VALUES (400, 'epoch 3')" >/dev/null
restart_follower L F2
restart_follower F1 F2
wait_caught_up L F2 30
wait_caught_up F1 F2 30
expect_eq "$(bootstrap_count L)" 0 "bootstrap lines of L following F2"
expect_eq "$(bootstrap_count F1)" 0 "bootstrap lines of F1 following F2"
for n in F1 F2 L; do
	expect_eq "$(count "$n")" 13 "rows on $n"
	expect_eq "$(node_status "$n" epoch)" 3 "epoch on $n"
done
sess_close idle
node_stop L
node_stop F1
node_stop F2
compare_stopped F2 F1
compare_stopped F2 L
log "PASS"
