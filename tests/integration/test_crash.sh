#!/bin/bash
# test_crash.sh — no acknowledged write is lost across kill -9.
#
# 51 cycles (201 with SLUICE_LONG=1 or SLUICE_LONG_TESTS=1), spread over
# three leaders that keep their data directories across cycles, one per
# log_mode (physical, logical, both), with 1 MB log segments and a 1 MB
# checkpoint_wal_size. Each cycle: four ackwriter clients
# (tests/integration/ackwriter.c) insert (client, seq) rows one autocommit
# INSERT at a time and print a seq only after the server acknowledged it;
# after a random 100-600 ms the leader gets SIGKILL. Then it is restarted
# on the same directory (start-up must succeed every time: recovery replays
# the log into the database where the database is behind) and:
#   - every acknowledged (client, seq) of the cycle is in acks;
#   - at most one row per client beyond the acknowledged ones (the INSERT in
#     flight at the kill may or may not have committed; nothing else);
#   - PRAGMA integrity_check, run through the server, says ok.
# At the end every acknowledged row of every cycle is checked again, each
# leader is stopped cleanly, and its log is replayed onto a new database
# (`sluice log replay`: --mode physical for physical and both, which must
# give the leader's file byte for byte; --mode logical for logical and both,
# which must give the same content by dbsum). One summary line: cycles,
# acknowledged rows, lost rows (must be 0).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${ACKWRITER:?ACKWRITER must name tests/integration/ackwriter}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"

if [ "${SLUICE_LONG:-${SLUICE_LONG_TESTS:-0}}" = 1 ]; then
	cycles=201
	time_limit=900
else
	cycles=51
	time_limit=240
fi
writers=4
modes=(physical logical both)
LEADER_OPTS=(--log_segment_size=1MB --checkpoint_wal_size=1MB --log_keep_size=64GB --max_log_size=0)
SEQ_STRIDE=1000000 # cycle c, client w: seqs from c * SEQ_STRIDE

test_start=$(now_ms)
total_acked=0
total_lost=0
total_extra=0
recoveries=0
ranges=() # "node client lo hi" of every cycle's acknowledged seqs

ack_table="CREATE TABLE IF NOT EXISTS acks (client INTEGER, seq INTEGER, PRIMARY KEY (client, seq))"
for m in "${modes[@]}"; do
	node_start "crash-$m" --log_mode="$m" "${LEADER_OPTS[@]}"
	q "crash-$m" "$ack_table" >/dev/null
done

