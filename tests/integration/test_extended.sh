#!/bin/bash
# test_extended.sh — the extended query protocol and libpq features through
# pgclient: typed text and binary parameters and results with their OIDs,
# prepared statements, pipeline mode, transaction status, ParameterStatus,
# cursors and single-row mode, and query cancellation. Every subcommand runs
# (so one report shows them all); the test fails if any of them failed.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a
conninfo=$(node_conninfo a)
failed=()
for sub in simple extended prepared pipeline txstatus params rowlimit cancel; do
	log "pgclient $sub"
	rc=0
	pgclient "$conninfo" "$sub" >"$TEST_TMP/$sub.out" 2>&1 || rc=$?
	sed 's/^/    /' "$TEST_TMP/$sub.out"
	if [ "$rc" != 0 ]; then
		failed+=("$sub (exit $rc)")
	fi
	# Whatever a subcommand did, the server must still take new connections.
	expect_eq "$(q a "SELECT 1")" "1" "new connection after pgclient $sub"
done
[ "${#failed[@]}" = 0 ] || fail "pgclient subcommands failed: ${failed[*]} (output above)"

node_stop a
