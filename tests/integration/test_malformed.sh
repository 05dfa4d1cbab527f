#!/bin/bash
# test_malformed.sh — bad bytes are harmless: malformed client input (bogus
# start-up length, truncated messages, messages longer than
# max_message_size, message lengths below 4, unknown message types) gets an
# ErrorResponse with SQLSTATE 08P01 and that one connection is closed, while
# a psql session opened before keeps working and new connections succeed.
# Also: SSLRequest is refused with 'N' and start-up continues in clear;
# authentication_timeout disconnects a client that sends nothing;
# max_connections is enforced with 53300 and a freed slot can be reused.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

node_start a --max_message_size=65536 --authentication_timeout=2s
port=$(node_port a)
sess_open a keeper
q a "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
n_ok=0

# still_fine WHAT: the old session and a new connection both work.
still_fine() {
	n_ok=$((n_ok + 1))
	expect_eq "$(sess_q keeper "INSERT INTO t VALUES ($n_ok, 'ok') ")" "INSERT 0 1" "old session after $1"
	expect_eq "$(q a "SELECT count(*) FROM t")" "$n_ok" "new connection after $1"
}

# raw WHAT HEX [rawbytes options...]: send HEX, print the replies.
raw() {
	local what=$1 hex=$2 out rc=0
	shift 2
	out=$(printf '%s\n' "$hex" | pgclient rawbytes "$port" - "$@" 2>&1) || rc=$?
	log "$what -> $(grep -E '^(E|N|SSL|EOF|RESET|TIMEOUT|FATAL)' <<<"$out" | tr '\n' ' ')"
	printf '%s\n' "$out"
	return "$rc"
}

# expect_proto_error WHAT HEX [rawbytes options...]: 08P01, then closed.
expect_proto_error() {
	local what=$1 out rc=0
	out=$(raw "$@") || rc=$?
	[ "$rc" = 0 ] || fail "$what: connection not closed by the server (rawbytes exit $rc):
$out"
	expect_match "$out" '^E 08P01 ' "$what: ErrorResponse with 08P01"
	expect_match "$(tail -n 1 <<<"$out")" '^(EOF|RESET)$' "$what: connection closed after the error"
	# Nothing but the error after the bytes were sent (no ReadyForQuery).
	if sed -n '/^sent /,$p' <<<"$out" | grep -qE '^(Z|R|S|K|D|T|C) '; then
		fail "$what: unexpected reply after the bad bytes:
$out"
	fi
	still_fine "$what"
}

# ---- before start-up
expect_proto_error "start-up length 3" "00000003 00030000"
expect_proto_error "start-up length 2^31-1" "7fffffff 00030000 75736572 00"
expect_proto_error "start-up length 0" "00000000"
expect_proto_error "garbage instead of a start-up packet" "deadbeefcafebabe0102030405060708"
# A start-up packet whose parameter list is not terminated inside its length.
expect_proto_error "start-up packet truncated inside its parameters" \
	"0000000e 00030000 75736572 0078"

# ---- after start-up (rawbytes --startup logs in first, up to ReadyForQuery)
expect_proto_error "unknown message type 'y'" "79 00000004" --startup "$SL_USER"
expect_proto_error "unknown message type 0x00" "00 00000004" --startup "$SL_USER"
expect_proto_error "message length 2 (< 4)" "51 00000002" --startup "$SL_USER"
expect_proto_error "message length 0" "51 00000000" --startup "$SL_USER"
expect_proto_error "Query longer than max_message_size (70000 > 65536)" "51 00011170" --startup "$SL_USER"
expect_proto_error "Query with length 2^31-1" "51 7fffffff" --startup "$SL_USER"
expect_proto_error "Parse longer than max_message_size" "50 00100000" --startup "$SL_USER"
# Truncated contents: a Query whose string has no terminating NUL within the
# message, and a Bind that ends before its parameter-format count.
expect_proto_error "Query string not NUL-terminated" "51 0000000c 53454c45 43542031" --startup "$SL_USER"
expect_proto_error "Bind truncated before its counts" "42 00000006 0000 53 00000004" --startup "$SL_USER"
# A Bind claiming more parameter values than it carries.
expect_proto_error "Bind with a parameter count beyond its length" \
	"50 00000011 00 53454c4543542024 31 00 0000 42 0000000e 00 00 0000 0001 00000004 53 00000004" \
	--startup "$SL_USER"

# Truncated on the wire: the header promises 100 bytes, 10 arrive, then the
# client half-closes. The server must close this connection (with or without
# an error) and nothing else is affected.
out=$(raw "message cut short by EOF" "51 00000064 53454c4543" --startup "$SL_USER" --half-close --timeout-ms 10000) ||
	fail "message cut short by EOF: connection not closed: $out"