for ((cycle = 1; cycle <= cycles; cycle++)); do
	elapsed=$(($(now_ms) - test_start))
	[ "$elapsed" -lt $((time_limit * 1000)) ] ||
		fail "cycle $cycle: over the ${time_limit}s limit after $((cycle - 1)) cycles"
	m=${modes[$((cycle % 3))]}
	n=crash-$m
	conninfo=$(node_conninfo "$n")
	pids=()
	for ((w = 1; w <= writers; w++)); do
		"$ACKWRITER" "$conninfo" "$w" $((cycle * SEQ_STRIDE)) >"$TEST_TMP/ack.$cycle.$w" 2>"$TEST_TMP/ack.$cycle.$w.err" &
		pids+=($!)
		bg_track $!
	done
	delay=$((100 + RANDOM % 501))
	sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
	node_kill "$n"
	for ((w = 1; w <= writers; w++)); do
		rc=0
		wait_pid_exit "${pids[$((w - 1))]}" 15 || rc=$?
		# 2: the connection broke (the kill); 1: it could not connect (the
		# kill came first). An ERROR with the connection up (3) or a hang is
		# wrong.
		case $rc in
		1 | 2) ;;
		124) fail "cycle $cycle: ackwriter $w still running 15 s after the kill" ;;
		*) fail "cycle $cycle: ackwriter $w exited $rc: $(cat "$TEST_TMP/ack.$cycle.$w.err")" ;;
		esac
	done

	# Restart on the same directory; it must come up every time.
	node_start "$n" --log_mode="$m" "${LEADER_OPTS[@]}"

	# Each client's acknowledged seqs are lo..hi, in order, with no gap.
	values=""
	cycle_acked=0
	for ((w = 1; w <= writers; w++)); do
		f=$TEST_TMP/ack.$cycle.$w
		k=$(grep -c '' "$f" || true)
		lo=$((cycle * SEQ_STRIDE))
		hi=$((lo + k - 1))
		if [ "$k" -gt 0 ]; then
			[ "$(head -n 1 "$f")" = "$lo" ] && [ "$(tail -n 1 "$f")" = "$hi" ] ||
				fail "cycle $cycle: ackwriter $w printed an unexpected sequence: $(head -n 3 "$f" | tr '\n' ' ')... $(tail -n 1 "$f")"
			ranges+=("$n $w $lo $hi")
		fi
		cycle_acked=$((cycle_acked + k))
		values+="${values:+, }($w, $lo, $hi)"
	done
	# Per client: acknowledged rows present, and rows beyond them (at most
	# the one INSERT in flight at the kill).
	out=$(q "$n" "SELECT c, (SELECT count(*) FROM acks WHERE client = c AND seq BETWEEN lo AND hi),
		hi - lo + 1,
		(SELECT count(*) FROM acks WHERE client = c AND seq > hi AND seq < lo + $SEQ_STRIDE)
		FROM (SELECT column1 AS c, column2 AS lo, column3 AS hi FROM (VALUES $values)) ORDER BY c")
	while IFS='|' read -r c have want extra; do
		if [ "$have" != "$want" ]; then
			total_lost=$((total_lost + want - have))
			fail "cycle $cycle ($m): client $c: $((want - have)) of $want acknowledged rows missing after the restart"
		fi
		[ "$extra" -le 1 ] || fail "cycle $cycle ($m): client $c: $extra rows beyond the last acknowledged one (at most 1 was in flight)"
		total_extra=$((total_extra + extra))
	done <<<"$out"
	total_acked=$((total_acked + cycle_acked))
	expect_eq "$(q "$n" "PRAGMA integrity_check")" "ok" "cycle $cycle ($m): integrity_check after the restart"
	# Did start-up have to replay the log (the kill fell between the log and
	# the database)?
	if tac "$(node_log "$n")" | sed '/^=== /q' | grep -q 'replayed the log into the database'; then
		recoveries=$((recoveries + 1))
	fi
	log "cycle $cycle ($m): killed after $delay ms, $cycle_acked acknowledged, all present"
done

# ---- every acknowledged row of every cycle, then clean stops and replays
for m in "${modes[@]}"; do
	n=crash-$m
	values=""
	want=0
	for r in "${ranges[@]}"; do
		read -r rn c lo hi <<<"$r"
		[ "$rn" = "$n" ] || continue
		values+="${values:+, }($c, $lo, $hi)"
		want=$((want + hi - lo + 1))
	done
	if [ -n "$values" ]; then
		have=$(q "$n" "SELECT sum((SELECT count(*) FROM acks WHERE client = c AND seq BETWEEN lo AND hi))
			FROM (SELECT column1 AS c, column2 AS lo, column3 AS hi FROM (VALUES $values))")
		[ "$have" = "$want" ] || {
			total_lost=$((total_lost + want - have))
			fail "$n: $((want - have)) of $want acknowledged rows missing at the end"
		}
	fi
	expect_eq "$(q "$n" "PRAGMA integrity_check")" "ok" "$n: integrity_check at the end"
	node_stop "$n"
	dir=$(node_dir "$n")/data
	want=$("$DBSUM" "$dir/sluice.db")
	for rmode in physical logical; do
		[ "$m" = both ] || [ "$m" = "$rmode" ] || continue
		out=$TEST_TMP/$n.$rmode.db
		rc=0
		timeout -k 5 120 "$SLUICE" log replay "$dir" "$out" --mode "$rmode" >"$out.txt" 2>&1 || rc=$?
		[ "$rc" = 0 ] || fail "$n: sluice log replay --mode $rmode exited $rc: $(tail -n 5 "$out.txt")"
		! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$out.txt" ||
			fail "$n: sluice log replay: sanitizer report: $(head -n 5 "$out.txt")"
		got=$("$DBSUM" "$out")
		[ "$got" = "$want" ] || fail "$n: $rmode replay of the log differs from the leader's database (dbsum $got, want $want)"
		if [ "$rmode" = physical ]; then
			cmp -s "$out" "$dir/sluice.db" ||
				fail "$n: physical replay is not byte-identical to the leader's sluice.db: $(cmp "$out" "$dir/sluice.db" 2>&1 | head -n 1)"
		fi
		log "$n: $rmode replay matches the leader ($(cat "$out.txt"))"
		rm -f "$out"
	done
done

log "summary: cycles=$cycles acknowledged=$total_acked lost=$total_lost in_flight_committed=$total_extra recoveries_that_replayed=$recoveries time=$((($(now_ms) - test_start) / 1000))s"
[ "$total_lost" = 0 ] || fail "$total_lost acknowledged rows lost"
