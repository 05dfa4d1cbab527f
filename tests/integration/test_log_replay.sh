#!/bin/bash
# test_log_replay.sh — the replication log holds exactly what the leader
# committed: replaying it onto an empty database gives the leader's
# database again.
#
# For each log_mode (physical, logical, both) and several seeds (4 per mode,
# 20 with SLUICE_LONG=1 or SLUICE_LONG_TESTS=1), a fresh leader with 1 MB
# log segments and a 1 MB checkpoint_wal_size (so that segments roll over
# and the WAL starts over many times) runs two concurrent seeded random
# workloads (tests/integration/workload.c) on disjoint tables; then it is
# stopped cleanly (SIGTERM, exit 0) and:
#   - physical and both: `sluice log replay --mode physical` onto a new file
#     must give the leader's sluice.db byte for byte (`cmp`): after a clean
#     stop the database file is checkpointed and complete, and the log's
#     page images are exactly the pages SQLite wrote, so nothing may differ;
#   - logical and both: `sluice log replay --mode logical` (DDL and
#     changesets through SQLite) must give the same content (dbsum: schema
#     and rows; the file itself differs in page layout);
#   - `sluice log dump` and `--json` (first seed of each mode) exit 0 and print
#     one line per record with lsn, epoch and type, the LSNs increasing, as
#     many TXN records as the replay applied.
# Then small probes, each on a leader of its own: in logical and both
# modes a write to a table without a PRIMARY KEY, or with generated columns,
# fails with 55000 and writes nothing (also in a block, which it fails); in
# physical mode it works. A
# NULL in a TEXT PRIMARY KEY column (SQLite allows it in rowid tables) must
# reach the logical replay like any other change (or be refused). ALTER
# TABLE ADD COLUMN with a non-NULL DEFAULT is refused with 55000 in logical
# and both, and what is accepted around it replays.
#
# Every failing (mode, seed) is reported, not only the first; the seeds are
# random unless SLUICE_SEED is set, and are printed for replay.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${WORKLOAD:?WORKLOAD must name tests/integration/workload}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"

if [ "${SLUICE_LONG:-${SLUICE_LONG_TESTS:-0}}" = 1 ]; then
	seeds_per_mode=20
	ntxn=250
else
	seeds_per_mode=4
	ntxn=200
fi
base_seed=${SLUICE_SEED:-$((RANDOM * 32768 + RANDOM))}
log "base seed $base_seed (set SLUICE_SEED=$base_seed to run the same again), $seeds_per_mode seeds per mode, $ntxn transactions per client"

LEADER_OPTS=(--log_segment_size=1MB --checkpoint_wal_size=1MB --log_keep_size=64GB --max_log_size=0)
WORKLOAD_TIMEOUT=150
failures=()

# problem TEXT: remember a failure and go on with the next run.
problem() {
	failures+=("$*")
	log "PROBLEM: $*"
}

# tool_run OUTFILE CMD...: run a tool, bounded; stdout to OUTFILE, stderr
# to OUTFILE.err; returns its exit status. Sanitizer reports are failures.
tool_run() {
	local out=$1 rc=0
	shift
	timeout -k 5 120 "$@" >"$out" 2>"$out.err" || rc=$?
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$out.err"; then
		problem "$(basename "$1") $2 $3: sanitizer report: $(head -n 5 "$out.err")"
		[ "$rc" != 0 ] || rc=99
	fi
	return "$rc"
}

# wl_error FILE: the workload's error line (or the end of its output).
wl_error() {
	grep -m 1 -E '^workload:|Sanitizer|runtime error' "$1" || tail -n 3 "$1"
}

