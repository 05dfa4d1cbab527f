#!/bin/bash
# test_slots.sh — CDC slots: a consumer resumes exactly after the last
# commit it confirmed, across its own deaths, a switchover, and a kill -9
# of the leader; slots are replicated, hold the log back, and are lost
# past max_slot_lag.
#
# Three members (log_mode = logical, ANY 1 synchronous standby).
#   - `sluice slot create s1` prints where it starts; a second create, a
#     bad name and a create on a follower are refused; `sluice slot list`
#     shows it, and every follower holds it;
#   - while a writer inserts (idempotently, through whichever member
#     leads), `sluice cdc --slot s1` given every member is killed (-9) at
#     random moments and started again; meanwhile the leader is switched
#     over and later killed (-9) and restarted. Each new piece must start
#     with the first transaction at or after the slot's confirmed position
#     read after the kill, and the pieces, each cut at the next piece's
#     start, must be byte for byte the uninterrupted stream from where the
#     slot was made (no gap, no duplicate);
#   - the restarted former leader holds the slot at the leader's position;
#     sluice_slots shows lag and active; drop removes it everywhere;
#   - pg_recvlogical given every member (target_session_attrs=read-write)
#     on a test_decoding slot loses no row across a switchover: cut off,
#     it reconnects to the new leader, which holds the slot;
#   - on a single leader with small log segments, a slot keeps the log it
#     needs through checkpoints; one past max_slot_lag is reported lost
#     (`sluice slot list`, `sluice cdc --slot` exits 1, confirm 55000) and
#     holds nothing back; the table is sluice's own (42501); slot functions
#     refuse inside a transaction block (25001) and on a physical log
#     (0A000).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

read -r p1 p2 p3 < <(free_ports 3)
PEERS="n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3"
COMMON=("--peers=$PEERS" "--cluster_secret=$REPL_SECRET" "--synchronous_standbys=ANY 1 (n1, n2, n3)"
	--log_mode=logical)
members_start n1 n2 n3 -- "${COMMON[@]}"
source "$TOP_SRCDIR/tests/integration/cdc_lib.sh"
cdc_cluster_init
all_hosts="127.0.0.1:$(node_port n1),127.0.0.1:$(node_port n2),127.0.0.1:$(node_port n3)"

# slot_position: where s1 stands, as the leader says
slot_position() { wq "SELECT confirmed_lsn FROM sluice_slots WHERE slot_name = 's1'"; }

