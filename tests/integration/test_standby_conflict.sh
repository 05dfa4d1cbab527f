#!/bin/bash
# test_standby_conflict.sh — physical apply on a follower versus its
# readers (max_standby_delay = 2s on the follower), as in PostgreSQL's hot
# standby:
#
#  1. short readers are never cancelled: while the leader commits a row
#     every 50 ms for about 5 s, two sessions on the follower run quick
#     autocommit SELECTs back to back and a third connects anew for each;
#     none gets an error (40001 least of all), the counts each reader sees
#     never go down, and apply keeps going under them (the session readers
#     see the count grow several times, and the follower ends at the
#     leader's LSN);
#  2. a session that holds its snapshot (BEGIN; SELECT ...) and stays idle
#     delays apply by at most max_standby_delay: a row written on the leader
#     meanwhile becomes visible to a second session after roughly the delay
#     (no sooner than 1 s, no later than delay + 5 s), and the first
#     session's next statement fails with SQLSTATE 40001 (ERROR, or FATAL
#     with the connection closed); if the session survives, a new
#     transaction in it sees the row; meanwhile a new read, which waits
#     while apply waits, still honours its statement_timeout (57014 after
#     about 300 ms, not an answer once the delay is over);
#  3. a long single query (a recursive CTE that reads a table and would run
#     for minutes) running while a write arrives is cancelled with 40001
#     after about the delay, and the write is then applied.
# With SLUICE_LONG_TESTS=1 parts 2 and 3 run three times.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

if [ "${SLUICE_LONG:-${SLUICE_LONG_TESTS:-0}}" = 1 ]; then
	repeats=3
else
	repeats=1
fi
DELAY_S=2
MARGIN_S=5

leader_start lead --log_mode=physical
q lead "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q lead "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
	INSERT INTO t SELECT x, 'row ' || x FROM c" >/dev/null
follower_start fol lead --log_mode=physical "--max_standby_delay=${DELAY_S}s" --reader_threads=4
wait_caught_up fol lead 60

next_id=2000

# lead_write: insert one row on the leader; its id in $id.
lead_write() {
	id=$next_id
	next_id=$((next_id + 1))
	q lead "INSERT INTO t VALUES ($id, 'written at $(now_ms)')" >/dev/null
}

# sess_try SESS SQL SECONDS: send SQL and wait until it is done or psql
# has exited (the server closed the connection). Prints the output.
sess_try() {
	local s=$1 sql=$2 secs=$3 mark start
	mark="__try_${s}_${EPOCHREALTIME/./}_${RANDOM}__"
	start=$(grep -c '' "${SESS_OUT[$s]}" || true)
	# In a subshell: should psql be gone, SIGPIPE ends only that.
	(printf '%s;\n\\echo %s\n' "$sql" "$mark" >&"${SESS_FD[$s]}") 2>/dev/null || true
	wait_until "grep -qx '$mark' '${SESS_OUT[$s]}' || ! proc_alive ${SESS_PID[$s]}" "$secs" ||
		fail "session $s: '$sql' neither done nor the session closed within ${secs}s; output:
$(cat "${SESS_OUT[$s]}")"
	sed -n "$((start + 1)),\$p" "${SESS_OUT[$s]}" | sed "/^$mark\$/,\$d"
}

# ---------------------------------------------------------------- 1. short readers
reader_pids=()
for r in 1 2; do
	# Back-to-back autocommit SELECTs on one connection, bounded by count
	# (and QUERY_TIMEOUT).
	for ((i = 0; i < 400; i++)); do
		echo "SELECT count(*) FROM t;"
		echo "SELECT pg_sleep(0.01);"
	done >"$TEST_TMP/reader$r.sql"
	psql_to fol -At -v VERBOSITY=verbose -f "$TEST_TMP/reader$r.sql" >"$TEST_TMP/reader$r.out" 2>&1 &
	reader_pids+=($!)
	bg_track $!
done
(
	trap - ERR
	for ((i = 0; i < 60; i++)); do
		psql_to fol -At -v VERBOSITY=verbose -c "SELECT count(*) FROM t" 2>&1 || echo "psql exit $?"
	done
) >"$TEST_TMP/reader3.out" &
reader_pids+=($!)
bg_track $!
for ((i = 0; i < 100; i++)); do
	echo "INSERT INTO t VALUES ($((next_id + i)), 'short-reader phase');"
	echo "SELECT pg_sleep(0.05);"
done >"$TEST_TMP/writes.sql"
psql_to lead -At -v ON_ERROR_STOP=1 -f "$TEST_TMP/writes.sql" >"$TEST_TMP/writes.out" 2>&1 ||
	fail "writes on the leader failed: $(tail -n 5 "$TEST_TMP/writes.out")"
next_id=$((next_id + 100))
for p in "${reader_pids[@]}"; do
	rc=0
	wait_pid_exit "$p" 90 || rc=$?
	[ "$rc" = 0 ] || fail "a short reader exited $rc"
done
for r in 1 2 3; do
	f=$TEST_TMP/reader$r.out
	bad=$(grep -vE '^[0-9]*$' "$f" | head -n 5) || true
	[ -z "$bad" ] || fail "short reader $r got errors (any 40001 is wrong for a short read):
$bad"
	counts=$(grep -E '^[0-9]+$' "$f" | awk '$1 > 1')
	[ -n "$counts" ] || fail "short reader $r printed no counts"
	sort -n -c <<<"$counts" 2>/dev/null || fail "short reader $r saw the row count go down: $(tr '\n' ' ' <<<"$counts" | head -c 600)"
	distinct=$(sort -u <<<"$counts" | grep -c '')
	log "short reader $r: $(grep -c '' <<<"$counts") reads, $distinct distinct counts, from $(head -n 1 <<<"$counts") to $(tail -n 1 <<<"$counts")"
	if [ "$r" != 3 ]; then
		[ "$distinct" -ge 3 ] || fail "short reader $r saw only $distinct distinct counts while 100 rows were written: apply stalled under short reads"
	fi