# check_dump NODE TXNS: the dump and its JSON form agree with the replay.
check_dump() {
	local n=$1 txns=$2 dir out rc=0 lines jlines
	dir=$(node_dir "$n")/data
	out=$TEST_TMP/$n.dump
	tool_run "$out" "$SLUICE" log dump "$dir" || rc=$?
	if [ "$rc" != 0 ]; then
		problem "$n: sluice log dump exited $rc: $(tail -n 3 "$out.err")"
		return
	fi
	tool_run "$out.json" "$SLUICE" log dump "$dir" --json || rc=$?
	if [ "$rc" != 0 ]; then
		problem "$n: sluice log dump --json exited $rc: $(tail -n 3 "$out.json.err")"
		return
	fi
	lines=$(grep -c '' "$out" || true)
	jlines=$(grep -c '' "$out.json" || true)
	[ "$lines" = "$jlines" ] || problem "$n: log dump printed $lines lines, --json $jlines"
	local bad
	bad=$(grep -vE '^lsn: [0-9A-F]+/[0-9A-F]+, epoch: [0-9]+, type: (TXN|EPOCH), size: [0-9]+' "$out" | head -n 3) || true
	[ -z "$bad" ] || problem "$n: log dump lines without lsn/epoch/type/size: $bad"
	local got
	got=$(grep -c 'type: TXN' "$out" || true)
	[ "$got" = "$txns" ] || problem "$n: log dump shows $got TXN records, replay applied $txns"
	got=$(grep -c 'type: EPOCH' "$out" || true)
	[ "$got" -ge 1 ] || problem "$n: log dump shows no EPOCH record"
	# JSON: every line an object with lsn, epoch, type; LSNs increasing and
	# the same as the text dump's.
	local jerr
	jerr=$(python3 - "$out" "$out.json" <<'EOF' 2>&1
import json, re, sys
text = [l.rstrip("\n") for l in open(sys.argv[1])]
objs = []
for i, l in enumerate(open(sys.argv[2]), 1):
    try:
        o = json.loads(l)
    except ValueError as e:
        sys.exit("json line %d does not parse: %s: %.200s" % (i, e, l))
    for k in ("lsn", "epoch", "type", "size"):
        if k not in o:
            sys.exit("json line %d has no %s: %.200s" % (i, k, l))
    if o["type"] == "TXN" and not ("pages" in o or "changesets" in o):
        sys.exit("json TXN line %d has neither pages nor changesets: %.200s" % (i, l))
    objs.append(o)
def lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)
prev = -1
for i, o in enumerate(objs):
    v = lsn(o["lsn"])
    if v <= prev:
        sys.exit("json LSNs not increasing at line %d: %s" % (i + 1, o["lsn"]))
    prev = v
    m = re.match(r"lsn: ([0-9A-F]+/[0-9A-F]+), epoch: ([0-9]+), type: ([A-Z]+)", text[i])
    if not m or m.group(1) != o["lsn"] or int(m.group(2)) != o["epoch"] or m.group(3) != o["type"]:
        sys.exit("line %d: text and json differ: %.200s / %.200s" % (i + 1, text[i], json.dumps(o)))
EOF
	) || problem "$n: log dump --json: $jerr"
	# --from the middle record prints the tail.
	local mid from tail_lines
	mid=$(((lines + 1) / 2))
	from=$(sed -n "${mid}p" "$out" | sed -E 's/^lsn: ([0-9A-F]+\/[0-9A-F]+),.*/\1/')
	if tool_run "$out.from" "$SLUICE" log dump "$dir" --from "$from"; then
		tail_lines=$(grep -c '' "$out.from" || true)
		[ "$tail_lines" = $((lines - mid + 1)) ] ||
			problem "$n: log dump --from $from printed $tail_lines lines, want $((lines - mid + 1))"
		cmp -s "$out.from" <(sed -n "$mid,\$p" "$out") || problem "$n: log dump --from $from is not the dump's tail"
	else
		problem "$n: sluice log dump --from $from failed: $(tail -n 3 "$out.from.err")"
	fi
	log "$n: log dump: $lines records ($txns TXN), json and --from agree"
}

