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

# ---- Execute with a row limit (libpq cannot send one; JDBC's fetch size
# does): PortalSuspended after each batch, CommandComplete at the end.
q a "CREATE TABLE lim (k INTEGER PRIMARY KEY)" >/dev/null
q a "INSERT INTO lim VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10)" >/dev/null
out=$(proto_run a "P::SELECT k FROM lim ORDER BY k" "B::" "E::3" "E::3" "E::0" S)
expect_eq "$(sed 's/^C SELECT [0-9]*$/C SELECT/' <<<"$out" | tr '\n' ' ')" \
	"1 len=4 2 len=4 D 1 D 2 D 3 s len=4 D 4 D 5 D 6 s len=4 D 7 D 8 D 9 D 10 C SELECT Z I " \
	"Execute with max_rows 3, 3, 0 on the unnamed portal"
# A named portal in a transaction block lives across Syncs until closed.
out=$(proto_run a "Q:BEGIN" "P::SELECT k FROM lim ORDER BY k" "B:cur:" "E:cur:4" S "E:cur:4" S "E:cur:0" S \
	"C:P:cur" S "Q:COMMIT")
expect_eq "$(sed 's/^C SELECT [0-9]*$/C SELECT/' <<<"$out" | tr '\n' ' ')" \
	"C BEGIN Z T 1 len=4 2 len=4 D 1 D 2 D 3 D 4 s len=4 Z T D 5 D 6 D 7 D 8 s len=4 Z T D 9 D 10 C SELECT Z T 3 len=4 Z T C COMMIT Z I " \
	"named portal fetched 4 rows at a time across Syncs"

node_stop a
