#!/bin/bash
# test_concurrency.sh — a long query in one session does not hold up the
# others: while a 10-second pg_sleep (and then a CPU-bound recursive CTE)
# runs, another session's short reads and writes each finish within 2 s and
# all of them before the long query does; statement_timeout cancels with
# 57014 (server setting and SET); many concurrent psql writers all succeed
# and the final counts are exact.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a
conninfo=$(node_conninfo a)

# ---- a 10-second query does not delay other sessions
out=$(pgclient "$conninfo" concurrent "SELECT pg_sleep(10)" 2>&1) || fail "pg_sleep(10) blocked others:
$out"
printf '%s\n' "$out"

# A CPU-bound query (SQLite really works on it), cancelled at the end.
cte="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
out=$(pgclient "$conninfo" concurrent "$cte" --cancel 2>&1) || fail "a CPU-bound query blocked others:
$out"
printf '%s\n' "$out"

# The same with psql processes: short psql queries started after the long
# one all finish while it still runs.
long_out=$TEST_TMP/long.out
psql -X -w -At -h 127.0.0.1 -p "$(node_port a)" -U "$SL_USER" -d "$SL_DB" -c "SELECT 'slept', pg_sleep(10)" \
	>"$long_out" 2>&1 &
long_pid=$!
bg_track "$long_pid"
start=$(now_ms)
for i in $(seq 1 20); do
	t0=$(now_ms)
	expect_eq "$(q a "SELECT $i")" "$i" "short query $i during the long one"
	took=$(($(now_ms) - t0))
	[ "$took" -lt 2000 ] || fail "short query $i took $took ms while a long query ran"
done
proc_alive "$long_pid" || fail "the 10 s query finished before 20 short ones ($(($(now_ms) - start)) ms): $(cat "$long_out")"
log "20 short psql queries in $(($(now_ms) - start)) ms while pg_sleep(10) ran"
rc=0
wait_pid_exit "$long_pid" 30 || rc=$?
[ "$rc" = 0 ] || fail "the long psql query failed or hung (status $rc): $(cat "$long_out")"
expect_match "$(cat "$long_out")" '^slept\|' "the long query's result"

# ---- statement_timeout
out=$(psql_to a -At -v VERBOSITY=verbose -c "SET statement_timeout = 300" -c "SELECT pg_sleep(5)" 2>&1) &&
	fail "pg_sleep(5) with statement_timeout=300 succeeded: $out"
expect_match "$out" 'ERROR:  57014:' "SET statement_timeout cancels with 57014"
out=$(psql_to a -At -v VERBOSITY=verbose -c "SET statement_timeout = '1s'" -c "$cte" 2>&1) &&
	fail "the CPU-bound query with statement_timeout=1s succeeded: $out"
expect_match "$out" 'ERROR:  57014:' "statement_timeout cancels a CPU-bound query"
node_stop a

node_start b --statement_timeout=1s
expect_match "$(q b "SHOW statement_timeout")" '^(1s|1000|1000ms)$' "SHOW statement_timeout"
start=$(now_ms)
expect_sqlstate b "SELECT pg_sleep(10)" 57014
took=$(($(now_ms) - start))
[ "$took" -lt 8000 ] || fail "statement_timeout=1s took $took ms to cancel pg_sleep(10)"
log "statement_timeout=1s cancelled pg_sleep(10) after $took ms"
# In a block, the timeout fails the block.
out=$(psql_to b -At -v VERBOSITY=verbose -f - 2>&1 <<'EOF'
BEGIN;
SELECT pg_sleep(10);
SELECT 1;
COMMIT;
EOF
) || true
expect_match "$out" 'ERROR:  57014:' "timeout in a block"
expect_match "$out" 'ERROR:  25P02:' "block failed after the timeout"
expect_match "$(tail -n 1 <<<"$out")" '^ROLLBACK$' "COMMIT after the timeout answers ROLLBACK"
# Turned off for a session, long statements run to completion.
expect_eq "$(psql_to b -At -v ON_ERROR_STOP=1 -c "SET statement_timeout = 0" \
	-c "SELECT count(*) FROM (SELECT pg_sleep(1.5)) AS s" 2>&1)" "SET
1" "statement_timeout = 0 lets pg_sleep(1.5) finish"
node_stop b

# ---- many concurrent writers (bounded: 8 psql processes, 50 rows each)
node_start c
q c "CREATE TABLE w (k INTEGER PRIMARY KEY, writer INTEGER NOT NULL)" >/dev/null
q c "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)" >/dev/null
q c "INSERT INTO counter VALUES (1, 0)" >/dev/null
writers=8
rows=50
pids=()
for wr in $(seq 1 "$writers"); do
	script=$TEST_TMP/writer$wr.sql
	: >"$script"
	for r in $(seq 1 "$rows"); do
		k=$((wr * 1000 + r))
		if [ $((r % 5)) = 0 ]; then
			printf 'BEGIN;\nINSERT INTO w VALUES (%d, %d);\nUPDATE counter SET n = n + 1 WHERE id = 1;\nCOMMIT;\n' \
				"$k" "$wr" >>"$script"
		else
			printf 'INSERT INTO w VALUES (%d, %d);\nUPDATE counter SET n = n + 1 WHERE id = 1;\n' "$k" "$wr" >>"$script"
		fi
	done
	timeout -k 5 120 psql -X -w -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -h 127.0.0.1 -p "$(node_port c)" \
		-U "$SL_USER" -d "$SL_DB" -f "$script" >"$TEST_TMP/writer$wr.out" 2>&1 &
	pids+=($!)
	bg_track $!
done
start=$(now_ms)
for i in "${!pids[@]}"; do
	rc=0
	wait_pid_exit "${pids[$i]}" 130 || rc=$?
	[ "$rc" = 0 ] || fail "writer $((i + 1)) failed (status $rc): $(cat "$TEST_TMP/writer$((i + 1)).out")"
done
log "$writers writers x $rows rows done in $(($(now_ms) - start)) ms"
expect_eq "$(q c "SELECT count(*) FROM w")" "$((writers * rows))" "rows from all writers"
expect_eq "$(q c "SELECT n FROM counter")" "$((writers * rows))" "counter updated by all writers (no lost update)"
expect_eq "$(q c "SELECT count(DISTINCT writer) FROM w")" "$writers" "every writer's rows present"
for wr in $(seq 1 "$writers"); do
	expect_eq "$(q c "SELECT count(*) FROM w WHERE writer = $wr")" "$rows" "rows of writer $wr"
done
node_stop c
