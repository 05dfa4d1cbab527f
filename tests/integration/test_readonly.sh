#!/bin/bash
# test_readonly.sh — a follower (role=follower) is read-only: SELECT works,
# writes and DDL fail with 25006, it reports in_hot_standby=on and
# default_transaction_read_only=on; libpq's multi-host connection strings
# with target_session_attrs find the right node by themselves (read-write
# skips a follower listed first).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

# The follower bootstraps from the leader, so that it has something to read.
leader_start lead
q lead "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q lead "INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three')" >/dev/null
follower_start fol lead
wait_caught_up fol lead 30

# ---- the follower reads but refuses every write with 25006
expect_eq "$(q fol "SELECT k, v FROM kv ORDER BY k")" "1|one
2|two
3|three" "SELECT on the follower"
expect_eq "$(q fol "SHOW in_hot_standby")" "on" "in_hot_standby on the follower"
expect_eq "$(q fol "SHOW default_transaction_read_only")" "on" "default_transaction_read_only on the follower"
expect_eq "$(q fol "SHOW transaction_read_only")" "on" "transaction_read_only on the follower"
expect_sqlstate fol "INSERT INTO kv VALUES (4, 'four')" 25006
expect_sqlstate fol "UPDATE kv SET v = 'x' WHERE k = 1" 25006
expect_sqlstate fol "DELETE FROM kv WHERE k = 1" 25006
expect_sqlstate fol "CREATE TABLE other (x INTEGER)" 25006
expect_sqlstate fol "DROP TABLE kv" 25006
expect_sqlstate fol "CREATE INDEX kv_v ON kv (v)" 25006
expect_sqlstate fol "BEGIN; INSERT INTO kv VALUES (5, 'five'); COMMIT" 25006
# Asking for read-write transactions changes nothing: whether the SET itself
# is accepted (PostgreSQL does on a standby) or refused, the write fails.
out=$(psql_to fol -At -v VERBOSITY=verbose -c "SET default_transaction_read_only = off" \
	-c "INSERT INTO kv VALUES (6, 'six')" 2>&1) && fail "write after SET default_transaction_read_only = off: $out"
log "SET default_transaction_read_only = off on the follower: $(head -n 1 <<<"$out")"
expect_match "$out" 'ERROR:  25006:' "write after SET default_transaction_read_only = off"
# Read-only work in a block is fine, and the data did not change.
expect_eq "$(q fol "BEGIN; SELECT count(*) FROM kv; COMMIT")" "BEGIN
3
COMMIT" "read-only block on the follower"
expect_eq "$(q fol "SELECT count(*) FROM kv")" "3" "follower data unchanged by the refused writes"
pgclient "$(node_conninfo fol)" params follower || fail "ParameterStatus on the follower"

# ---- the leader is writable and says so
expect_eq "$(q lead "SHOW in_hot_standby")" "off" "in_hot_standby on the leader"
expect_eq "$(q lead "SHOW transaction_read_only")" "off" "transaction_read_only on the leader"
expect_eq "$(q lead "INSERT INTO kv VALUES (4, 'four')")" "INSERT 0 1" "INSERT on the leader"
pgclient "$(node_conninfo lead)" params || fail "ParameterStatus on the leader"

# ---- multi-host connection strings
lp=$(node_port lead)
fp=$(node_port fol)
multi() { echo "host=127.0.0.1,127.0.0.1 port=$1,$2 user=$SL_USER dbname=$SL_DB target_session_attrs=$3"; }

out=$(pgclient "$(multi "$fp" "$lp" read-write)" multihost) || fail "multihost read-write: $out"
expect_match "$out" "^port=$lp\$" "read-write with the follower first reaches the leader"
out=$(pgclient "$(multi "$fp" "$lp" primary)" multihost) || fail "multihost primary: $out"
expect_match "$out" "^port=$lp\$" "primary with the follower first reaches the leader"
out=$(pgclient "$(multi "$lp" "$fp" read-only)" multihost) || fail "multihost read-only: $out"
expect_match "$out" "^port=$fp\$" "read-only with the leader first reaches the follower"
out=$(pgclient "$(multi "$lp" "$fp" standby)" multihost) || fail "multihost standby: $out"
expect_match "$out" "^port=$fp\$" "standby with the leader first reaches the follower"
out=$(pgclient "$(multi "$lp" "$fp" prefer-standby)" multihost) || fail "multihost prefer-standby: $out"
expect_match "$out" "^port=$fp\$" "prefer-standby reaches the follower"
out=$(pgclient "$(multi "$fp" "$lp" any)" multihost) || fail "multihost any: $out"
expect_match "$out" "^port=$fp\$" "any takes the first host"

# psql with the same string: it lands on the leader and can write there.
out=$(timeout 30 psql -X -w -At -v ON_ERROR_STOP=1 "$(multi "$fp" "$lp" read-write)" \
	-c '\echo :PORT' -c "INSERT INTO kv VALUES (5, 'via multi-host')" 2>&1) || fail "psql multi-host: $out"
expect_eq "$out" "$lp
INSERT 0 1" "psql read-write multi-host lands on the leader"
expect_eq "$(q lead "SELECT v FROM kv WHERE k = 5")" "via multi-host" "write through the multi-host string"

# With the leader gone, read-write finds no host; read-only still works.
node_stop lead
rc=0
out=$(pgclient "$(multi "$fp" "$lp" read-write)" multihost 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "read-write connected with only a follower up: $out"
log "read-write with only the follower up: $(head -n1 <<<"$out")"
out=$(pgclient "$(multi "$lp" "$fp" prefer-standby)" multihost) || fail "prefer-standby with the leader down: $out"
expect_match "$out" "^port=$fp\$" "prefer-standby with the leader down"

node_stop fol
