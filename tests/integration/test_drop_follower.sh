#!/bin/bash
# test_drop_follower.sh — a leader forgets followers that left, and gives
# up a switchover to a follower that does not catch up.
#
# 1. sluice_drop_follower: with follower f1 stopped and writes going on,
#    sluice_replication shows f1 disconnected, holding retained_bytes of
#    log (more than 0), and `sluice status` exits 1. Dropping it while it
#    runs is refused (55006); an unknown name is 42704; a non-admin user
#    gets 42501. Once dropped, f1 is gone from sluice_replication and
#    `sluice status` exits 0; started again, f1 follows once more.
# 2. follower_retention_timeout=1s: a stopped follower f2 leaves
#    sluice_replication by itself (and the log says why).
# 3. An abandoned switchover: a peer that authenticates as follower "slow"
#    (tests/integration/peerproto.py) streams from the leader but
#    acknowledges nothing, then asks for the leadership (SWITCHOVER). The
#    leader fences writes (sluice_status.state says "handing over", an
#    INSERT meanwhile fails with 25006), and
#    after switchover_timeout (1 s) abandons the switchover, says so in
#    its log, and takes writes again; it never sends PROMOTE.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

printf 'admin:pw-a\nother:pw-o\n' >"$TEST_TMP/users"
export PGPASSWORD=pw-a SL_USER=admin PGUSER=admin # PGUSER: for sluice status
leader_start L --auth_method=password "--password_file=$TEST_TMP/users" --admin_users=admin \
	--follower_retention_timeout=0 --switchover_timeout=1s
follower_start f1 L
follower_start f2 L
q L "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
wait_caught_up f1 L 30

log "--- sluice_drop_follower"
out=$(q_raw L "SELECT sluice_drop_follower('f1')") || true
expect_match "$out" "55006.*follower \"f1\" is connected" "dropping a connected follower"
node_stop f1
for i in 1 2 3 4 5; do
	q L "INSERT INTO t VALUES ($i, 'while f1 is away')" >/dev/null
done
expect_eq "$(q L "SELECT state FROM sluice_replication WHERE name = 'f1'")" disconnected "f1's state"
held=$(q L "SELECT retained_bytes FROM sluice_replication WHERE name = 'f1'")
[ "$held" -gt 0 ] || fail "f1 holds no log while away: retained_bytes $held"
"$SLUICE" status --host "127.0.0.1:$(node_port L)" >"$TEST_TMP/status.out" 2>&1 && fail "sluice status exited 0 with f1 away"
expect_match "$(cat "$TEST_TMP/status.out")" "f1 .*disconnected" "sluice status with f1 away"
out=$(PGPASSWORD=pw-o timeout -k 5 30 psql -X -w -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port L)" \
	-U other -d sluice -c "SELECT sluice_drop_follower('f1')" 2>&1) || true
expect_match "$out" "42501" "a non-admin's sluice_drop_follower"
out=$(q_raw L "SELECT sluice_drop_follower('nobody')") || true
expect_match "$out" "42704.*follower \"nobody\" does not exist" "dropping an unknown follower"
mark=$(log_mark L)
expect_eq "$(q L "SELECT sluice_drop_follower('f1')")" 1 "sluice_drop_follower('f1')"
expect_eq "$(q L "SELECT count(*) FROM sluice_replication WHERE name = 'f1'")" 0 "f1 in sluice_replication"
log_since L "$mark" | grep -c 'follower forgotten, it no longer holds the log name=f1' >/dev/null || fail "no log line for f1"
"$SLUICE" status --host "127.0.0.1:$(node_port L)" >"$TEST_TMP/status.out" 2>&1 ||
	fail "sluice status without f1: $(cat "$TEST_TMP/status.out")"
follower_restart f1
wait_caught_up f1 L 30
expect_eq "$(q f1 "SELECT count(*) FROM t")" 5 "f1's rows after it returned"

log "--- follower_retention_timeout"
node_stop L
node_stop f1
node_stop f2
leader_start L --auth_method=password "--password_file=$TEST_TMP/users" --admin_users=admin \
	--follower_retention_timeout=1s --switchover_timeout=1s
follower_restart f2
wait_caught_up f2 L 30
mark=$(log_mark L)
node_stop f2
wait_until "[ \"\$(status_try L \"SELECT count(*) FROM sluice_replication WHERE name = 'f2'\")\" = 0 ]" 10 ||
	fail "f2 was not forgotten after follower_retention_timeout"
log_since L "$mark" | grep -c 'follower forgotten.*name=f2 reason="disconnected longer than follower_retention_timeout"' >/dev/null ||
	fail "no log line for f2"

log "--- an abandoned switchover"
mark=$(log_mark L)
python3 "$TOP_SRCDIR/tests/integration/peerproto.py" switchover "${PEER_PORT[L]}" "$REPL_SECRET" slow 8 \
	>"$TEST_TMP/slow.out" 2>&1 &
slow=$!
bg_track "$slow"
wait_until "grep -q asked '$TEST_TMP/slow.out'" 10 || fail "the slow peer did not get to ask: $(cat "$TEST_TMP/slow.out")"
wait_until "log_since L $mark | grep -q 'switchover begun'" 10 || fail "the leader did not begin the switchover"
expect_eq "$(q L "SELECT state FROM sluice_status")" "handing over" "L's state while fenced"
out=$(q_raw L "INSERT INTO t VALUES (100, 'fenced')") || true
expect_match "$out" "25006.*leadership is moving to another node" "a write while fenced"
wait_until "log_since L $mark | grep -q 'switchover abandoned'" 10 || fail "the switchover was not abandoned"
expect_eq "$(q L "INSERT INTO t VALUES (101, 'after')")" "INSERT 0 1" "a write after the abandoned switchover"
expect_eq "$(node_status L role)" leader "L's role"
expect_eq "$(node_status L state)" leading "L's state after the abandoned switchover"
wait_pid_exit "$slow" 15 || true
grep -q "PROMOTE received" "$TEST_TMP/slow.out" && fail "the leader sent PROMOTE to a follower that lacked the log"
node_stop L
log "PASS"