# replay_check NODE MODE: replay the stopped node's log with --mode MODE
# onto a new file and compare with the leader's database. Sets REPLAYED to
# the number of records replayed (-1 when the replay failed).
replay_check() {
	local n=$1 mode=$2 dir out rc=0 want got
	dir=$(node_dir "$n")/data
	out=$TEST_TMP/$n.$mode.db
	rm -f "$out"
	tool_run "$out.txt" "$SLUICE" log replay "$dir" "$out" --mode "$mode" || rc=$?
	if [ "$rc" != 0 ]; then
		problem "$n: sluice log replay --mode $mode exited $rc: $(tail -n 3 "$out.txt.err")"
		REPLAYED=-1
		return
	fi
	local count
	count=$(sed -nE 's/^replayed ([0-9]+) records.*/\1/p' "$out.txt")
	[ -n "$count" ] || problem "$n: replay --mode $mode printed no 'replayed N records': $(cat "$out.txt")"
	if [ "$mode" = physical ] && ! cmp -s "$out" "$dir/sluice.db"; then
		problem "$n: physical replay differs from the leader's sluice.db: $(cmp "$out" "$dir/sluice.db" 2>&1 | head -n 1)" \
			"(dbsum $("$DBSUM" "$out" 2>&1) vs $("$DBSUM" "$dir/sluice.db" 2>&1))"
	fi
	want=$("$DBSUM" "$dir/sluice.db" 2>&1) || problem "$n: dbsum of the leader's database failed: $want"
	got=$("$DBSUM" "$out" 2>&1) || problem "$n: dbsum of the $mode replay failed: $got"
	if [ "$want" != "$got" ]; then
		problem "$n: $mode replay content differs from the leader's (dbsum $got, want $want)"
		"$DBSUM" -v "$dir/sluice.db" 2>"$TEST_TMP/$n.leader.tables" >/dev/null || true
		"$DBSUM" -v "$out" 2>"$TEST_TMP/$n.$mode.tables" >/dev/null || true
		diff "$TEST_TMP/$n.leader.tables" "$TEST_TMP/$n.$mode.tables" | head -n 10 >&2 || true
	fi
	rm -f "$out" "$out-wal" "$out-shm" "$out-journal"
	REPLAYED=${count:--1}
}

# ---- replay equivalence under random workloads
for mode in physical logical both; do
	for k in $(seq 1 "$seeds_per_mode"); do
		seed=$((base_seed + k))
		n=${mode}-$seed
		# every other seed compresses its records, so replay reads both kinds
		node_start "$n" --log_mode="$mode" --log_compression=$([ $((k % 2)) -eq 0 ] && echo on || echo off) \
			"${LEADER_OPTS[@]}"
		conninfo=$(node_conninfo "$n")
		wl_opts=()
		[ "$mode" = physical ] || wl_opts+=(--logical)
		start=$(now_ms)
		timeout -k 5 "$WORKLOAD_TIMEOUT" "$WORKLOAD" "$conninfo" "$seed" "$ntxn" "${wl_opts[@]}" >"$TEST_TMP/$n.wl1" 2>&1 &
		p1=$!
		bg_track "$p1"
		timeout -k 5 "$WORKLOAD_TIMEOUT" "$WORKLOAD" "$conninfo" $((seed + 1000000)) "$ntxn" --no-vacuum "${wl_opts[@]}" \
			>"$TEST_TMP/$n.wl2" 2>&1 &
		p2=$!
		bg_track "$p2"
		rc1=0
		rc2=0
		wait_pid_exit "$p1" $((WORKLOAD_TIMEOUT + 10)) || rc1=$?
		wait_pid_exit "$p2" $((WORKLOAD_TIMEOUT + 10)) || rc2=$?
		[ "$rc1" = 0 ] || problem "$n: workload seed $seed failed (exit $rc1): $(wl_error "$TEST_TMP/$n.wl1")"
		[ "$rc2" = 0 ] || problem "$n: workload seed $((seed + 1000000)) failed (exit $rc2): $(wl_error "$TEST_TMP/$n.wl2")"
		log "$n: $(tail -n 1 "$TEST_TMP/$n.wl1"); $(tail -n 1 "$TEST_TMP/$n.wl2"); $(($(now_ms) - start)) ms"
		node_stop "$n"
		segs=$(find "$(node_dir "$n")/data/log" -name '*.seg' | wc -l)
		[ "$segs" -ge 2 ] || problem "$n: only $segs log segment(s): the test wants segment rollovers"
		txns=-1
		if [ "$mode" != logical ]; then
			replay_check "$n" physical
			txns=$REPLAYED
		fi
		if [ "$mode" != physical ]; then
			replay_check "$n" logical
			t2=$REPLAYED
			[ "$txns" = -1 ] || [ "$t2" = -1 ] || [ "$t2" = "$txns" ] ||
				problem "$n: physical replay applied $txns records, logical $t2"
			[ "$txns" != -1 ] || txns=$t2
		fi
		if [ "$k" = 1 ] && [ "$txns" != -1 ]; then
			check_dump "$n" "$txns"
		fi
		log "$n: replayed $txns records, $segs segments; problems so far: ${#failures[@]}"
		rm -rf "$(node_dir "$n")/data"
	done