done
wait_caught_up fol lead 30
expect_eq "$(q fol "SELECT count(*) FROM t")" "$(q lead "SELECT count(*) FROM t")" "row count after the short-reader phase"

for ((rep = 1; rep <= repeats; rep++)); do
	# ------------------------------------------------------------ 2. idle snapshot holder
	sess_open fol holder
	out=$(sess_q holder "BEGIN")
	before=$(sess_q holder "SELECT count(*) FROM t")
	[[ $before =~ ^[0-9]+$ ]] || fail "holder: SELECT in the block gave: $before"
	t0=$(now_ms)
	lead_write
	want="$((before + 1))"
	sleep 0.3 # the write has arrived: apply waits for the holder
	r0=$(now_ms)
	out=$(PGOPTIONS="-c statement_timeout=300ms" psql_to fol -At -v VERBOSITY=verbose \
		-c "SELECT count(*) FROM t" 2>&1) || true
	took=$(($(now_ms) - r0))
	log "rep $rep: a read with statement_timeout 300ms while apply waited: $took ms, $(tr '\n' ' ' <<<"$out")"
	grep -qE 'ERROR:  57014: canceling statement due to statement timeout' <<<"$out" ||
		fail "a read waiting behind page apply did not honour its statement_timeout (after $took ms): $out"
	deadline=$((t0 + (DELAY_S + MARGIN_S) * 1000))
	seen=""
	while [ "$(now_ms)" -lt "$deadline" ]; do
		got=$(status_try fol "SELECT count(*) FROM t WHERE id = $id")
		if [ "$got" = 1 ]; then
			seen=$(($(now_ms) - t0))
			break
		fi
		sleep 0.1
	done
	[ -n "$seen" ] || fail "the row written on the leader was not visible on the follower within $((DELAY_S + MARGIN_S))s while a session held its snapshot (status: $(status_try fol "SELECT state, applied_lsn, last_error FROM sluice_status"))"
	log "rep $rep: a second session saw the new row $seen ms after the write (max_standby_delay ${DELAY_S}s)"
	[ "$seen" -ge 1000 ] || fail "the write was applied after $seen ms although a session held its snapshot: apply did not wait for the reader"
	out=$(sess_try holder "SELECT count(*) FROM t" 15)
	log "rep $rep: the holder's next statement: $(tr '\n' ' ' <<<"$out")"
	grep -qE '(ERROR|FATAL):  40001:' <<<"$out" ||
		fail "the session holding its snapshot past max_standby_delay was not cancelled with 40001; its next statement gave:
$out"
	if sess_alive holder; then
		out=$(sess_try holder "ROLLBACK" 10)
		out=$(sess_try holder "SELECT count(*) FROM t" 10)
		expect_eq "$out" "$want" "holder: a new transaction after the 40001 sees the new row"
		sess_close holder
		log "rep $rep: the holder got ERROR 40001 and its session goes on"
	else
		wait "${SESS_PID[holder]}" 2>/dev/null || true
		eval "exec ${SESS_FD[holder]}>&-"
		unset "SESS_PID[holder]" "SESS_FD[holder]"
		log "rep $rep: the holder's connection was closed with 40001"
	fi
	# The follower still serves.
	expect_eq "$(q fol "SELECT count(*) FROM t")" "$want" "row count on the follower after the conflict"

	# ------------------------------------------------------------ 3. long query
	long_sql="WITH RECURSIVE c(x) AS (SELECT (SELECT count(*) FROM t) UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000)
		SELECT count(*) FROM c, (SELECT id FROM t LIMIT 1)"
	timeout -k 5 120 psql -X -w -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port fol)" -U "$SL_USER" -d "$SL_DB" \
		-c "$long_sql" >"$TEST_TMP/long.$rep.out" 2>&1 &
	lp=$!
	bg_track "$lp"
	sleep 0.7
	proc_alive "$lp" || fail "the long query ended early: $(cat "$TEST_TMP/long.$rep.out")"
	t0=$(now_ms)
	lead_write
	rc=0
	wait_pid_exit "$lp" $((DELAY_S + MARGIN_S + 3)) || rc=$?
	took=$(($(now_ms) - t0))
	if [ "$rc" = 124 ]; then
		probe=$(PGCONNECT_TIMEOUT=3 timeout -k 1 3 psql -X -w -At -h 127.0.0.1 -p "$(node_port fol)" -U "$SL_USER" -d "$SL_DB" \
			-c "SELECT count(*) FROM t WHERE id = $id" 2>&1) || probe="no answer within 3 s"
		fail "the long query on the follower was not cancelled within $((DELAY_S + MARGIN_S + 3))s of a write arriving; a new read of the written row on the follower then gives: $probe; the follower's log: $(grep -iE 'cancelling reads' "$(node_log fol)" | tail -n 3)"
	fi
	out=$(cat "$TEST_TMP/long.$rep.out")
	log "rep $rep: long query ended (exit $rc) $took ms after the write: $(tr '\n' ' ' <<<"$out")"
	grep -qE '(ERROR|FATAL):  40001:' <<<"$out" || fail "the long query ended without 40001: $out"
	[ "$took" -ge 1000 ] || fail "the long query was cancelled $took ms after the write, before max_standby_delay"
	wait_row fol "SELECT count(*) FROM t WHERE id = $id" 1 $((MARGIN_S + 2))
	wait_caught_up fol lead 30
done

node_stop fol
node_stop lead
compare_stopped lead fol cmp
