#!/bin/bash
# test_peer_trust.sh — a member that holds the cluster secret still cannot
# make the leader believe what it never sent.
#
# Leader L with synchronous_standbys = 'ANY 1 (liar, f1)'. A peer client
# (tests/integration/peerproto.py) authenticates as "liar", follows from the
# start of the log and acknowledges write = flush = apply = 2^62: the
# leader closes its link at once and logs why, and an INSERT on L is not
# acknowledged on the liar's word — it waits (2 s) until the real follower
# f1, stopped meanwhile, comes back and confirms it.
#
# Then 200 connections to the leader's peer port that never send a byte
# (more than its 128 link slots), each dialled again as soon as the leader
# closes it: f1, killed before and restarted meanwhile,
# connects again within 2 s and a COMMIT that needs it succeeds; the
# strangers are closed (a budget of their own, a 3 s handshake limit).
#
# And a HELLO whose compressed payload (under the 64 KiB allowed before
# authentication) would inflate to 60 MB is refused unread: the leader
# closes the link saying "bad compressed payload".
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

leader_start L "--synchronous_standbys=ANY 1 (liar, f1)"
follower_start f1 L
q L "CREATE TABLE t(k INTEGER PRIMARY KEY)" >/dev/null
wait_caught_up f1 L 30
node_stop f1
out=$(timeout 20 python3 "$TOP_SRCDIR/tests/integration/peerproto.py" lie "${PEER_PORT[L]}" "$REPL_SECRET" liar 5)
expect_eq "$(tr '\n' ' ' <<<"$out")" "lied closed " "the liar's link after its acknowledgement"
run_log_has L "closing a follower link name=liar reason=\"it acknowledged write position .* past what was sent to it" ||
	fail "the leader's log does not say why it closed the liar's link:
$(run_log L | tail -n 20)"

psql_to L -v VERBOSITY=verbose -c "INSERT INTO t VALUES (1)" >"$TEST_TMP/insert.out" 2>&1 &
inserter=$!
bg_track "$inserter"
sleep 2
proc_alive "$inserter" || fail "the INSERT was acknowledged without a synchronous standby: $(cat "$TEST_TMP/insert.out")"
follower_restart f1
rc=0
wait_pid_exit "$inserter" 30 || rc=$?
[ "$rc" = 0 ] || fail "the INSERT did not succeed once f1 joined (exit $rc): $(cat "$TEST_TMP/insert.out")"
expect_match "$(cat "$TEST_TMP/insert.out")" "INSERT 0 1" "the INSERT once f1 confirmed it"
wait_caught_up f1 L 30
expect_eq "$(q f1 "SELECT count(*) FROM t")" 1 "the row on f1"

node_kill_hard f1
wait_until "[ \"\$(status_try L \"SELECT count(*) FROM sluice_replication WHERE name = 'f1' AND state = 'streaming'\")\" = 0 ]" 20 ||
	fail "the leader still shows the killed f1 streaming"
python3 - "${PEER_PORT[L]}" >"$TEST_TMP/strangers.out" 2>&1 <<'PYEOF' &
import socket, sys, time
port = int(sys.argv[1])
def dial():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.setblocking(False)
        return s
    except OSError:
        return None
socks = [dial() for _ in range(200)]
print("opened", sum(1 for s in socks if s), flush=True)
end, redials = time.time() + 12, 0
while time.time() < end:  # whatever the server closes is dialled again at once
    for i, s in enumerate(socks):
        closed = s is None
        if s is not None:
            try:
                closed = s.recv(4096) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed = True
        if closed:
            if s is not None:
                s.close()
            socks[i] = dial()
            redials += 1
    time.sleep(0.005)
print("redialled", redials, flush=True)
PYEOF
strangers=$!
bg_track "$strangers"
wait_until "grep -q '^opened' '$TEST_TMP/strangers.out'" 20 || fail "could not open the connections"
mark=$(log_mark L)
t0=$(now_ms)
follower_restart f1
wait_until "log_since L $mark | grep -q 'follower connected name=f1'" 2 ||
	fail "f1 did not connect again within 2 s of its restart while strangers held peer connections:
$(log_since L "$mark" | grep -v pgconn | tail -n 5)"
log "f1 streams again $(($(now_ms) - t0)) ms after its restart, with $(cat "$TEST_TMP/strangers.out") strangers"
expect_match "$(psql_to L -c "INSERT INTO t VALUES (2)" 2>&1)" "INSERT 0 1" "a COMMIT that needs f1"
grep -q "too many connections in the handshake" "$(node_log L)" || fail "the leader's log does not say it closed strangers"
mark=$(log_mark L)
expect_eq "$(timeout 20 python3 "$TOP_SRCDIR/tests/integration/peerproto.py" bomb "${PEER_PORT[L]}")" closed \
	"the link of a decompression bomb"
wait_until "log_since L $mark | grep -q 'peer link closed before HELLO .*reason=\"bad compressed payload\"'" 10 ||
	fail "the leader's log does not show the bomb refused: $(log_since L "$mark" | grep -v pgconn | tail -n 3)"
node_stop f1
node_stop L
log "PASS"
