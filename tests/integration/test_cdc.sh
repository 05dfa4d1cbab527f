#!/bin/bash
# test_cdc.sh — `sluice cdc` and sluice_changes: the change stream is exact,
# in both formats, and follows the leader.
#
# Three members (log_mode = logical, ANY 1 synchronous standby). Three
# `sluice cdc` consumers start before any write, from 0/0, given every
# node's address: json, debezium, and json of one table (--tables); two
# more start with --snapshot (json, debezium) while writes go on. A
# workload writes every kind of value (integers to 2^62, reals,
# text with quotes, newlines and non-ASCII, blobs empty and binary, NULL),
# in autocommit and in explicit transactions, updates some columns and a
# primary key, deletes, on rowid and WITHOUT ROWID tables with composite
# keys; a rolled-back transaction and a failed INSERT leave marks that
# must never appear. Halfway the leader is switched over (`sluice promote`)
# and later killed (-9); the consumers must go on from the new leaders by
# themselves. Then:
#   - each stream, applied to an empty database by cdc_apply.py (a
#     consumer: DDL as given, a row event must touch exactly one row),
#     gives the leader's content exactly (dbsum), the one-table stream
#     that table's rows; every transaction comes once, whole, in LSN order,
#     its commit counting its rows; a snapshot's events are all at one
#     LSN, and the stream after it starts there (no gap, no duplicate);
#   - a consumer killed (-9) at random moments while writes go on, and
#     resumed from the next_lsn of the last whole commit it wrote, prints
#     byte for byte the stream of one uninterrupted run;
#   - SIGTERM ends a consumer with status 0;
#   - without --from the stream starts at the leader's end of log; with
#     --endpos it stops by itself;
#   - sluice_changes and sluice_changes_snapshot refuse: on a follower
#     (55000), a position that is not a record (22023), an unknown format
#     (22023), a bad LSN (22P02), and a leader whose log has page images
#     only (0A000), where `sluice cdc` exits 1 with that error; a wrong
#     command line exits 2.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

APPLY=$TOP_SRCDIR/tests/integration/cdc_apply.py

read -r p1 p2 p3 < <(free_ports 3)
PEERS="n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3"
COMMON=("--peers=$PEERS" "--cluster_secret=$REPL_SECRET" "--synchronous_standbys=ANY 1 (n1, n2, n3)"
	--log_mode=logical)
members_start n1 n2 n3 -- "${COMMON[@]}"

source "$TOP_SRCDIR/tests/integration/cdc_lib.sh"
cdc_cluster_init

declare -A CDC_PID
cdc_start() {
	local name=$1
	shift
	"$SLUICE" cdc "${hosts[@]}" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
	CDC_PID[$name]=$!
	bg_track "${CDC_PID[$name]}"
}

cdc_start all --from 0/0
cdc_start debezium --from 0/0 --format debezium
cdc_start accounts --from 0/0 --tables=accounts

# ------------------------------------------------------------- workload
batch() { # batch N: writes of every kind, their keys offset by N
	local n=$1
	w "INSERT INTO items(id, name, price, data, note) VALUES
		($n + 1, 'plain', 1.5, x'00ff10', NULL),
		($n + 2, 'it''s \"quoted\"' || char(10) || 'and a newline, ünïcode ✓', -0.1, x'', 'n'),
		($n + 3, '', 1e300, NULL, 'big'),
		($n + 4, 'ints', 4611686018427387904, x'deadbeef', -9223372036854775808)"
	w "BEGIN; INSERT INTO pairs VALUES ($n, 'a', 1), ($n, 'b', 2);
		UPDATE items SET price = price * 2, note = 'doubled' WHERE id = $n + 1;
		INSERT INTO accounts VALUES ($n + 1, 100), ($n + 2, 200); COMMIT"
	w "UPDATE items SET id = $n + 90 WHERE id = $n + 3"
	w "BEGIN; UPDATE accounts SET balance = balance - 30 WHERE id = $n + 1;
		UPDATE accounts SET balance = balance + 30 WHERE id = $n + 2; COMMIT"
	w "DELETE FROM items WHERE id = $n + 2"
	w "UPDATE pairs SET v = NULL WHERE a = $n AND b = 'b'"
	w "DELETE FROM pairs WHERE a = $n AND b = 'a'"
	# never committed: neither may appear in any stream
	w "BEGIN; INSERT INTO items(id, name) VALUES ($n + 50, 'rolled-back-mark'); ROLLBACK"
	psql "$rw_conninfo" -c "INSERT INTO items(id, name) VALUES ($n + 4, 'failed-insert-mark')" >/dev/null 2>&1 &&
		fail "an INSERT of an existing key succeeded"
	return 0
}

