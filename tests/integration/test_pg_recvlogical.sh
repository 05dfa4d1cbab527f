#!/bin/bash
# test_pg_recvlogical.sh — PostgreSQL's own pg_recvlogical against sluice,
# compared line for line with what it prints against PostgreSQL 15.
#
# A sluice leader (log_mode = logical) and a PostgreSQL 15 server
# (wal_level = logical) get the same tables and the same statements: every
# column type sluice maps (integer, text with a quote and a newline, double
# precision, bytea, boolean, numeric, smallint, bigint, varchar(10), int4),
# NULLs, an UPDATE of every column, one of a composite key's table,
# deletes, a transaction of two tables, one rolled back, and DDL. (Where
# sluice's log differs by design, docs/CDC.md says so: a key that moves is
# a delete and an insert, a transaction's changes to one row are one.) pg_recvlogical
# --create-slot / --start --endpos / --drop-slot runs unchanged against both,
# with test_decoding (xids aside, which differ by nature) and wal2json's
# format-version 2 (with and without include-xids, include-lsn,
# include-timestamp: compared with those fields aside); the outputs must be
# the same. Then on sluice only:
#   - a second --start with the same slot prints exactly the transactions
#     committed since (the slot was confirmed); a table made while a stream
#     runs is named with its declared types; a slot made with -P sluice
#     prints sluice's own events;
#   - --drop-slot removes the slot (sluice_slots);
#   - refusals: a physical replication connection (0A000), a replication
#     command on an ordinary connection (42601), START_REPLICATION of a slot
#     that does not exist (42704), wal2json without format-version 2 and an
#     unknown plugin option (22023), an unknown plugin (58P01).
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/postgres" ] || fail "no PostgreSQL 15 server in $PGBIN (Debian package postgresql)"
[ -f "$("$PGBIN/pg_config" --pkglibdir)/wal2json.so" ] || fail "no wal2json for PostgreSQL 15 (Debian package postgresql-15-wal2json)"

# ------------------------------------------------------------ the servers
leader_start s1 --log_mode=logical
SL_PORT=$(node_port s1)

PGDIR=$(mktemp -d /tmp/sluice-pg15.XXXXXX)
at_exit "runuser -u postgres -- $PGBIN/pg_ctl -D $PGDIR/data -m immediate stop >/dev/null 2>&1; rm -rf $PGDIR"
chown postgres "$PGDIR"
as_pg() { (cd /tmp && runuser -u postgres -- "$@"); }
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U sluice --no-instructions >"$PGDIR/initdb.out" 2>&1 ||
	fail "initdb failed: $(tail -n 5 "$PGDIR/initdb.out")"
read -r PG_PORT < <(free_ports 1)
cat >>"$PGDIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PGDIR'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
EOF
as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null ||
	fail "PostgreSQL did not start: $(tail -n 5 "$PGDIR/server.log")"
log "PostgreSQL 15 on port $PG_PORT"

# both SQL: the same statement on both servers
sl() { psql -h 127.0.0.1 -p "$SL_PORT" -U sluice -d sluice -X -q -v ON_ERROR_STOP=1 -c "$1"; }
pg() { psql -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres -X -q -v ON_ERROR_STOP=1 -c "$1"; }
both() { sl "$1" >/dev/null || fail "sluice: $1"; pg "$1" >/dev/null || fail "PostgreSQL: $1"; }
recv_sl() { timeout 60 pg_recvlogical -h 127.0.0.1 -p "$SL_PORT" -U sluice -d sluice "$@"; }
recv_pg() { timeout 60 pg_recvlogical -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres "$@"; }
end_sl() { psql -h 127.0.0.1 -p "$SL_PORT" -U sluice -d sluice -X -Atc "SELECT sluice_current_lsn()"; }
end_pg() { psql -h 127.0.0.1 -p "$PG_PORT" -U sluice -d postgres -X -Atc "SELECT pg_current_wal_lsn()"; }

both "CREATE TABLE t(id integer PRIMARY KEY, v text, r double precision, b bytea, flag boolean, n numeric,
	s smallint, big bigint, vc varchar(10))"
both "CREATE TABLE p(a integer, b text, v integer, PRIMARY KEY (a, b))"
both "CREATE TABLE u2(k int4 PRIMARY KEY)"
for slot in td wj wjx; do
	plugin=test_decoding
	[ "$slot" = td ] || plugin=wal2json
	recv_sl --slot "$slot" --create-slot -P "$plugin" || fail "sluice: pg_recvlogical --create-slot $slot"
	recv_pg --slot "$slot" --create-slot -P "$plugin" || fail "PostgreSQL: pg_recvlogical --create-slot $slot"
