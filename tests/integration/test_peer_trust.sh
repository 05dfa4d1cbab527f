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
node_stop f1
node_stop L
log "PASS"
