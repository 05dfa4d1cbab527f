#!/bin/bash
# test_reader_pool.sh — long reads never hold up a short one: with every
# reader thread busy, another starts (up to max_reader_threads).
#
# A leader with reader_threads = 2: three sessions each run a long read
# (pg_sleep(8)); while all three still run, SELECT 1 in a fourth session
# answers within 4 s. With max_reader_threads = 2 the same SELECT 1 waits
# behind them (it has not answered 4 s later, and answers once a long read
# ends): the setting is what makes the difference. Everything is compared
# with the long reads' own ends, not timed against a budget of speed.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

# run_case NODE MAX: three long reads, then SELECT 1; prints "answered" when
# it came while every long read still ran, else "waited"
run_case() {
	local n=$1 pids=() i out before
	before=$(grep -c 'session started' "$(node_log "$n")" || true)
	for i in 1 2 3; do
		psql_to "$n" -At -c "SELECT pg_sleep(8)" >/dev/null 2>&1 &
		pids+=($!)
		bg_track "$!"
	done
	# each read is under way a moment after its session started
	wait_until "[ \$(grep -c 'session started' '$(node_log "$n")') -ge $((before + 3)) ]" 10 ||
		fail "the three long reads did not connect"
	sleep 1
	if out=$(timeout 4 psql "$(node_conninfo "$n")" -X -At -c "SELECT 1" 2>&1) && [ "$out" = 1 ]; then
		for i in "${pids[@]}"; do
			proc_alive "$i" || { echo "a long read ended first"; return 0; }
		done
		echo answered
	else
		echo waited
	fi
	for i in "${pids[@]}"; do wait "$i" || true; done
}

node_start grow --role=leader --log_mode=off --reader_threads=2 --max_reader_threads=8
expect_eq "$(run_case grow)" answered "SELECT 1 behind three long reads, max_reader_threads = 8"
node_stop grow

node_start fixed --role=leader --log_mode=off --reader_threads=2 --max_reader_threads=2
expect_eq "$(run_case fixed)" waited "SELECT 1 behind three long reads, max_reader_threads = 2"
node_stop fixed
log "PASS"
