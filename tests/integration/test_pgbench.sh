#!/bin/bash
# test_pgbench.sh — pgbench as a client, in each query mode (simple,
# extended, prepared): 4 clients x 200 transactions of a custom script (an
# insert with a random key and a point select of it). Asserts that every
# transaction was processed, none failed, and the table holds exactly one
# row per transaction (the id is an INTEGER PRIMARY KEY AUTOINCREMENT, so
# random key collisions cannot hide a lost insert).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

clients=4
txns=200
node_start a
q a "CREATE TABLE kv (id INTEGER PRIMARY KEY AUTOINCREMENT, k INTEGER NOT NULL, v TEXT NOT NULL)" >/dev/null
q a "CREATE INDEX kv_k ON kv (k)" >/dev/null

script=$TEST_TMP/kv.sql
cat >"$script" <<'EOF'
\set k random(1, 1000000000)
INSERT INTO kv (k, v) VALUES (:k, 'v' || :k);
SELECT v FROM kv WHERE k = :k;
EOF

total=0
for mode in simple extended prepared; do
	out=$TEST_TMP/pgbench-$mode.out
	rc=0
	timeout -k 5 300 pgbench -n -h 127.0.0.1 -p "$(node_port a)" -U "$SL_USER" -M "$mode" -c "$clients" -j 2 \
		-t "$txns" -f "$script" "$SL_DB" >"$out" 2>&1 || rc=$?
	sed 's/^/    /' "$out"
	[ "$rc" = 0 ] || fail "pgbench -M $mode exited with status $rc (output above)"
	processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\)\/\([0-9]*\).*/\1 \2/p' "$out")
	[ -n "$processed" ] || fail "pgbench -M $mode: no 'transactions actually processed' line"
	read -r done_n want_n <<<"$processed"
	expect_eq "$want_n" "$((clients * txns))" "pgbench -M $mode: transactions requested"
	expect_eq "$done_n" "$((clients * txns))" "pgbench -M $mode: transactions processed"
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	[ -n "$failed" ] || fail "pgbench -M $mode: no 'failed transactions' line"
	expect_eq "$failed" "0" "pgbench -M $mode: failed transactions"
	if grep -qiE 'error|aborted' "$out"; then
		fail "pgbench -M $mode reported errors (output above)"
	fi
	total=$((total + done_n))
	expect_eq "$(q a "SELECT count(*) FROM kv")" "$total" "rows in kv after -M $mode (one per transaction)"
	expect_eq "$(q a "SELECT max(id) FROM kv")" "$total" "ids after -M $mode are 1..$total with no gap"
	expect_eq "$(q a "SELECT count(*) FROM kv WHERE v <> 'v' || k")" "0" "values after -M $mode"
done
node_stop a
