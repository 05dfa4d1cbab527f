#!/bin/bash
# test_preauth.sh — strangers that connect and say nothing cannot lock
# clients out of the client port.
#
# 150 TCP connections that never send a byte (more than max_connections
# = 100 plus its margin) are open: a client still logs in at once and
# works (the connections waiting to authenticate have a budget of their
# own; the oldest silent one makes room), and each silent connection is
# closed by the server within a few seconds (no startup packet in time),
# long before authentication_timeout (60 s).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start n1
port=$(node_port n1)
python3 - "$port" >"$TEST_TMP/silent.out" 2>&1 <<'PYEOF' &
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
print("opened", len(socks), flush=True)
start = time.time()
open_ones = set(range(len(socks)))
for s in socks:
    s.settimeout(0.01)
while open_ones and time.time() - start < 20:
    for i in list(open_ones):
        try:
            if socks[i].recv(4096) == b"":
                open_ones.discard(i)
        except socket.timeout:
            pass
        except OSError:
            open_ones.discard(i)
    time.sleep(0.1)
print("still open after %.0f s: %d" % (time.time() - start, len(open_ones)), flush=True)
PYEOF
strangers=$!
bg_track "$strangers"
wait_until "grep -q '^opened 150' '$TEST_TMP/silent.out'" 20 || fail "could not open 150 connections: $(cat "$TEST_TMP/silent.out")"
t0=$(now_ms)
expect_eq "$(q n1 "SELECT 'in'")" in "a login while 150 silent connections are open"
took=$(($(now_ms) - t0))
log "logged in and queried in ${took} ms with 150 silent connections open"
[ "$took" -lt 5000 ] || fail "the login took ${took} ms (want < 5000)"
rc=0
wait_pid_exit "$strangers" 30 || rc=$?
[ "$rc" = 0 ] || fail "the silent connections' watcher failed: $(cat "$TEST_TMP/silent.out")"
expect_match "$(cat "$TEST_TMP/silent.out")" "still open after [0-9]+ s: 0$" "silent connections closed by the server"
grep -q 'reason="no startup packet in time"' "$(node_log n1)" || fail "the log does not say why silent connections were closed"
expect_eq "$(q n1 "SELECT 'still serving'")" "still serving" "the node after the strangers"
node_stop n1
log "PASS"