expect_match "$(tail -n 1 <<<"$out")" '^(EOF|RESET)$' "message cut short by EOF: closed"
if sed -n '/^sent /,$p' <<<"$out" | grep -E '^E ' | grep -qv '^E 08P01'; then
	fail "message cut short by EOF: an error other than 08P01: $out"
fi
still_fine "message cut short by EOF"

# A query just under max_message_size still works.
big=$(head -c 60000 /dev/zero | tr '\0' 'x')
expect_eq "$(printf "SELECT length('%s');\n" "$big" | psql_to a -At -v ON_ERROR_STOP=1 -f -)" "60000" \
	"a 60 kB query under max_message_size=65536"
still_fine "a large valid query"

# ---- SSLRequest is refused with 'N'; start-up then continues in clear.
out=$(raw "SSLRequest then start-up" "" --ssl-request --startup "$SL_USER" --timeout-ms 2000) || true
expect_match "$out" '^SSL N$' "SSLRequest answered N"
expect_match "$out" '^Z I$' "start-up after SSLRequest reaches ReadyForQuery"
out=$(PGSSLMODE=disable timeout 30 psql -X -w -At -h 127.0.0.1 -p "$port" -U "$SL_USER" -d "$SL_DB" -c 'SELECT 1' 2>&1) ||
	fail "psql with sslmode=disable: $out"
out=$(PGSSLMODE=require timeout 30 psql -X -w -At -h 127.0.0.1 -p "$port" -U "$SL_USER" -d "$SL_DB" -c 'SELECT 1' 2>&1) &&
	fail "psql with sslmode=require connected without TLS: $out"
expect_match "$out" 'SSL|ssl' "sslmode=require refused because the server has no TLS"

# ---- Terminate closes quietly.
out=$(raw "Terminate" "58 00000004" --startup "$SL_USER") || fail "Terminate: not closed: $out"
if sed -n '/^sent /,$p' <<<"$out" | grep -q '^E '; then
	fail "Terminate answered with an error: $out"
fi
expect_match "$(tail -n 1 <<<"$out")" '^(EOF|RESET)$' "connection closed after Terminate"
still_fine "Terminate"

# ---- authentication_timeout (2 s): a client that sends nothing, or only
# part of a start-up packet, is disconnected.
start=$(now_ms)
out=$(raw "silent client" "" --timeout-ms 15000) || fail "silent client still connected after 15 s: $out"
took=$(($(now_ms) - start))
expect_match "$(tail -n 1 <<<"$out")" '^(EOF|RESET)$' "silent client disconnected"
log "silent client disconnected after $took ms"
[ "$took" -ge 1000 ] || fail "silent client disconnected after only $took ms (authentication_timeout is 2 s)"
start=$(now_ms)
out=$(raw "half a start-up packet" "00000010 0003" --timeout-ms 15000) || fail "client with half a start-up packet still connected after 15 s: $out"
log "half start-up packet client disconnected after $(($(now_ms) - start)) ms"
still_fine "authentication_timeout"

expect_eq "$(sess_q keeper "SELECT count(*) FROM t")" "$n_ok" "the first session saw every write"
sess_close keeper
node_stop a

# ---- max_connections: the 4th connection of 3 gets 53300; a slot freed by
# a client leaving is usable again.
node_start m --max_connections=3
holders=()
for i in 1 2 3; do
	"$PGCLIENT" "$(node_conninfo m)" hold 60000 >"$TEST_TMP/holder$i.out" 2>&1 &
	holders+=($!)
	bg_track $!
done
for i in 1 2 3; do
	wait_until "grep -q '^connected' '$TEST_TMP/holder$i.out'" 15 ||
		fail "holder $i did not connect: $(cat "$TEST_TMP/holder$i.out")"
done
rc=0
out=$(pgclient "$(node_conninfo m)" connect 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "4th connection accepted with max_connections=3: $out"
expect_match "$out" '^sqlstate=53300$' "4th connection refused with 53300"
out=$(psql_to m -At -c 'SELECT 1' 2>&1) && fail "psql connected beyond max_connections: $out"
log "psql beyond max_connections: $out"
kill "${holders[0]}"
wait_pid_exit "${holders[0]}" 10 || true
wait_until "pgclient '$(node_conninfo m)' connect" 15 ||
	fail "no connection possible after a holder left (slot not freed)"
for i in 1 2; do
	proc_alive "${holders[$i]}" || fail "holder $((i + 1)) lost its connection: $(cat "$TEST_TMP/holder$((i + 1)).out")"
	kill "${holders[$i]}"
	wait_pid_exit "${holders[$i]}" 10 || true
done
node_stop m
