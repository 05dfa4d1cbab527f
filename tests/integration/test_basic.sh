#!/bin/bash
# test_basic.sh — psql against one node: DDL and DML with their command tags
# and row counts, types and NULLs, empty queries, several statements in one
# query string, errors with their SQLSTATEs, SET/SHOW and start-up options
# (PGOPTIONS), casts, version(), repeat(), and large values.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a

# ---- DDL and DML with command tags
expect_eq "$(q a 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
	qty INTEGER CHECK (qty >= 0), price REAL, data BLOB)')" "CREATE TABLE" "CREATE TABLE tag"
expect_eq "$(q a "INSERT INTO items (id, name, qty, price, data) VALUES
	(1, 'apple', 5, 1.5, x'0102'), (2, 'pear', 0, 2.25, NULL), (3, 'plum', 12, 0.5, x'ff')")" \
	"INSERT 0 3" "multi-row INSERT tag"
expect_eq "$(q a "INSERT INTO items (id, name, qty) VALUES (4, 'fig', NULL)")" "INSERT 0 1" "INSERT tag"
expect_eq "$(q a "SELECT id, name, qty, price FROM items ORDER BY id")" \
"1|apple|5|1.5
2|pear|0|2.25
3|plum|12|0.5
4|fig||" "SELECT rows"
expect_eq "$(q a "UPDATE items SET qty = qty + 1 WHERE qty >= 5")" "UPDATE 2" "UPDATE tag"
expect_eq "$(q a "UPDATE items SET qty = 1 WHERE id = 999")" "UPDATE 0" "UPDATE of no row"
expect_eq "$(q a "SELECT qty FROM items WHERE id IN (1, 3) ORDER BY id")" "6
13" "values after UPDATE"
expect_eq "$(q a "DELETE FROM items WHERE id = 2")" "DELETE 1" "DELETE tag"
expect_eq "$(q a "DELETE FROM items WHERE id > 100")" "DELETE 0" "DELETE of no row"
expect_eq "$(q a "SELECT count(*) FROM items")" "3" "count after DELETE"
expect_eq "$(q a "SELECT name FROM items WHERE id > 100")" "" "SELECT of no row"

# psql's aligned output shows the row count footer.
expect_match "$(psql_to a -c 'SELECT id FROM items ORDER BY id')" '^\(3 rows\)$' "row count footer"

# ---- types and NULLs
expect_eq "$(psql_to a -At -P null=NULL -c "SELECT id, qty, price, data FROM items WHERE id = 4")" \
	"4|NULL|NULL|NULL" "NULLs shown as NULL"
expect_eq "$(psql_to a -At -P null=NULL -c "SELECT data FROM items ORDER BY id")" '\x0102
\xff
NULL' "bytea output (hex format; NULL for fig)"
expect_eq "$(q a "SELECT count(*) FROM items WHERE qty IS NULL")" "1" "IS NULL"
expect_eq "$(q a "SELECT count(*) FROM items WHERE price IS NOT NULL")" "2" "IS NOT NULL"
expect_eq "$(q a "SELECT price * 2 FROM items WHERE id = 1")" "3" "REAL arithmetic"
expect_eq "$(q a "SELECT 9223372036854775807, -9223372036854775808")" \
	"9223372036854775807|-9223372036854775808" "int8 limits"
uni='h€llo wörld ✓ 日本'
q a "CREATE TABLE utf (s TEXT)" >/dev/null
q a "INSERT INTO utf VALUES ('$uni')" >/dev/null
expect_eq "$(q a "SELECT s, length(s) FROM utf")" "$uni|16" "UTF-8 round trip"
expect_eq "$(q a "SELECT 'it''s'")" "it's" "quote escaping"

# ---- empty queries and several statements in one query string
out=$(psql_to a -At -v ON_ERROR_STOP=1 -c '' 2>&1) || fail "empty query failed: $out"
expect_eq "$out" "" "empty query output"
out=$(psql_to a -At -v ON_ERROR_STOP=1 -c ';' 2>&1) || fail "';' failed: $out"
expect_eq "$out" "" "';' output"
expect_eq "$(q a "INSERT INTO items (id, name, qty) VALUES (10, 'kiwi', 1); UPDATE items SET qty = 2 WHERE id = 10;
	SELECT name, qty FROM items WHERE id = 10; DELETE FROM items WHERE id = 10")" \
"INSERT 0 1
UPDATE 1
kiwi|2
DELETE 1" "several statements in one query"
# An error in a multi-statement query string undoes all of it.
expect_sqlstate a "INSERT INTO items (id, name) VALUES (20, 'x'); INSERT INTO items (id, name) VALUES (1, 'dup')" 23505
expect_eq "$(q a "SELECT count(*) FROM items WHERE id = 20")" "0" "multi-statement query rolled back as a whole"
pgclient "$(node_conninfo a)" simple || fail "pgclient simple failed"

