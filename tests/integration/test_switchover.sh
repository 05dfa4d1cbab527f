#!/bin/bash
# test_switchover.sh — planned switchovers under a write load lose nothing.
#
# Three nodes n1, n2, n3 know each other through `peers` (fixed peer
# ports on 127.0.0.1); n1 starts as leader, n2 and n3 as followers with no
# leader_peer: they find the leader by asking the peers. A writer inserts
# numbered rows one autocommit statement at a time through libpq's
# multi-host string with target_session_attrs=read-write, reconnecting
# whenever its connection ends or a write is refused, and records every
# row the server acknowledged. Meanwhile `sluice promote NODE --host ...`
# (no --force) moves the leadership SWITCHOVERS times (10; 20 with
# SLUICE_LONG_TESTS=1) around the three nodes: each must print the new
# epoch, the old leader must follow the new one, and the third node must
# find it by itself. Then: every acknowledged row is on the last leader,
# the epoch is 1 + SWITCHOVERS everywhere, no node fetched a second
# snapshot, and the three databases are identical (dbsum). Every node
# listens: a follower's peer port answers a peer that authenticates with
# NOT_LEADER and the leader's peer address (tests/integration/peerproto.py).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

if [ "${SLUICE_LONG_TESTS:-0}" = 1 ]; then switchovers=20; else switchovers=10; fi

read -r p1 p2 p3 < <(free_ports 3)
PEERS="n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3"
COMMON=("--peers=$PEERS" "--cluster_secret=$REPL_SECRET" --switchover_timeout=3s)

members_start n1 n2 n3 -- "${COMMON[@]}"
q n1 "CREATE TABLE t(seq INTEGER PRIMARY KEY, v TEXT)" >/dev/null
wait_caught_up n2 n1 30
wait_caught_up n3 n1 30

hosts() { echo "127.0.0.1:$(node_port n1),127.0.0.1:$(node_port n2),127.0.0.1:$(node_port n3)"; }
rw_conninfo="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(node_port n1),$(node_port n2),$(node_port n3) user=sluice dbname=sluice target_session_attrs=read-write connect_timeout=2"

leader_of() {
	local n
	for n in n1 n2 n3; do
		[ "$(status_try "$n" "SELECT role FROM sluice_status")" = leader ] && { echo "$n"; return 0; }
	done
	return 1
}

# wait_cluster LEADER: both others stream from LEADER (under load: their
# positions move, so caught up is checked once the writer stops).
wait_cluster() {
	local l=$1 n
	for n in n1 n2 n3; do
		[ "$n" = "$l" ] && continue
		wait_until "[ \"\$(status_try $l \"SELECT count(*) FROM sluice_replication WHERE name = '$n' AND state = 'streaming'\")\" = 1 ]" 30 ||
			fail "$n does not stream from $l: $(status_try "$n" "SELECT * FROM sluice_status")"
	done
}

# The writer: one row per statement, the acknowledged ones recorded.
acked=$TEST_TMP/acked
stop=$TEST_TMP/stop-writer
: >"$acked"
python3 - "$rw_conninfo" "$acked" "$stop" >"$TEST_TMP/writer.out" 2>&1 <<'EOF' &
import subprocess, sys, time, os
conninfo, acked, stop = sys.argv[1:4]
deadline = time.time() + 300
seq, ok, failed = 0, 0, 0
# one psql per connection: statements go through its stdin, results come
# back on its stdout; a broken connection ends it and a new one starts
def start():
    return subprocess.Popen(["psql", "-X", "-w", "-At", "-v", "ON_ERROR_STOP=0", conninfo],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
p = start()
with open(acked, "a") as out:
    while not os.path.exists(stop) and time.time() < deadline:
        seq += 1
        try:
            p.stdin.write("INSERT INTO t VALUES (%d, 'x');\n\\echo done\n" % seq)
            p.stdin.flush()
            lines = []
            while True:
                line = p.stdout.readline()
                if not line:
                    raise BrokenPipeError
                line = line.rstrip("\n")
                if line == "done":
                    break
                lines.append(line)
            if lines == ["INSERT 0 1"]:
                out.write("%d\n" % seq)
                out.flush()
                ok += 1
            else:
                failed += 1
                if any("connection" in l or "FATAL" in l or "read-only" in l for l in lines):
                    p.kill(); p.wait(); time.sleep(0.02); p = start()
        except (BrokenPipeError, OSError):
            failed += 1
            p.kill(); p.wait(); time.sleep(0.02); p = start()
print("writer: ok=%d failed=%d last=%d" % (ok, failed, seq))
p.kill()
EOF
writer=$!
bg_track "$writer"
wait_until "[ \$(wc -l <'$acked') -ge 20 ]" 30 || fail "the writer acknowledged nothing: $(cat "$TEST_TMP/writer.out")"

order=(n2 n3 n1)
leader=n1
for ((i = 1; i <= switchovers; i++)); do
	target=${order[$(((i - 1) % 3))]}
	[ "$target" != "$leader" ] || target=${order[$((i % 3))]}
	before=$(wc -l <"$acked")
	out=$("$SLUICE" promote "$target" --host "$(hosts)" 2>&1) || fail "switchover $i to $target failed: $out"
	expect_match "$out" "^$target is the leader at epoch $((i + 1)) " "switchover $i"
	log "switchover $i: $out"
	leader=$target
	wait_cluster "$leader"
	wait_until "[ \$(wc -l <'$acked') -gt $before ]" 30 || fail "no write acknowledged after switchover $i"
done

# every node listens: a follower's peer port names the leader
for n in n1 n2 n3; do
	[ "$n" = "$leader" ] && continue
	pp=$(grep -oE "$n@127.0.0.1:[0-9]+" <<<"$PEERS" | cut -d: -f2)
	lp=$(grep -oE "$leader@127.0.0.1:[0-9]+" <<<"$PEERS" | cut -d@ -f2)
	out=$(python3 "$TOP_SRCDIR/tests/integration/peerproto.py" hello "$pp" "$REPL_SECRET" probe 2>&1) ||
		fail "peer handshake with $n: $out"
	expect_eq "$out" "NOT_LEADER $lp" "what $n's peer port answers"
done

touch "$stop"
wait_pid_exit "$writer" 30 || fail "the writer did not stop"
log "$(cat "$TEST_TMP/writer.out")"
wait_cluster "$leader"
for n in n1 n2 n3; do
	[ "$n" = "$leader" ] || wait_caught_up "$n" "$leader" 30
done

# every acknowledged row is on the last leader
q "$leader" "SELECT seq FROM t ORDER BY seq" >"$TEST_TMP/have"
lost=$(sort -n "$acked" | comm -23 - <(sort -n "$TEST_TMP/have") | wc -l)
expect_eq "$lost" 0 "acknowledged rows missing on $leader (of $(wc -l <"$acked"))"
for n in n1 n2 n3; do
	[ "$(bootstraps_done "$n")" -le 1 ] || fail "$n fetched another snapshot ($(bootstraps_done "$n") in all)"
done
epoch=$(node_status "$leader" epoch)
[ "$epoch" -ge $((switchovers + 1)) ] || fail "epoch $epoch after $switchovers switchovers"
node_stop n1
node_stop n2
node_stop n3
compare_stopped "$leader" n1
compare_stopped "$leader" n2
compare_stopped "$leader" n3
log "PASS ($switchovers switchovers, $(wc -l <"$acked") rows acknowledged)"
