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
#
# Last, frames tampered with on the way (peerproto.py tamper, a proxy
# that fixes the CRC, so that only the seal can tell): a RECORDS frame
# with one byte flipped makes follower f2 close the link, and a
# follower's ACK sent twice makes the leader close it, both saying the
# frame failed its seal; f2 then reconnects, catches up, and holds
# exactly the leader's rows (none of the flipped text).
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

# tamper MODE FOLLOWER: start FOLLOWER of L through a tampering proxy and
# write rows on L until the proxy says it tampered.
tamper() {
	local mode=$1 f=$2 pf=$TEST_TMP/tamper.$1.port out=$TEST_TMP/tamper.$1.out i
	python3 "$TOP_SRCDIR/tests/integration/peerproto.py" tamper "$pf" "${PEER_PORT[L]}" "$mode" 120 >"$out" 2>&1 &
	bg_track $!
	wait_until "[ -s '$pf' ]" 10 || fail "the tampering proxy did not start"
	follower_start "$f" L "--leader_peer=127.0.0.1:$(cat "$pf")"
	for ((i = 0; i < 50; i++)); do
		q L "INSERT INTO t VALUES ((SELECT max(k) + 1 FROM t))" >/dev/null
		grep -q tampered "$out" && break
		sleep 0.1
	done
	grep -q tampered "$out" || fail "the proxy found no frame to tamper with ($mode): $(cat "$out")"
}
tamper alter f2
wait_until "grep -q 'leader link ended reason=.*a frame failed its seal' '$(node_log f2)'" 10 ||
	fail "f2 did not refuse a RECORDS frame altered on the way: $(grep -v pgconn "$(node_log f2)" | tail -n 5)"
q L "INSERT INTO t VALUES ((SELECT max(k) + 1 FROM t))" >/dev/null
wait_caught_up f2 L 30
expect_eq "$(q f2 "SELECT count(*), sum(k) FROM t")" "$(q L "SELECT count(*), sum(k) FROM t")" "f2's rows after the altered frame"
node_stop f2
mark=$(log_mark L)
tamper replay f3
wait_until "log_since L $mark | grep -q 'closing a follower link name=f3 reason=\".*a frame failed its seal'" 10 ||
	fail "the leader did not refuse an ACK sent twice: $(log_since L "$mark" | grep -v pgconn | tail -n 5)"
q L "INSERT INTO t VALUES ((SELECT max(k) + 1 FROM t))" >/dev/null
wait_caught_up f3 L 30
log "ok: an altered RECORDS frame and a replayed ACK both fail their seal; the followers catch up"
node_stop f3
node_stop f1
node_stop L
log "PASS"
