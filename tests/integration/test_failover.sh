#!/bin/bash
# test_failover.sh — automatic failover with the default timings.
#
# Three nodes n1, n2, n3 know each other through `peers`; n1 starts as
# leader (the cluster's first start), n2 and n3 as followers; every
# COMMIT waits for one follower (ANY 1 (n1, n2, n3)), the setting that
# makes failover lossless with three voters. A writer inserts numbered
# rows through libpq's multi-host string with
# target_session_attrs=read-write and records every acknowledged row.
#
#   1. kill -9 of the leader under load: a new leader accepts writes
#      within failover_timeout + 1 s (2 s) of the kill, at a higher epoch;
#      the killed node, restarted with its old settings (role = leader),
#      rejoins as a follower of the new leader and never leads by itself.
#   2. SIGSTOP of the leader for longer than failover_timeout, then
#      SIGCONT: the others elect a leader meanwhile; the paused one, once
#      it runs again, steps down and acknowledges no write after its
#      lease ran out (its log says it lost the lease, and no row it
#      acknowledged is missing from the new leader).
#   3. Every acknowledged row is on the last leader, and the three
#      databases are identical (dbsum).
#   4. sluice_status shows the election: the leader's lease is held, the
#      followers name their vote, and `sluice status` prints ELECTION.
#   5. With fewer synchronous standbys than floor(N/2), the start-up log
#      and sluice_status warn that failover may lose acknowledged writes.
#   6. Two data nodes and a witness (role = witness: votes, counts toward
#      the lease, keeps no data): the leader holds its lease with only the
#      witness answering, and when it is killed the other data node is
#      elected with the witness's vote; every acknowledged row is there.
#      The leader's sluice_members and `sluice status` show the witness
#      answering its heartbeats and a dead data node silent.
#      Its COMMIT then waits for the dead standby; with the witness paused
#      the lease runs out, the COMMIT fails with 40003, and reads on that
#      node are refused (55000) rather than showing the unconfirmed row;
#      its own sluice_status it still answers.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

read -r p1 p2 p3 < <(free_ports 3)
PEERS="n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3"
COMMON=("--peers=$PEERS" "--cluster_secret=$REPL_SECRET" "--synchronous_standbys=ANY 1 (n1, n2, n3)")

members_start n1 n2 n3 -- "${COMMON[@]}"
q n1 "CREATE TABLE t(seq INTEGER PRIMARY KEY, v TEXT)" >/dev/null
wait_caught_up n2 n1 30
wait_caught_up n3 n1 30