done

# ---- probes, each on a leader of its own
# A table without a PRIMARY KEY, or with generated columns: 55000 in
# logical and both, nothing written.
for mode in physical logical both; do
	n=nopk-$mode
	node_start "$n" --log_mode="$mode" "${LEADER_OPTS[@]}"
	q "$n" "CREATE TABLE haspk (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
	q "$n" "CREATE TABLE nopk (a INTEGER, b TEXT)" >/dev/null
	q "$n" "CREATE TABLE gen (id INTEGER PRIMARY KEY, g AS (id * 2), s AS (id * 3) STORED)" >/dev/null
	if [ "$mode" = physical ]; then
		expect_eq "$(q "$n" "INSERT INTO nopk VALUES (1, 'x')")" "INSERT 0 1" "physical mode: insert into a table without PK"
		expect_eq "$(q "$n" "UPDATE nopk SET b = 'y'")" "UPDATE 1" "physical mode: update of a table without PK"
		expect_eq "$(q "$n" "INSERT INTO gen(id) VALUES (1)")" "INSERT 0 1" "physical mode: insert into a table with generated columns"
	else
		# SQLite's session extension records nothing of a table with
		# generated columns (its changeset fails): such writes were once
		# committed with no row changes in the log
		expect_sqlstate "$n" "INSERT INTO gen(id) VALUES (1)" 55000
		expect_match "$(q_raw "$n" "INSERT INTO gen(id) VALUES (1)")" 'generated columns' "$mode: the 55000 message names the reason"
		expect_eq "$(q "$n" "SELECT count(*) FROM gen")" "0" "$mode: rows in the table with generated columns"
		expect_sqlstate "$n" "INSERT INTO nopk VALUES (1, 'x')" 55000
		expect_sqlstate "$n" "INSERT INTO nopk SELECT 2, 'y'" 55000
		expect_sqlstate "$n" "UPDATE nopk SET b = 'z'" 55000
		expect_sqlstate "$n" "DELETE FROM nopk" 55000
		expect_eq "$(q "$n" "SELECT count(*) FROM nopk")" "0" "$mode: rows in the table without PK"
		# In a block: the error fails the block, the earlier insert goes too.
		out=$(psql_to "$n" -At -v VERBOSITY=verbose -f - 2>&1 <<'EOF'
BEGIN;
INSERT INTO haspk VALUES (1, 'in the block');
INSERT INTO nopk VALUES (3, 'in the block');
COMMIT;
EOF
		) || true
		expect_match "$out" 'ERROR:  55000:' "$mode: write to a table without PK in a block"
		expect_match "$(tail -n 1 <<<"$out")" '^ROLLBACK$' "$mode: COMMIT of the failed block"
		expect_eq "$(q "$n" "SELECT count(*) FROM haspk")" "0" "$mode: the failed block wrote nothing"
		expect_match "$(q_raw "$n" "INSERT INTO nopk VALUES (4, 'x')")" 'PRIMARY KEY' "$mode: the 55000 message names the reason"
		# Writes elsewhere go on.
		expect_eq "$(q "$n" "INSERT INTO haspk VALUES (2, 'after')")" "INSERT 0 1" "$mode: insert into a table with PK"
	fi
	node_stop "$n"
	[ "$mode" = logical ] || replay_check "$n" physical
	[ "$mode" = physical ] || replay_check "$n" logical