w "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, data BLOB, note)"
w "CREATE TABLE pairs(a INTEGER, b TEXT, v INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID"
w "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"
batch 0
# two consumers start with a snapshot while a batch is being written
batch 1000 &
batch_pid=$!
sleep 0.3
cdc_start snapshot --snapshot
sleep 0.3
cdc_start dbz_snapshot --snapshot --format debezium
wait "$batch_pid" || fail "batch 1000 failed"
w "CREATE INDEX items_name ON items(name)"
w "ALTER TABLE items ADD COLUMN added TEXT"
w "UPDATE items SET added = 'x' WHERE id % 2 = 0"
batch 2000

log "switchover to n2"
out=$("$SLUICE" promote n2 --host "127.0.0.1:$(node_port n1),127.0.0.1:$(node_port n2),127.0.0.1:$(node_port n3)" 2>&1) ||
	fail "switchover failed: $out"
batch 3000

old=$(leader) || fail "no leader after the switchover"
log "kill -9 of the leader $old"
node_kill_hard "$old"
batch 4000
new=$(leader) || fail "no leader after the failover"
log "$new leads"
batch 5000
# the last record then has a row for every stream (a failed INSERT may leave
# an empty transaction, which no stream shows)
w "INSERT INTO accounts VALUES (8000, 0)"

# ------------------------------------------------------------ the streams
end=$(q "$new" "SELECT sluice_current_lsn()")
last_next() { grep -o '"next_lsn":"[0-9A-F]*/[0-9A-F]*"' "$TEST_TMP/$1.out" | tail -n 1 | cut -d'"' -f4; }
for name in all debezium accounts snapshot dbz_snapshot; do
	wait_until "l=\$(last_next $name); [ -n \"\$l\" ] && [ \$(lsn_num \$l) -ge $(lsn_num "$end") ]" 60 ||
		fail "$name: the stream did not reach $end (last commit's next_lsn: $(last_next "$name"));
$(tail -n 5 "$TEST_TMP/$name.err")"
	kill -TERM "${CDC_PID[$name]}"
	rc=0
	wait "${CDC_PID[$name]}" || rc=$?
	expect_eq "$rc" 0 "$name: exit status after SIGTERM"
	log "$name: $(wc -l <"$TEST_TMP/$name.out") lines"
done

for name in all debezium accounts snapshot dbz_snapshot; do
	grep -q 'mark' "$TEST_TMP/$name.out" && fail "$name: a rolled-back or failed write is in the stream:
$(grep 'mark' "$TEST_TMP/$name.out" | head -n 3)"
done

node_stop "$new"
want=$("$DBSUM" "$(node_dir "$new")/data/sluice.db")
for fmt in all debezium snapshot dbz_snapshot; do
	format=json
	[ "$fmt" = debezium ] || [ "$fmt" = dbz_snapshot ] && format=debezium
	res=$(python3 "$APPLY" "$format" "$TEST_TMP/$fmt.out" "$TEST_TMP/$fmt.db" 2>&1) || fail "$fmt: $res"
	log "$fmt stream applied: $res"
	got=$("$DBSUM" "$TEST_TMP/$fmt.db")
	expect_eq "$got" "$want" "$fmt: the applied stream's content (dbsum) against the leader's"
done

