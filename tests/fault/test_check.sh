#!/bin/bash
# test_check.sh — the fault suite's checker (tests/fault/check.py) on
# histories written by hand: a clean one passes, and each broken promise
# (a lost set id, a lost register write, a phantom, two nodes in one epoch,
# an old epoch acknowledging after a newer one, a bank total off, a read
# that goes back, contents that differ, no write after the last heal) is
# found, counted and fails the schedule. Also checks the failover time.
set -euo pipefail
: "${TOP_SRCDIR:?TOP_SRCDIR must name the source tree}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test_check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CHECK=$TOP_SRCDIR/tests/fault/check.py
failures=0

# A clean history: n1 leads epoch 2 until the kill at t=1000000, n2 leads
# epoch 3 from t=1600000 (failover 600 ms), heal at 2000000.
# KIND WORKER KEY VALUE START END OUTCOME EPOCH NODE SQLSTATE
clean() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		set 0 1 0 100000 110000 ok 2 n1 - \
		reg 0 0 5 200000 210000 ok 2 n1 - \
		bank 0 0 7 300000 310000 ok 2 n1 - \
		set 1 2 0 900000 1200000 unknown 0 - 40003 \
		set 1 3 0 1300000 1310000 failed 0 - 25006 \
		set 0 4 0 1590000 1600000 ok 3 n2 - \
		reg 0 1 6 1700000 1710000 ok 3 n2 - \
		read 100 2 200 1800000 1810000 ok 0 n2 - \
		read 100 3 200 1900000 1910000 ok 0 n2 - \
		set 0 5 0 2100000 2110000 ok 3 n2 -
}
nemesis() { printf '%s\n' "1000000 fault kill n1" "2000000 heal all -"; }
final() {
	printf '%s\n' 1 2 4 5 >"$TMP/fset"
	printf '%s\n' "0|5" "1|6" "2|0" >"$TMP/reg"
	printf '%s\n' "0|93" "1|107" >"$TMP/bank"
}

# expect NAME WANT_EXIT REGEX: run the checker on $TMP/history; its exit
# status and first line must match.
expect() {
	local name=$1 want=$2 re=$3 out rc=0
	out=$(python3 "$CHECK" t "$TMP/history" "$TMP/nemesis" "$TMP" 200 "${IDENTICAL:-yes}") || rc=$?
	if [ "$rc" != "$want" ] || ! grep -qE -- "$re" <<<"$out"; then
		echo "FAIL: $name: exit $rc (want $want), output:"
		echo "$out"
		failures=$((failures + 1))
	else
		echo "ok: $name"
	fi
}

reset() {
	clean >"$TMP/history"
	nemesis >"$TMP/nemesis"
	final
}

reset
expect "a clean history passes" 0 "lost=0 phantom=0 split-brain=0 bank=0 stale-reads=0 identical=yes failovers=1 failover p50=600ms"

reset
sed -i '/^1$/d' "$TMP/fset"
expect "an acknowledged set id missing is lost" 1 "lost=1 "

reset
printf '%s\n' "0|0" "1|6" "2|0" >"$TMP/reg"
expect "a register back at 0 after an acknowledged write is lost" 1 "lost=1 "

reset
printf 'reg\t0\t0\t8\t1750000\t1760000\tunknown\t0\t-\t08006\n' >>"$TMP/history"
printf '%s\n' "0|8" "1|6" "2|0" >"$TMP/reg"
expect "a register holding an unknown write that came after the acknowledged one passes" 0 "lost=0 "

reset
printf 'reg\t0\t0\t9\t100\t200\tunknown\t0\t-\t08006\n' >>"$TMP/history"
printf '%s\n' "0|9" "1|6" "2|0" >"$TMP/reg"
expect "a register holding a write older than an acknowledged one is lost" 1 "lost=1 "

reset
echo 3 >>"$TMP/fset"
expect "a failed insert that took effect is a phantom" 1 "phantom=1 "

reset
printf 'set\t2\t6\t0\t1650000\t1660000\tok\t3\tn1\t-\n' >>"$TMP/history"
echo 6 >>"$TMP/fset"
expect "two nodes acknowledging in one epoch is split brain" 1 "split-brain=1 "

reset
printf 'set\t2\t6\t0\t1650000\t1660000\tok\t2\tn1\t-\n' >>"$TMP/history"
echo 6 >>"$TMP/fset"
expect "an older epoch acknowledging after a newer one is split brain" 1 "split-brain=1 "

reset
printf '%s\n' "0|93" "1|106" >"$TMP/bank"
expect "a final bank total off is found" 1 "bank=1 "

reset
printf 'read\t100\t3\t199\t1950000\t1960000\tok\t0\tn2\t-\n' >>"$TMP/history"
expect "a read of a total off is found" 1 "bank=1 "

reset
printf 'read\t100\t1\t200\t1950000\t1960000\tok\t0\tn2\t-\n' >>"$TMP/history"
expect "a read that goes back is stale" 1 "stale-reads=1 "

reset
IDENTICAL=no expect "different contents fail" 1 "identical=no"

reset
sed -i '$d' "$TMP/history"
sed -i '/^5$/d' "$TMP/fset"
expect "no write after the last heal fails" 1 "liveness"

[ "$failures" = 0 ] || { echo "FAIL: test_check: $failures case(s)"; exit 1; }
echo "PASS: test_check"