done

# ------------------------------------------------------------ the workload
both "INSERT INTO t VALUES (1, E'it''s\\na line', 1.5, '\\x00ff'::bytea, true, 1.25, 3, 9000000000, 'x')"
both "INSERT INTO t VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
both "UPDATE t SET v = 'c', r = -0.25, b = '\\x01'::bytea, flag = false, n = 10, s = 4, big = -5, vc = 'yy' WHERE id = 1"
# (a transaction's changes to one row are merged into one, and the rows of
# one table do not come in statement order: so one row per table here)
both "BEGIN; INSERT INTO p VALUES (1, 'x', 1); INSERT INTO u2 VALUES (1); COMMIT"
both "INSERT INTO p VALUES (2, 'y', 2)"
both "UPDATE p SET v = 3 WHERE a = 1"
both "DELETE FROM p WHERE a = 2"
both "BEGIN; INSERT INTO t(id, v) VALUES (50, 'rolled back'); ROLLBACK"
both "DELETE FROM t WHERE id = 2"
both "CREATE TABLE u(k integer PRIMARY KEY)"
both "INSERT INTO u VALUES (7)"

# test_decoding, xids aside
recv_sl --slot td --start -E "$(end_sl)" -f "$TEST_TMP/td.sluice" || fail "sluice: pg_recvlogical --start (test_decoding)"
recv_pg --slot td --start -E "$(end_pg)" -f "$TEST_TMP/td.pg" || fail "PostgreSQL: pg_recvlogical --start (test_decoding)"
for f in td.sluice td.pg; do sed -E 's/^(BEGIN|COMMIT) [0-9]+/\1 N/' "$TEST_TMP/$f" >"$TEST_TMP/$f.n"; done
[ "$(grep -c '^table ' "$TEST_TMP/td.pg.n")" -ge 8 ] || fail "PostgreSQL's stream is short: $(cat "$TEST_TMP/td.pg")"
diff "$TEST_TMP/td.pg.n" "$TEST_TMP/td.sluice.n" >"$TEST_TMP/td.diff" ||
	fail "test_decoding's output differs from PostgreSQL 15's (< PostgreSQL, > sluice):
$(cat "$TEST_TMP/td.diff")"
log "test_decoding: $(wc -l <"$TEST_TMP/td.pg") lines, the same as PostgreSQL 15's"

# wal2json format-version 2, plain and with every transaction field
recv_sl --slot wj --start -E "$(end_sl)" -f "$TEST_TMP/wj.sluice" -o format-version=2 || fail "sluice: wal2json"
recv_pg --slot wj --start -E "$(end_pg)" -f "$TEST_TMP/wj.pg" -o format-version=2 || fail "PostgreSQL: wal2json"
diff "$TEST_TMP/wj.pg" "$TEST_TMP/wj.sluice" >"$TEST_TMP/wj.diff" ||
	fail "wal2json's output differs from PostgreSQL 15's (< PostgreSQL, > sluice):
$(cat "$TEST_TMP/wj.diff")"
opts=(-o format-version=2 -o include-xids=1 -o include-lsn=1 -o include-timestamp=1 -o include-type-oids=1)
recv_sl --slot wjx --start -E "$(end_sl)" -f "$TEST_TMP/wjx.sluice" "${opts[@]}" || fail "sluice: wal2json with options"
recv_pg --slot wjx --start -E "$(end_pg)" -f "$TEST_TMP/wjx.pg" "${opts[@]}" || fail "PostgreSQL: wal2json with options"
# the fields whose values differ by nature must be there; then they are left out
for f in wjx.sluice wjx.pg; do
	python3 - "$TEST_TMP/$f" >"$TEST_TMP/$f.n" <<'PY' || fail "$f: a message without xid, lsn or timestamp"
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    for k in ("xid", "lsn", "timestamp"):
        if k not in m:
            sys.exit("no %s in %s" % (k, line))
        del m[k]
    m.pop("nextlsn", None)
    print(json.dumps(m, separators=(",", ":")))
PY
done
diff "$TEST_TMP/wjx.pg.n" "$TEST_TMP/wjx.sluice.n" >"$TEST_TMP/wjx.diff" ||
	fail "wal2json's output with include-xids, -lsn, -timestamp, -type-oids differs from PostgreSQL 15's:
$(cat "$TEST_TMP/wjx.diff")"
log "wal2json: $(wc -l <"$TEST_TMP/wj.pg") lines, the same as PostgreSQL 15's (and with the options)"