res=$(python3 "$APPLY" json "$TEST_TMP/accounts.out" "$TEST_TMP/accounts.db" 2>&1) || fail "accounts: $res"
log "accounts stream applied: $res"
tables=$(grep -o '"table":"[a-z]*"' "$TEST_TMP/accounts.out" | sort -u)
expect_eq "$tables" '"table":"accounts"' "tables in the --tables=accounts stream"
got=$(sqlite3 "$TEST_TMP/accounts.db" "SELECT group_concat(id || ':' || balance, ' ') FROM (SELECT * FROM accounts ORDER BY id)")
expected=$(sqlite3 "$(node_dir "$new")/data/sluice.db" "SELECT group_concat(id || ':' || balance, ' ') FROM (SELECT * FROM accounts ORDER BY id)")
expect_eq "$got" "$expected" "accounts applied from the --tables=accounts stream"

# ------------------------------------------ start at the end, stop at endpos
node_start "$new" --role=follower "--node_name=$new" "${COMMON[@]}"
node_start "$old" --role=follower "--node_name=$old" "${COMMON[@]}"
lead=""
for _ in $(seq 1 30); do
	lead=$(stable_leader) && break
done
[ -n "$lead" ] || fail "no stable leader after the restarts"
start=$(q "$lead" "SELECT sluice_current_lsn()")
q "$lead" "INSERT INTO accounts VALUES (9001, 1)" >/dev/null
stop=$(q "$lead" "SELECT sluice_current_lsn()")
q "$lead" "INSERT INTO accounts VALUES (9002, 2)" >/dev/null
out=$(timeout 30 "$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --from "$start" --endpos "$stop") ||
	fail "sluice cdc --endpos did not stop by itself"
expect_eq "$(grep -c '"op":"insert"' <<<"$out")" 1 "row events from $start to $stop"
expect_match "$out" '"after":\{"id":9001,"balance":1\}' "the event from $start"
"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" >"$TEST_TMP/tail.out" 2>&1 &
tail_pid=$!
bg_track "$tail_pid"
# the tail starts when it has found the leader: insert until it shows a row
for id in $(seq 9003 9040); do
	q "$lead" "INSERT INTO accounts VALUES ($id, 3)" >/dev/null
	sleep 0.5
	grep -q '"event":"commit"' "$TEST_TMP/tail.out" && break
done
grep -q '"event":"commit"' "$TEST_TMP/tail.out" || fail "no event in a stream with no --from"
kill -TERM "$tail_pid"
wait "$tail_pid" || true
grep -qE '"id":900[12]' "$TEST_TMP/tail.out" &&
	fail "a stream with no --from shows rows written before it started: $(head -n 5 "$TEST_TMP/tail.out")"

# ------------------------------------------- a consumer killed and resumed
# While inserts go on, `sluice cdc` is killed (-9) at random moments and
# started again from the next_lsn of the last whole commit it wrote (what a
# consumer keeps with its output). The pieces, cut there, must be byte for
# byte one uninterrupted stream over the same LSNs: no gap, no duplicate.
begin_at=$(q "$lead" "SELECT sluice_current_lsn()")
# 300 single-row commits from one session, about 20 ms apart
for i in $(seq 1 300); do
	printf 'INSERT INTO accounts(balance) VALUES (%d);\n\\! sleep 0.02\n' "$i"
done >"$TEST_TMP/inserts.sql"
psql_to "$lead" -q -v ON_ERROR_STOP=1 -f "$TEST_TMP/inserts.sql" >/dev/null &
writer=$!
bg_track "$writer"
# keep_whole FILE: prints the lines up to the last whole commit, then (on
# stderr) that commit's next_lsn
keep_whole() {
	python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")[:-1]  # the last piece has no newline: cut short
keep = 0
for i, line in enumerate(lines):
    if line.startswith(b"{\"event\":\"commit\""):
        keep, pos = i + 1, json.loads(line)["next_lsn"]
sys.stdout.buffer.write(b"".join(l + b"\n" for l in lines[:keep]))
if keep:
    sys.stderr.write(pos)
' "$1"
}
pos=$begin_at
kills=0
: >"$TEST_TMP/resumed.out"
while proc_alive "$writer"; do
	"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --from "$pos" >"$TEST_TMP/piece.out" 2>/dev/null &
	piece=$!
	sleep "0.$((RANDOM % 5 + 1))"
	kill -KILL "$piece" 2>/dev/null && kills=$((kills + 1))
	wait "$piece" 2>/dev/null || true
	next=$(keep_whole "$TEST_TMP/piece.out" 2>&1 >>"$TEST_TMP/resumed.out")
	[ -n "$next" ] && pos=$next
done
wait "$writer" || fail "the inserts while the consumer was killed failed"
end_at=$(q "$lead" "SELECT sluice_current_lsn()")
timeout 30 "$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --from "$pos" --endpos "$end_at" \
	>>"$TEST_TMP/resumed.out" || fail "the last piece of the resumed stream failed"
timeout 30 "$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --from "$begin_at" --endpos "$end_at" \
	>"$TEST_TMP/whole.out" || fail "the uninterrupted stream failed"
expect_eq "$(grep -c '"op":"insert"' "$TEST_TMP/whole.out")" 300 "inserts in the uninterrupted stream"
cmp -s "$TEST_TMP/resumed.out" "$TEST_TMP/whole.out" ||
	fail "the stream resumed after $kills kills differs from the uninterrupted one: $(diff "$TEST_TMP/resumed.out" "$TEST_TMP/whole.out" | head -n 4)"
log "a consumer killed $kills times and resumed: the same stream, byte for byte"

# ------------------------------------------------------------- refusals
follower=
for n in n1 n2 n3; do
	if [ "$n" != "$lead" ] && proc_alive "$(node_pid "$n")"; then follower=$n; fi
done
[ -n "$follower" ] || fail "no follower running"
expect_sqlstate "$follower" "SELECT * FROM sluice_changes('0/0')" 55000
expect_sqlstate "$follower" "SELECT * FROM sluice_changes_snapshot()" 55000
expect_sqlstate "$lead" "SELECT * FROM sluice_changes_snapshot('avro')" 22023
first=$(q "$lead" "SELECT lsn FROM sluice_changes('0/0') LIMIT 1") # a record's start; one past it is inside
expect_sqlstate "$lead" "SELECT * FROM sluice_changes('${first%/*}/$(printf '%X' $((16#${first#*/} + 1)))')" 22023
expect_sqlstate "$lead" "SELECT * FROM sluice_changes('0/0', 10, 'avro')" 22023
expect_sqlstate "$lead" "SELECT * FROM sluice_changes('0/0', 0)" 22023
expect_sqlstate "$lead" "SELECT * FROM sluice_changes('nonsense')" 22P02
expect_sqlstate "$lead" "SELECT * FROM sluice_changes" 22023
rc=0
"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --format avro 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of sluice cdc --format avro"
rc=0
"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --tables 'a,,b' 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of sluice cdc --tables 'a,,b'"
rc=0
"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --snapshot --from 0/0 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of sluice cdc --snapshot --from 0/0"
rc=0
"$SLUICE" cdc --host "127.0.0.1:$(node_port "$lead")" --json 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of sluice cdc --json (an option of another command)"
# nothing lies before --endpos: it prints nothing and exits 0 without asking anyone
out=$(timeout 10 "$SLUICE" cdc --host 127.0.0.1:1 --from 0/100 --endpos 0/100) ||
	fail "sluice cdc --from 0/100 --endpos 0/100 did not exit 0"
expect_eq "$out" "" "output of sluice cdc --from 0/100 --endpos 0/100"

leader_start p1 --log_mode=physical
q p1 "CREATE TABLE t(k INTEGER PRIMARY KEY)" >/dev/null
expect_sqlstate p1 "SELECT * FROM sluice_changes('0/0')" 0A000
expect_sqlstate p1 "SELECT * FROM sluice_changes_snapshot()" 0A000
rc=0
err=$("$SLUICE" cdc --host "127.0.0.1:$(node_port p1)" --from 0/0 2>&1 >/dev/null) || rc=$?
expect_eq "$rc" 1 "exit status of sluice cdc on a physical log"
expect_match "$err" "0A000.*log_mode = logical" "sluice cdc on a physical log"
log "PASS"