done

# NULL in a TEXT PRIMARY KEY column of a rowid table (SQLite allows it): the
# write must either be refused or reach the logical log like any other.
for mode in logical both; do
	node_start "nullpk-$mode" --log_mode="$mode" "${LEADER_OPTS[@]}"
	q "nullpk-$mode" "CREATE TABLE tk (k TEXT PRIMARY KEY, n INTEGER)" >/dev/null
	q "nullpk-$mode" "INSERT INTO tk VALUES ('a', 1)" >/dev/null
	q_raw "nullpk-$mode" "INSERT INTO tk VALUES (NULL, 2)" >/dev/null || true
	q_raw "nullpk-$mode" "INSERT INTO tk VALUES (NULL, 3)" >/dev/null || true
	q_raw "nullpk-$mode" "UPDATE tk SET n = n + 10 WHERE k IS NULL" >/dev/null || true
	node_stop "nullpk-$mode"
	[ "$mode" = logical ] || replay_check "nullpk-$mode" physical
	replay_check "nullpk-$mode" logical
done

# ALTER TABLE ADD COLUMN with a DEFAULT, then updates and deletes of the
# rows written before it. SQLite 3.40's session extension records the old
# value of such a column as NULL in those rows, so logical and both refuse
# the ALTER with 55000 (DEFAULT NULL is fine); whatever the server accepts
# must replay.
for mode in physical logical both; do
	n=adddefault-$mode
	node_start "$n" --log_mode="$mode" "${LEADER_OPTS[@]}"
	q "$n" "CREATE TABLE ad (k TEXT PRIMARY KEY, n INTEGER)" >/dev/null
	q "$n" "INSERT INTO ad VALUES ('a', 1), ('b', 2), ('c', 3)" >/dev/null
	for alter in "ALTER TABLE ad ADD COLUMN x TEXT DEFAULT 'dflt'" "ALTER TABLE ad ADD COLUMN y INTEGER DEFAULT 7"; do
		if [ "$mode" = physical ]; then
			q "$n" "$alter" >/dev/null
		else
			expect_sqlstate "$n" "$alter" 55000
		fi
	done
	q "$n" "ALTER TABLE ad ADD COLUMN z TEXT DEFAULT NULL" >/dev/null
	q "$n" "UPDATE ad SET n = 5 WHERE k = 'a'" >/dev/null
	q "$n" "DELETE FROM ad WHERE k = 'b'" >/dev/null
	q "$n" "UPDATE ad SET z = 'zz' WHERE k = 'c'" >/dev/null
	node_stop "$n"
	[ "$mode" = logical ] || replay_check "$n" physical
	[ "$mode" = physical ] || replay_check "$n" logical
done

if [ ${#failures[@]} -gt 0 ]; then
	msg="${#failures[@]} problem(s) (base seed $base_seed):"
	for f in "${failures[@]}"; do
		msg+=$'\n  - '"$f"
	done
	fail "$msg"
fi
log "all replays matched (base seed $base_seed)"