# ---------------------------------------------------- sluice: resume, plugins
sl "INSERT INTO u VALUES (8)" >/dev/null
recv_sl --slot td --start -E "$(end_sl)" -f "$TEST_TMP/td2.sluice" || fail "second pg_recvlogical --start"
got=$(sed -E 's/^(BEGIN|COMMIT) [0-9]+/\1 N/' "$TEST_TMP/td2.sluice")
expect_eq "$got" "BEGIN N
table public.u: INSERT: k[integer]:8
COMMIT N" "the second stream of slot td (only what came since)"
expect_eq "$(q s1 "SELECT lag_bytes FROM sluice_slots WHERE slot_name = 'td'")" 0 "slot td's lag after --endpos"
# a table made while a stream runs is named with its declared types (the
# stream's reader connections see the new schema)
pg_recvlogical -h 127.0.0.1 -p "$SL_PORT" -U sluice -d sluice --slot td --start -s 1 -f "$TEST_TMP/td3.sluice" &
stream=$!
bg_track "$stream"
sl "INSERT INTO u VALUES (10)" >/dev/null
wait_until "grep -q 'k\[integer\]:10' '$TEST_TMP/td3.sluice'" 30 || fail "the running stream did not show u's row"
sl "CREATE TABLE u4(k int4 PRIMARY KEY, v varchar(5))" >/dev/null
sl "INSERT INTO u4 VALUES (1, 'x')" >/dev/null
wait_until "grep -q 'table public.u4' '$TEST_TMP/td3.sluice'" 30 || fail "the running stream did not show u4's row"
kill -INT "$stream"
wait "$stream" || true
expect_eq "$(grep 'table public.u4' "$TEST_TMP/td3.sluice")" "table public.u4: INSERT: k[integer]:1 v[character varying]:'x'" \
	"a row of a table made while the stream ran"
recv_sl --slot own --create-slot -P sluice || fail "pg_recvlogical --create-slot -P sluice"
sl "INSERT INTO u VALUES (9)" >/dev/null
recv_sl --slot own --start -E "$(end_sl)" -f "$TEST_TMP/own.sluice" || fail "pg_recvlogical --start -P sluice"
expect_match "$(cat "$TEST_TMP/own.sluice")" '"event":"change".*"table":"u","op":"insert","key":\{"k":9\}' \
	"the sluice plugin's events"
recv_sl --slot own --drop-slot || fail "pg_recvlogical --drop-slot"
expect_eq "$(q s1 "SELECT group_concat(slot_name || ':' || plugin, ' ') FROM (SELECT * FROM sluice_slots ORDER BY slot_name)")" \
	"td:test_decoding wj:wal2json wjx:wal2json" "slots after --drop-slot own"

# ------------------------------------------------------------- refusals
rc=0
out=$(psql "host=127.0.0.1 port=$SL_PORT user=sluice dbname=sluice replication=true" -X -c "IDENTIFY_SYSTEM" 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a physical replication connection was served: $out"
expect_match "$out" "physical replication connections are not served" "a physical replication connection"
expect_sqlstate s1 "IDENTIFY_SYSTEM" 42601
repl() { psql "host=127.0.0.1 port=$SL_PORT user=sluice dbname=sluice replication=database" -X -v VERBOSITY=verbose -c "$1" 2>&1 || true; }
out=$(repl "IDENTIFY_SYSTEM")
expect_match "$out" "$(end_sl) *\| *sluice" "IDENTIFY_SYSTEM's xlogpos and dbname"
expect_match "$(repl 'START_REPLICATION SLOT "nope" LOGICAL 0/0')" "42704.*\"nope\" does not exist" "START_REPLICATION of no slot"
expect_match "$(repl 'START_REPLICATION SLOT "wj" LOGICAL 0/0')" "22023.*format-version" "wal2json without format-version"
expect_match "$(repl "START_REPLICATION SLOT \"td\" LOGICAL 0/0 (\"no-such-option\" '1')")" \
	'22023.*option "no-such-option" = "1" is unknown' "an unknown test_decoding option"
expect_match "$(repl 'CREATE_REPLICATION_SLOT "x" LOGICAL "pgoutput"')" "58P01.*pgoutput" "an unknown plugin"
expect_match "$(repl 'CREATE_REPLICATION_SLOT "x" TEMPORARY LOGICAL "test_decoding"')" "0A000.*temporary" \
	"a temporary slot"
recv_sl --slot td --drop-slot || fail "pg_recvlogical --drop-slot td"
log "PASS"
