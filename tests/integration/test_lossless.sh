#!/bin/bash
# test_lossless.sh — no reader sees a commit before its log record is
# durable. strace makes every fdatasync of the leader take 2 s; while one
# session's INSERT waits for its record to be synced, other sessions read
# the table many times and must not see the row; once the INSERT has
# returned, they must. Then the same for a batch of several sessions.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

command -v strace >/dev/null || fail "strace is needed (Debian package strace)"

node_start a
q a "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
pid=$(node_pid a)

strace_out=$TEST_TMP/strace.out
strace -f -q -p "$pid" -e trace=fdatasync -e inject=fdatasync:delay_enter=2000000 -o "$strace_out" &
strace_pid=$!
bg_track "$strace_pid"
traced() { ! grep -h TracerPid /proc/"$pid"/task/*/status | grep -q 'TracerPid:[[:space:]]*0$'; }
wait_until traced 10 || fail "strace did not attach to every thread of the server"

# ---- one session: the row is invisible while its record is being synced
ins_out=$TEST_TMP/insert.out
start=$(now_ms)
psql -X -w -At -h 127.0.0.1 -p "$(node_port a)" -U "$SL_USER" -d "$SL_DB" \
	-c "INSERT INTO t VALUES (1, 'one')" >"$ins_out" 2>&1 &
ins_pid=$!
bg_track "$ins_pid"
reads=0
while proc_alive "$ins_pid"; do
	n=$(q a "SELECT count(*) FROM t")
	if proc_alive "$ins_pid"; then
		# the INSERT had not returned when this read began or ended
		[ "$n" = 0 ] || fail "a reader saw the row before its commit was durable (read $reads)"
		reads=$((reads + 1))
	fi
	[ $(($(now_ms) - start)) -lt 30000 ] || fail "the INSERT did not return within 30 s"
done
wait "$ins_pid" || fail "INSERT failed: $(cat "$ins_out")"
took=$(($(now_ms) - start))
expect_eq "$(cat "$ins_out")" "INSERT 0 1" "the INSERT succeeded"
[ "$took" -ge 1500 ] || fail "the INSERT returned in $took ms: the fdatasync delay did not apply"
[ "$reads" -ge 3 ] || fail "only $reads reads ran while the commit waited"
expect_eq "$(q a "SELECT v FROM t WHERE k = 1")" "one" "visible once acknowledged"
log "$reads reads during a ${took} ms commit saw nothing"

# ---- several sessions in one batch: none visible before all are durable
pids=()
for i in 2 3 4 5; do
	psql -X -w -At -h 127.0.0.1 -p "$(node_port a)" -U "$SL_USER" -d "$SL_DB" \
		-c "INSERT INTO t VALUES ($i, 'v$i')" >"$TEST_TMP/ins$i.out" 2>&1 &
	pids+=($!)
	bg_track "$!"
done
start=$(now_ms)
running() { for p in "${pids[@]}"; do proc_alive "$p" && return 0; done; return 1; }
all_running() { for p in "${pids[@]}"; do proc_alive "$p" || return 1; done; return 0; }
while all_running; do
	n=$(q a "SELECT count(*) FROM t WHERE k > 1")
	if all_running; then
		[ "$n" = 0 ] || fail "a reader saw $n rows of commits that no client had been told of"
	fi
	[ $(($(now_ms) - start)) -lt 30000 ] || fail "the INSERTs did not return within 30 s"
done
while running; do
	[ $(($(now_ms) - start)) -lt 60000 ] || fail "the INSERTs did not return within 60 s"
	sleep 0.1
done
for i in 2 3 4 5; do
	expect_eq "$(cat "$TEST_TMP/ins$i.out")" "INSERT 0 1" "INSERT $i succeeded"
done
expect_eq "$(q a "SELECT count(*) FROM t")" "5" "every acknowledged row is visible"

kill "$strace_pid" 2>/dev/null || true
wait "$strace_pid" 2>/dev/null || true
grep -q fdatasync "$strace_out" || fail "strace saw no fdatasync"
node_stop a