# leader_of: the node that leads with its lease (waits up to 10 s).
leader_of() {
	local n k
	for k in $(seq 100); do
		for n in n1 n2 n3; do
			[ "$(status_try "$n" "SELECT role || '/' || state FROM sluice_status")" = leader/leading ] &&
				{ echo "$n"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# The election's view on every node.
expect_eq "$(node_status n1 "election || ' ' || lease")" "leader held" "n1's election state and lease"
wait_until "[ \"\$(status_try n2 \"SELECT election FROM sluice_status\")\" = follower ]" 10 ||
	fail "n2's election state: $(status_try n2 "SELECT * FROM sluice_status")"
hb=$(node_status n2 heartbeat_age_ms)
[ "$hb" -ge 0 ] && [ "$hb" -lt 1000 ] || fail "n2 last heard the leader $hb ms ago (want < 1000)"
expect_eq "$(node_status n1 "coalesce(failover_warning, 'none')")" none "no safety warning with ANY 1 of 3"
st=$(timeout 20 "$SLUICE" status --host "127.0.0.1:$(node_port n1)")
expect_match "$st" "ELECTION" "sluice status has an ELECTION column"
expect_match "$st" "n1 .*leader.*held" "sluice status shows n1's lease"

# ---------------------------------------------------------------- writer
acked=$TEST_TMP/acked
: >"$acked"
writer_stop=$TEST_TMP/writer.stop
rw="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(node_port n1),$(node_port n2),$(node_port n3) user=sluice dbname=sluice target_session_attrs=read-write connect_timeout=2"
writer() {
	local i=0 out
	while [ ! -e "$writer_stop" ] && [ $i -lt 100000 ]; do
		i=$((i + 1))
		if out=$(timeout -k 2 5 psql -X -w -At -d "$rw" -c "INSERT INTO t VALUES ($i, 'v$i')" 2>&1) &&
			[ "$out" = "INSERT 0 1" ]; then
			echo "$i $(now_ms)" >>"$acked"
		else
			sleep 0.02
		fi
	done
}
writer &
writer_pid=$!
bg_track "$writer_pid"
acked_count() { grep -c '' "$acked" || true; }
wait_until "[ \$(acked_count) -ge 20 ]" 20 || fail "the writer got no acknowledgement"

# --------------------------------------------------------- 1. kill -9
epoch1=$(node_status n1 epoch)
port_n1=$(node_port n1)
t_kill=$(now_ms)
node_kill_hard n1
# first_ack_after T: when the first write acknowledged after T was (ms), or nothing
first_ack_after() { awk -v k="$1" '$2 > k {print $2; exit}' "$acked"; }
wait_until "[ -n \"\$(first_ack_after $t_kill)\" ]" 10 || fail "no write was acknowledged within 10 s of killing the leader"
t_first=$(first_ack_after "$t_kill") # as the client saw it
new=$(leader_of) || fail "no leader after the kill"
[ "$new" != n1 ] || fail "n1 is dead, yet leads"
# when the new leader took writes: its log says when it was promoted
line=$(run_log "$new" | grep "promoted to leader" | tail -n1)
t_lead=$(date -d "${line%% *}" +%s%3N)
took=$((t_lead - t_kill))
log "kill -9: $new takes writes ${took} ms after the kill; the writer's first acknowledgement came after $((t_first - t_kill)) ms"
[ "$took" -le 2000 ] || fail "the new leader took writes ${took} ms after the kill (want <= failover_timeout + 1 s = 2000)"
epoch2=$(node_status "$new" epoch)
[ "$epoch2" -gt "$epoch1" ] || fail "the new leader's epoch $epoch2 is not above $epoch1"
run_log_has "$new" "elected leader" || fail "$new's log does not say it was elected"

# the killed node comes back with its old settings (and client port, which
# the writer's multi-host string names) and follows
node_start n1 --role=leader --node_name=n1 "${COMMON[@]}" "--port=$port_n1"
wait_until "[ \"\$(status_try n1 \"SELECT role FROM sluice_status\")\" = follower ]" 10 ||
	fail "restarted n1 is not a follower: $(status_try n1 "SELECT * FROM sluice_status")"
run_log_has n1 "starting as a follower" || fail "n1's log does not say it started as a follower"
wait_until "[ \"\$(status_try $new \"SELECT count(*) FROM sluice_replication WHERE name = 'n1' AND state = 'streaming'\")\" = 1 ]" 30 ||
	fail "n1 does not stream from $new: $(status_try n1 "SELECT * FROM sluice_status")"
expect_eq "$(leader_of)" "$new" "the leader after n1 rejoined"

# ------------------------------------------------------ 2. SIGSTOP
old=$new
pid=$(node_pid "$old")
mark=$(log_mark "$old")
before=$(acked_count)
t_stop=$(now_ms)
kill -STOP "$pid"
at_exit "kill -CONT $pid 2>/dev/null || true"
others=$(for n in n1 n2 n3; do [ "$n" = "$old" ] || echo "$n"; done)
elected() {
	local n
	for n in $others; do
		[ "$(status_try "$n" "SELECT role || '/' || state FROM sluice_status")" = leader/leading ] && return 0
	done
	return 1
}
wait_until elected 10 || { kill -CONT "$pid"; fail "no other node was elected within 10 s of pausing $old"; }
log "SIGSTOP: another node leads $(($(now_ms) - t_stop)) ms after the pause"
wait_until "[ \$(acked_count) -gt $before ]" 10 || { kill -CONT "$pid"; fail "no write acknowledged within 10 s of pausing the leader"; }
sleep 1
kill -CONT "$pid"
# it ran out of lease while paused: it steps down and follows
wait_until "[ \"\$(status_try $old \"SELECT role FROM sluice_status\")\" = follower ]" 15 ||
	fail "$old did not step down after SIGCONT: $(status_try "$old" "SELECT * FROM sluice_status")"
since=$(log_since "$old" "$mark")
expect_match "$since" "stepping down" "the paused leader's log"
new=$(leader_of) || fail "no leader after the pause"
[ "$new" != "$old" ] || fail "$old still leads after the pause"

# ------------------------------------------------------ 3. nothing lost
wait_until "[ \$(acked_count) -ge $(($(acked_count) + 20)) ]" 20 || fail "writes did not go on"
touch "$writer_stop"
wait "$writer_pid" || true
n_acked=$(acked_count)
missing=$(q "$new" "SELECT count(*) FROM t WHERE seq IN ($(cut -d' ' -f1 "$acked" | paste -sd,))")
expect_eq "$missing" "$n_acked" "acknowledged rows found on the leader $new"
log "$n_acked acknowledged writes, none lost"
for n in n1 n2 n3; do
	[ "$n" = "$new" ] || wait_caught_up "$n" "$new" 30
done
s1=$(q n1 "SELECT count(*), sum(seq) FROM t")
expect_eq "$(q n2 "SELECT count(*), sum(seq) FROM t")" "$s1" "n2's rows against n1's"
expect_eq "$(q n3 "SELECT count(*), sum(seq) FROM t")" "$s1" "n3's rows against n1's"

# another member's vote elected the leader, in its epoch (the leader's own
# vote for itself does not count here)
epoch_now=$(node_status "$new" epoch)
votes=$(for n in n1 n2 n3; do
	[ "$n" = "$new" ] || status_try "$n" "SELECT voted_for || '@' || vote_epoch FROM sluice_status"
done)
expect_match "$votes" "^$new@$epoch_now\$" "another member's vote for the leader $new in epoch $epoch_now"

for n in n1 n2 n3; do node_stop "$n"; done

# ----------------------------------------------- 5. the safety warning
read -r p4 p5 p6 < <(free_ports 3)
PEERS2="m1@127.0.0.1:$p4, m2@127.0.0.1:$p5, m3@127.0.0.1:$p6"
node_start m1 --role=leader --node_name=m1 "--peers=$PEERS2" "--cluster_secret=$REPL_SECRET"
w=$(node_status m1 "coalesce(failover_warning, 'none')")
expect_match "$w" "may lose acknowledged writes" "sluice_status.failover_warning without synchronous standbys"
run_log_has m1 "automatic failover may lose acknowledged writes" || fail "no warning in m1's log"
node_stop m1

# ---------------------------------------------- 6. two nodes + a witness
read -r p7 p8 p9 < <(free_ports 3)
PEERS3="d1@127.0.0.1:$p7, d2@127.0.0.1:$p8, w@127.0.0.1:$p9"
COMMON3=("--peers=$PEERS3" "--cluster_secret=$REPL_SECRET" "--synchronous_standbys=ANY 1 (d1, d2)")
mkdir -p "$TEST_TMP/witness"
"$SLUICED" -D "$TEST_TMP/witness" --role=witness --node_name=w "${COMMON3[@]}" >>"$TEST_TMP/witness.log" 2>&1 &
wpid=$!
bg_track "$wpid"
members_start d1 d2 -- "${COMMON3[@]}"
q d1 "CREATE TABLE t(seq INTEGER PRIMARY KEY)" >/dev/null
q d1 "INSERT INTO t VALUES (1)" >/dev/null
wait_caught_up d2 d1 30
node_kill_hard d2 # the leader keeps its lease with the witness alone
sleep 1.5
expect_eq "$(node_status d1 "lease")" held "d1's lease with only the witness answering"
# the leader's view of the members: the witness answers, d2 does not
members_seen() { q d1 "SELECT name || ':' || link || ':' || heartbeat FROM sluice_members ORDER BY name" | tr '\n' ' '; }
wait_until "[ \"\$(members_seen)\" = 'd1:self:answering d2:down:silent w:up:answering ' ]" 5 ||
	fail "d1's sluice_members with d2 down: $(members_seen)"
rc=0
st=$(timeout 40 "$SLUICE" status --host "127.0.0.1:$(node_port d1)" 2>&1) || rc=$?
expect_eq "$rc" 1 "sluice status's exit status with d2 down"
expect_match "$st" "w +member +127.0.0.1:$p9 +answering" "sluice status shows the witness answering"
node_start d2 --role=follower --node_name=d2 "${COMMON3[@]}"
wait_caught_up d2 d1 30
st=$(timeout 40 "$SLUICE" status --host "127.0.0.1:$(node_port d2)") ||
	fail "sluice status failed with every member up: $st"
expect_match "$st" "w +member +127.0.0.1:$p9 +answering" "sluice status from d2 shows the witness"
expect_match "$(timeout 40 "$SLUICE" status --json --host "127.0.0.1:$(node_port d1)")" \
	'"name":"w","role":"member","address":"127.0.0.1:'"$p9"'","state":"answering","reachable":false' \
	"sluice status --json shows the witness"
q d1 "INSERT INTO t VALUES (2)" >/dev/null
node_kill_hard d1
wait_until "[ \"\$(status_try d2 \"SELECT role || '/' || state FROM sluice_status\")\" = leader/leading ]" 10 ||
	fail "d2 was not elected with the witness's vote: $(status_try d2 "SELECT * FROM sluice_status")"
expect_eq "$(q d2 "SELECT count(*) FROM t")" 2 "rows on d2 after the failover"
grep -q "voted candidate=d2" "$TEST_TMP/witness.log" || fail "the witness's log does not show its vote for d2:
$(tail -20 "$TEST_TMP/witness.log")"
[ ! -e "$TEST_TMP/witness/sluice.db" ] || fail "the witness keeps a database"
# a COMMIT on d2 waits for its one synchronous standby, the dead d1; the
# witness paused, d2 loses its lease: the COMMIT fails with 40003, and no
# reader on d2 may see that unconfirmed row
psql_to d2 -v VERBOSITY=verbose -c "INSERT INTO t VALUES (3)" >"$TEST_TMP/unconfirmed.out" 2>&1 &
ins=$!
bg_track "$ins"
sleep 0.5
proc_alive "$ins" || fail "the INSERT on d2 did not wait for d1: $(cat "$TEST_TMP/unconfirmed.out")"
kill -STOP "$wpid"
at_exit "kill -CONT $wpid 2>/dev/null || true"
rc=0
wait_pid_exit "$ins" 10 || rc=$?
[ "$rc" != 124 ] || fail "the INSERT on d2 still waits after its lease ran out"
expect_match "$(cat "$TEST_TMP/unconfirmed.out")" "40003" "the INSERT whose lease ran out while it waited"
expect_sqlstate d2 "SELECT count(*) FROM t" 55000
expect_sqlstate d2 "SELECT s.node_name, count(*) FROM sluice_status s, t" 55000
# what it says of itself it still answers: its status, and no data
expect_eq "$(q d2 "SELECT node_name FROM sluice_status")" d2 "d2's sluice_status while it holds unconfirmed commits"
expect_eq "$(q d2 "SELECT 6 * 7")" 42 "an expression on d2 while it holds unconfirmed commits"
kill -CONT "$wpid"
node_stop d2
kill -TERM "$wpid"
wait_pid_exit "$wpid" 10 || fail "the witness did not stop on SIGTERM"