# ---- errors with SQLSTATE
expect_sqlstate a "INSERT INTO items (id, name) VALUES (1, 'again')" 23505
expect_sqlstate a "INSERT INTO items (id, name) VALUES (50, 'apple')" 23505
expect_sqlstate a "INSERT INTO items (id, name) VALUES (51, NULL)" 23502
expect_sqlstate a "INSERT INTO items (id, name, qty) VALUES (52, 'neg', -1)" 23514
expect_sqlstate a "UPDATE items SET qty = -5 WHERE id = 1" 23514
expect_sqlstate a "SELEC 1" 42601
expect_sqlstate a "SELECT * FROM items WHERE" 42601
expect_sqlstate a "SELECT * FROM no_such_table" 42P01
expect_sqlstate a "INSERT INTO no_such_table VALUES (1)" 42P01
expect_sqlstate a "SELECT no_such_column FROM items" 42703
expect_sqlstate a "UPDATE items SET no_such_column = 1" 42703
expect_sqlstate a "CREATE TABLE items (x INTEGER)" 42P07
expect_eq "$(q a "SELECT count(*) FROM items")" "3" "failed statements changed nothing"
# psql reports the error's primary message too.
out=$(q_raw a "INSERT INTO items (id, name) VALUES (1, 'again')") && fail "duplicate insert succeeded"
expect_match "$out" 'ERROR:  23505: .*(duplicate|unique|UNIQUE)' "unique violation message"

# ---- SET / SHOW
expect_eq "$(q a "SET application_name = 'basic-test'; SHOW application_name")" "SET
basic-test" "SET/SHOW application_name"
expect_eq "$(q a "SET application_name TO 'other'; SHOW application_name")" "SET
other" "SET ... TO"
expect_eq "$(q a "SHOW client_encoding")" "UTF8" "client_encoding"
expect_eq "$(q a "SHOW server_encoding")" "UTF8" "server_encoding"
expect_eq "$(q a "SHOW standard_conforming_strings")" "on" "standard_conforming_strings"
expect_eq "$(q a "SHOW integer_datetimes")" "on" "integer_datetimes"
expect_match "$(q a "SHOW DateStyle")" '^ISO' "DateStyle"
expect_match "$(q a "SHOW server_version")" '^[0-9]+' "server_version"
expect_eq "$(q a "SHOW transaction_read_only")" "off" "transaction_read_only on the leader"
# A SET lasts for the session only.
expect_eq "$(q a "SHOW application_name")" "psql" "application_name in a new session"
expect_sqlstate a "SET no_such_setting_xyz = 1" 42704
expect_sqlstate a "SHOW no_such_setting_xyz" 42704

# ---- start-up options (libpq options=, PGOPTIONS)
expect_eq "$(PGOPTIONS='-c statement_timeout=1500 --lock-timeout=2s -cwork_mem=4MB -c search_path=a\ b' \
	q a "SHOW statement_timeout; SHOW lock_timeout; SHOW work_mem; SHOW search_path")" "1500ms
2s
4MB
a b" "settings from the start-up options"
out=$(PGOPTIONS='-c statement_timeout' psql_to a -At -c "SELECT 1" 2>&1) && fail "a start-up option without a value was accepted: $out"
expect_match "$out" 'not name=value' "a start-up option without a value"
out=$(PGOPTIONS='-X' psql_to a -At -c "SELECT 1" 2>&1) && fail "an unknown start-up flag was accepted: $out"
expect_match "$out" 'unsupported start-up option' "an unknown start-up flag"

# ---- casts
expect_eq "$(q a "SELECT '1'::int + 1")" "2" "'1'::int"
expect_eq "$(q a "SELECT '42'::integer, '7'::bigint * 2, '2.5'::float8 * 2")" "42|14|5" "numeric casts"
expect_eq "$(q a "SELECT '\\x0102'::bytea")" '\x0102' "'\\x0102'::bytea"
expect_eq "$(q a "SELECT length('\\x0102'::bytea)")" "2" "length of a bytea"
expect_eq "$(q a "SELECT 12::text || 'a'")" "12a" "::text"
expect_eq "$(q a "SELECT CAST('5' AS INTEGER) + 1")" "6" "CAST(... AS INTEGER)"

# ---- functions
v=$(q a "SELECT version()")
expect_match "$v" '[0-9]' "version()"
log "version() = $v"
expect_eq "$(q a "SELECT repeat('ab', 3)")" "ababab" "repeat()"
expect_eq "$(q a "SELECT repeat('x', 0)")" "" "repeat(x, 0)"
expect_eq "$(q a "SELECT length(repeat('xy', 50000))")" "100000" "length(repeat())"
# A one-megabyte value travels whole in one DataRow.
n=$(psql_to a -At -v ON_ERROR_STOP=1 -c "SELECT repeat('z', 1048576)" | tr -d '\n' | wc -c)
expect_eq "$n" "1048576" "size of a 1 MB result value"
big=$(head -c 200000 /dev/zero | tr '\0' 'q')
expect_eq "$(printf "SELECT length('%s');\n" "$big" | psql_to a -At -v ON_ERROR_STOP=1 -f -)" "200000" \
	"200 kB query string"

# ---- the node keeps running and stops cleanly
node_stop a