# ------------------------------------------------------------ create, list
w "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"
w "INSERT INTO accounts VALUES (0, 0)"
out=$("$SLUICE" slot create s1 --host "$all_hosts") || fail "sluice slot create s1 failed: $out"
expect_match "$out" '^slot s1 created at [0-9A-F]+/[0-9A-F]+$' "sluice slot create s1"
created=${out##* }
rc=0
err=$("$SLUICE" slot create s1 --host "$all_hosts" 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status of a second sluice slot create s1"
expect_match "$err" '42710.*"s1" already exists' "a second sluice slot create s1"
rc=0
"$SLUICE" slot create Bad-Name --host "$all_hosts" 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of sluice slot create Bad-Name"
expect_sqlstate n1 "SELECT sluice_slot_create('Bad-Name')" 42602
expect_sqlstate n2 "SELECT sluice_slot_create('s2')" 25006
expect_sqlstate n1 "SELECT sluice_slot_drop('nope')" 42704
out=$("$SLUICE" slot list --host "$all_hosts") || fail "sluice slot list failed: $out"
expect_match "$out" "s1 +sluice +$created +0 +0(\.0+)? +no +no" "sluice slot list"
out=$("$SLUICE" slot list s1 --json --host "$all_hosts") || fail "sluice slot list s1 --json failed: $out"
expect_eq "$out" "{\"slot_name\":\"s1\",\"plugin\":\"sluice\",\"confirmed_lsn\":\"$created\",\"lag_bytes\":0,\"lag_seconds\":0,\"active\":false,\"lost\":false}" \
	"sluice slot list s1 --json"
for n in n2 n3; do
	wait_until "[ \"\$(status_try $n \"SELECT confirmed_lsn FROM sluice_slots WHERE slot_name = 's1'\")\" = $created ]" 30 ||
		fail "$n does not hold slot s1 at $created: $(status_try "$n" "SELECT * FROM sluice_slots")"
done
# sluice's own table never shows in a stream
w "INSERT INTO accounts VALUES (1, 1)"
out=$(timeout 30 "$SLUICE" cdc "${hosts[@]}" --from 0/0 --endpos "$(wq "SELECT sluice_current_lsn()")")
grep -q sluice_slot_state <<<"$out" && fail "the slot table is in the change stream: $(grep sluice_slot_state <<<"$out" | head -n 2)"
expect_match "$out" '"table":"accounts"' "the stream before the slot was used"

# ----------------------------------------------- a consumer killed, resumed
# writer: single-row inserts through whichever member leads
writer_run() {
	local i
	for i in $(seq 2 301); do
		w "INSERT INTO accounts VALUES ($i, $i) ON CONFLICT DO NOTHING"
		sleep 0.02
	done
}
writer_run &
writer=$!
bg_track "$writer"

pieces=0
starts=()
moved=none
while proc_alive "$writer"; do
	pos=$(slot_position)
	starts+=("$pos")
	"$SLUICE" cdc "${hosts[@]}" --slot s1 >"$TEST_TMP/piece$pieces.out" 2>"$TEST_TMP/piece$pieces.err" &
	piece=$!
	sleep "0.$((RANDOM % 7 + 2))"
	kill -KILL "$piece" 2>/dev/null || true
	wait "$piece" 2>/dev/null || true
	pieces=$((pieces + 1))
	sleep 0.3 # a confirmation the consumer sent before it died lands
	if [ "$pieces" = 6 ] && [ "$moved" = none ]; then
		log "switchover to n2"
		out=$("$SLUICE" promote n2 --host "$all_hosts" 2>&1) || fail "switchover failed: $out"
		moved=switched
	elif [ "$pieces" = 12 ] && [ "$moved" = switched ]; then
		old=$(leader) || fail "no leader after the switchover"
		log "kill -9 of the leader $old"
		node_kill_hard "$old"
		moved=killed
	elif [ "$pieces" = 16 ] && [ "$moved" = killed ]; then
		log "restart of $old"
		node_start "$old" --role=follower "--node_name=$old" "${COMMON[@]}"
		cdc_cluster_init # it listens on a new port now
		all_hosts="127.0.0.1:$(node_port n1),127.0.0.1:$(node_port n2),127.0.0.1:$(node_port n3)"
		moved=restarted
	fi
done
wait "$writer" || fail "the writer failed"
[ "$moved" = restarted ] || fail "the writer ended before the leader moved twice (pieces: $pieces, $moved)"
end=$(wq "SELECT sluice_current_lsn()")
starts+=("$(slot_position)")
timeout 60 "$SLUICE" cdc "${hosts[@]}" --slot s1 --endpos "$end" >"$TEST_TMP/piece$pieces.out" 2>"$TEST_TMP/piece$pieces.err" ||
	fail "the last piece failed: $(cat "$TEST_TMP/piece$pieces.err")"
pieces=$((pieces + 1))
timeout 60 "$SLUICE" cdc "${hosts[@]}" --from "$created" --endpos "$end" >"$TEST_TMP/whole.out" ||
	fail "the uninterrupted stream failed"
expect_eq "$(grep -c '"op":"insert"' "$TEST_TMP/whole.out")" 301 "inserts in the uninterrupted stream"

# Each piece must start with the first transaction of the whole stream at
# or after its start position; cut where the next one starts, the pieces
# make the whole stream.
python3 - "$TEST_TMP" "$pieces" "${starts[@]}" <<'PY' || fail "the resumed stream is not the uninterrupted one"
import json, sys
tmp, n, starts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def num(lsn):
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)
def transactions(path):
    txns, cur = [], []
    for line in open(path, "rb").read().split(b"\n")[:-1]:
        cur.append(line + b"\n")
        if line.startswith(b'{"event":"commit"'):
            txns.append((num(json.loads(line)["lsn"]), b"".join(cur)))
            cur = []
    return txns  # a transaction cut short by the kill is left out
whole = transactions(tmp + "/whole.out")
out, dups = [], 0
for k in range(n):
    txns = transactions("%s/piece%d.out" % (tmp, k))
    start = num(starts[k])
    stop = num(starts[k + 1]) if k + 1 < n else None
    expect = [t for t in whole if t[0] >= start]
    if txns and expect and txns[0][0] != expect[0][0]:
        sys.exit("piece %d starts at %x, want the first transaction at or after %s (%x)"
                 % (k, txns[0][0], starts[k], expect[0][0]))
    kept = [t for t in txns if stop is None or t[0] < stop]
    dups += len(txns) - len(kept)
    out += kept
if [t[1] for t in out] != [t[1] for t in whole]:
    got = {t[0] for t in out}
    missing = [hex(t[0]) for t in whole if t[0] not in got][:3]
    sys.exit("%d transactions assembled, %d in the whole stream; missing %s" % (len(out), len(whole), missing))
print("%d pieces, %d transactions, %d written again after a kill" % (n, len(out), dups), file=sys.stderr)
PY
log "a consumer killed $((pieces - 1)) times across a switchover and a failover resumed with its slot: the same stream"

# ------------------------------------------------------------ after it all
lead=""
for _ in $(seq 1 30); do
	lead=$(stable_leader) && break
done
[ -n "$lead" ] || fail "no stable leader"
pos=$(q "$lead" "SELECT confirmed_lsn FROM sluice_slots WHERE slot_name = 's1'")
expect_eq "$(q "$lead" "SELECT lag_bytes FROM sluice_slots WHERE slot_name = 's1'")" 0 \
	"s1's lag after the last piece (--endpos $end, at $pos)"
for n in n1 n2 n3; do
	wait_until "[ \"\$(status_try $n \"SELECT confirmed_lsn FROM sluice_slots WHERE slot_name = 's1'\")\" = $pos ]" 30 ||
		fail "$n does not hold slot s1 at $pos: $(status_try "$n" "SELECT * FROM sluice_slots")"
done
q "$lead" "INSERT INTO accounts VALUES (1000, 1)" >/dev/null
row=$(q "$lead" "SELECT lag_bytes > 0, lag_seconds >= 0, lost FROM sluice_slots WHERE slot_name = 's1'")
expect_eq "$row" "1|1|f" "s1 behind one insert: lag in bytes and seconds, lost"
"$SLUICE" cdc "${hosts[@]}" --slot s1 >"$TEST_TMP/tail.out" 2>&1 &
tail_pid=$!
bg_track "$tail_pid"
wait_until "[ \"\$(status_try $lead \"SELECT lag_bytes, active FROM sluice_slots WHERE slot_name = 's1'\")\" = '0|t' ]" 30 ||
	fail "s1 with its consumer tailing: $(status_try "$lead" "SELECT * FROM sluice_slots")"
expect_match "$(cat "$TEST_TMP/tail.out")" '"after":\{"id":1000,"balance":1\}' "the tailing consumer's output"
kill -TERM "$tail_pid"
rc=0
wait "$tail_pid" || rc=$?
expect_eq "$rc" 0 "sluice cdc --slot exit status after SIGTERM"
out=$("$SLUICE" slot drop s1 --host "$all_hosts") || fail "sluice slot drop s1 failed: $out"
expect_eq "$out" "slot s1 dropped" "sluice slot drop s1"
for n in n1 n2 n3; do
	wait_until "[ \"\$(status_try $n \"SELECT count(*) FROM sluice_slots\")\" = 0 ]" 30 ||
		fail "$n still holds a slot after the drop: $(status_try "$n" "SELECT * FROM sluice_slots")"
done
rc=0
err=$("$SLUICE" cdc "${hosts[@]}" --slot s1 2>&1 >/dev/null) || rc=$?
expect_eq "$rc" 1 "exit status of sluice cdc --slot s1 after the drop"
expect_match "$err" '"s1" does not exist' "sluice cdc --slot s1 after the drop"

# --------------------------------- pg_recvlogical across a switchover
# PostgreSQL's client, given every member with target_session_attrs, on a
# test_decoding slot (status every second): when the leader moves it is
# cut off, reconnects to the new leader and goes on from the slot there.
pg_dsn="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(node_port n1),$(node_port n2),$(node_port n3) user=sluice dbname=sluice target_session_attrs=read-write"
pg_recvlogical -d "$pg_dsn" --slot pg1 --create-slot -P test_decoding || fail "pg_recvlogical --create-slot (multi-host)"
pg_recvlogical -d "$pg_dsn" --slot pg1 --start -s 1 -f "$TEST_TMP/pg1.out" 2>"$TEST_TMP/pg1.err" &
recv_pid=$!
bg_track "$recv_pid"
for id in $(seq 5001 5020); do w "INSERT INTO accounts VALUES ($id, 1) ON CONFLICT DO NOTHING"; done
wait_until "grep -q 'id\[integer\]:5020 ' '$TEST_TMP/pg1.out'" 30 || fail "pg_recvlogical did not stream: $(tail -n 3 "$TEST_TMP/pg1.err")"
target=""
for n in n1 n2 n3; do [ "$n" = "$lead" ] || target=$n; done
log "switchover to $target under pg_recvlogical"
out=$("$SLUICE" promote "$target" --host "$all_hosts" 2>&1) || fail "switchover failed: $out"
for id in $(seq 5021 5040); do w "INSERT INTO accounts VALUES ($id, 1) ON CONFLICT DO NOTHING"; done
wait_until "grep -q 'id\[integer\]:5040 ' '$TEST_TMP/pg1.out'" 60 ||
	fail "pg_recvlogical did not go on after the switchover: $(tail -n 3 "$TEST_TMP/pg1.err")"
kill -INT "$recv_pid"
wait "$recv_pid" || true
missing=""
for id in $(seq 5001 5040); do grep -q "id\[integer\]:$id " "$TEST_TMP/pg1.out" || missing+=" $id"; done
[ -z "$missing" ] || fail "pg_recvlogical's stream lost rows across the switchover:$missing"
grep -q 'disconnected' "$TEST_TMP/pg1.err" || fail "pg_recvlogical was not cut off by the switchover: $(cat "$TEST_TMP/pg1.err")"
expect_eq "$(wq "SELECT node_name FROM sluice_status")" "$target" "the leader after the switchover"
wq "SELECT sluice_slot_drop('pg1')" >/dev/null
log "pg_recvlogical followed the switchover with its slot: $(grep -c '^table ' "$TEST_TMP/pg1.out") rows for 40 inserts"

# ------------------------------------------------ retention, lost, refusals
# 1 MB segments, nothing kept beyond need; 600 kB rows
leader_start r1 --log_mode=logical --log_segment_size=1MB --log_keep_size=0 --max_slot_lag=4MB \
	--checkpoint_wal_size=1MB
q r1 "CREATE TABLE big(id INTEGER PRIMARY KEY, v BLOB)" >/dev/null
q r1 "SELECT sluice_slot_create('keeper')" >/dev/null
kept=$(q r1 "SELECT confirmed_lsn FROM sluice_slots WHERE slot_name = 'keeper'")
segments() { find "$(node_dir r1)/data/log" -maxdepth 1 -type f -name '[0-9A-F]*' | grep -c '' || true; }
for i in 1 2 3 4; do
	q r1 "INSERT INTO big VALUES ($i, randomblob(600000))" >/dev/null
	q r1 "CHECKPOINT" >/dev/null
done
expect_eq "$(q r1 "SELECT lost FROM sluice_slots WHERE slot_name = 'keeper'")" f "keeper after 2.4 MB"
n=$(q r1 "SELECT count(*) FROM sluice_changes('$kept') WHERE data LIKE '%\"op\":\"insert\"%'")
expect_eq "$n" 4 "inserts still read from keeper's position after checkpoints"
kept_segments=$(segments)
[ "$kept_segments" -ge 3 ] || fail "only $kept_segments log segments kept for the slot"
for i in 5 6 7 8 9 10; do
	q r1 "INSERT INTO big VALUES ($i, randomblob(600000))" >/dev/null
	q r1 "CHECKPOINT" >/dev/null
done
expect_eq "$(q r1 "SELECT lost FROM sluice_slots WHERE slot_name = 'keeper'")" t "keeper 6 MB behind (max_slot_lag = 4MB)"
out=$("$SLUICE" slot list keeper --host "127.0.0.1:$(node_port r1)")
expect_match "$out" 'keeper .* yes$' "sluice slot list of a lost slot"
rc=0
err=$("$SLUICE" cdc --host "127.0.0.1:$(node_port r1)" --slot keeper 2>&1 >/dev/null) || rc=$?
expect_eq "$rc" 1 "exit status of sluice cdc --slot on a lost slot"
expect_match "$err" '"keeper" is lost' "sluice cdc --slot on a lost slot"
expect_sqlstate r1 "SELECT sluice_slot_confirm('keeper', sluice_current_lsn())" 55000
q r1 "INSERT INTO big VALUES (11, randomblob(600000))" >/dev/null
q r1 "CHECKPOINT" >/dev/null
now_segments=$(segments)
[ "$now_segments" -le 3 ] || fail "$now_segments log segments kept after the slot was lost (want at most 3)"
log "a lost slot holds nothing back: $kept_segments segments before, $now_segments after"
q r1 "SELECT sluice_slot_drop('keeper')" >/dev/null

expect_sqlstate r1 "INSERT INTO sluice_slot_state VALUES ('x', 'sluice', 0, 0, 0)" 42501
expect_sqlstate r1 "DROP TABLE sluice_slot_state" 42501
expect_sqlstate r1 "BEGIN; SELECT sluice_slot_create('inblock'); COMMIT" 25001
expect_eq "$(q r1 "SELECT count(*) FROM sluice_slots")" 0 "slots after the refusals"
out=$(q r1 "SELECT sluice_slot_create('p1')")
expect_sqlstate r1 "SELECT sluice_slot_confirm('p1', 'nonsense')" 22P02
expect_sqlstate r1 "SELECT sluice_slot_confirm('p1', '7F/0')" 22023

leader_start ph --log_mode=physical
expect_sqlstate ph "SELECT sluice_slot_create('p')" 0A000
log "PASS"
