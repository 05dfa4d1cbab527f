#!/bin/bash
# test_tls.sh — TLS on the client port (ssl = on), with certificates from
# scripts/make-certs:
#
#  1. start-up refuses a key file that group or others may read, and
#     ssl_required without ssl;
#  2. psql (libpq) with sslmode=require gets TLS 1.3 and logs in with
#     SCRAM; verify-full passes against the CA for localhost and 127.0.0.1
#     and fails for another host name; verify-ca fails against another
#     CA; a client certificate the CA signed is accepted, one another CA
#     signed is refused; sslmode=disable still works in clear;
#  3. a 4 MB result and 2000 pipelined statements come through TLS exactly
#     as in clear;
#  4. a recording proxy between psql and the server sees the row text in
#     clear without TLS, and none of it with sslmode=require;
#  5. PostgreSQL 17's direct TLS: with ALPN "postgresql" the server asks
#     for authentication; without ALPN it answers 08P01; with another
#     protocol the handshake fails; bytes sent in clear right after an
#     SSLRequest get 08P01 and no 'S';
#  6. ssl_required = on refuses a client in clear with 28000, serves one
#     with TLS, and a cancel request (sent in clear by libpq) still works;
#  7. a server without ssl answers SSLRequest 'N': sslmode=require fails,
#     prefer falls back to clear.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

certs=$TEST_TMP/certs
rogue=$TEST_TMP/rogue
"$TOP_SRCDIR/scripts/make-certs" "$certs" node sluice
"$TOP_SRCDIR/scripts/make-certs" "$rogue" node sluice
PROBE=$TOP_SRCDIR/tests/integration/tlsprobe.py

export PGPASSWORD=tls-pw-1
pwfile=$TEST_TMP/passwords
echo "$SL_USER:$PGPASSWORD" >"$pwfile"
chmod 600 "$pwfile"
TLS=(--ssl=on "--ssl_cert_file=$certs/node.crt" "--ssl_key_file=$certs/node.key"
	--auth_method=scram-sha-256 "--password_file=$pwfile")

# via NODE CONNINFO PSQL-ARGS...: psql to NODE with extra connection options.
via() {
	local n=$1 extra=$2
	shift 2
	timeout -k 5 "$QUERY_TIMEOUT" psql -X -w -At -v VERBOSITY=verbose \
		"hostaddr=127.0.0.1 port=$(node_port "$n") user=$SL_USER dbname=$SL_DB $extra" "$@" 2>&1
}

# refused_at_start NAME WHAT ARGS...: sluiced exits 1 at start-up, saying WHAT.
refused_at_start() {
	local n=$1 what=$2 rc=0
	shift 2
	node_launch "$n" "$@"
	wait_pid_exit "$(node_pid "$n")" 30 || rc=$?
	[ "$rc" = 1 ] || fail "start-up with $n's settings: exit $rc (want 1)"
	grep -q -- "$what" "$(node_log "$n")" || fail "no \"$what\" in $n's log: $(tail -n 3 "$(node_log "$n")")"
	log "ok: start-up refused: $what"
}

# ------------------------------------------------------------ 1. start-up
cp "$certs/node.key" "$TEST_TMP/open.key"
chmod 644 "$TEST_TMP/open.key"
refused_at_start badkey "has group or world access" "${TLS[@]}" "--ssl_key_file=$TEST_TMP/open.key"
refused_at_start badreq "ssl_required = on needs ssl = on" --ssl_required=on
refused_at_start badcert "could not load ssl_cert_file" "${TLS[@]}" "--ssl_cert_file=$TEST_TMP/none.crt"

# ------------------------------------------------------------ 2. libpq
node_start tls "${TLS[@]}" "--ssl_ca_file=$certs/ca.crt"
out=$(via tls "sslmode=require" -c '\conninfo') || fail "sslmode=require: $out"
expect_match "$out" "SSL connection \(protocol: TLSv1\.3" "sslmode=require gets TLS 1.3"
expect_eq "$(via tls "sslmode=require" -c "SELECT 'in over tls'")" "in over tls" "a query over TLS"
for host in localhost 127.0.0.1; do
	out=$(via tls "host=$host sslmode=verify-full sslrootcert=$certs/ca.crt" -c "SELECT 'verified'") ||
		fail "verify-full as $host: $out"
	expect_eq "$out" verified "verify-full as $host"
done
out=$(via tls "host=wrong.example sslmode=verify-full sslrootcert=$certs/ca.crt" -c "SELECT 1") &&
	fail "verify-full succeeded for a host name the certificate does not name: $out"
expect_match "$out" 'does not match host name "wrong.example"' "verify-full for another host name"
out=$(via tls "sslmode=verify-ca sslrootcert=$rogue/ca.crt" -c "SELECT 1") &&
	fail "verify-ca succeeded against another CA: $out"
expect_match "$out" "certificate verify failed" "verify-ca against another CA"
out=$(via tls "sslmode=verify-full host=localhost sslrootcert=$certs/ca.crt sslcert=$certs/sluice.crt sslkey=$certs/sluice.key" \
	-c "SELECT 'with a client certificate'") || fail "a client certificate of the CA: $out"
expect_eq "$out" "with a client certificate" "a client certificate of the CA"
out=$(via tls "sslmode=require sslcert=$rogue/sluice.crt sslkey=$rogue/sluice.key" -c "SELECT 1") &&
	fail "a client certificate of another CA was accepted: $out"
log "ok: a client certificate of another CA is refused: $(head -n 1 <<<"$out")"
grep -q "TLS handshake failed" "$(node_log tls)" || fail "the refused client certificate left no line in the log"
out=$(via tls "sslmode=disable" -c '\conninfo' -c "SELECT 'in clear'") || fail "sslmode=disable: $out"
! grep -q "SSL connection" <<<"$out" || fail "sslmode=disable used TLS: $out"
expect_match "$out" "in clear" "sslmode=disable works"

# ------------------------------------------------------------ 3. volume
big="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
	SELECT x, hex(zeroblob(100)) FROM c"
sum_tls=$(via tls "sslmode=require" -c "$big" | md5sum)
sum_clear=$(via tls "sslmode=disable" -c "$big" | md5sum)
expect_eq "$sum_tls" "$sum_clear" "a 4 MB result over TLS and in clear"
[ "$(via tls "sslmode=disable" -c "$big" | grep -c '')" = 20000 ] || fail "the big result does not have 20000 rows"
q tls "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
for ((i = 1; i <= 2000; i++)); do echo "INSERT INTO t VALUES ($i, 'row $i');"; done >"$TEST_TMP/inserts.sql"
out=$(via tls "sslmode=require" -v ON_ERROR_STOP=1 -q -f "$TEST_TMP/inserts.sql") || fail "2000 inserts over TLS: $out"
expect_eq "$(via tls "sslmode=require" -c "SELECT count(*), sum(id) FROM t")" "2000|2001000" "2000 inserts over TLS"
log "ok: 4 MB result and 2000 statements over TLS"

# ------------------------------------------------------------ 4. on the wire
# record MODE: run a query through a recording proxy; prints the capture file.
record() {
	local mode=$1 cap=$TEST_TMP/wire.$1 pf=$TEST_TMP/proxy.$1.port pid out
	python3 "$PROBE" record "$pf" "$(node_port tls)" "$cap" 20 &
	pid=$!
	bg_track "$pid"
	wait_until "[ -s '$pf' ]" 10 || fail "the recording proxy did not start"
	out=$(timeout -k 5 "$QUERY_TIMEOUT" psql -X -w -At "hostaddr=127.0.0.1 port=$(cat "$pf") user=$SL_USER dbname=$SL_DB sslmode=$mode" \
		-c "INSERT INTO t VALUES (90001, 'wire-secret-row-text') RETURNING v" -c "DELETE FROM t WHERE id = 90001" 2>&1) ||
		fail "psql through the recording proxy ($mode): $out"
	expect_match "$out" "wire-secret-row-text" "the row through the proxy ($mode)"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "$cap"
}
cap=$(record disable)
grep -qa "wire-secret-row-text" "$cap" || fail "the recording proxy did not see the row text in clear: it records nothing"
cap=$(record require)
[ -s "$cap" ] || fail "the recording proxy recorded nothing with TLS"
! grep -qa "wire-secret-row-text" "$cap" || fail "the row text crossed the wire in clear with sslmode=require"
! grep -qa "INSERT INTO" "$cap" || fail "the statement crossed the wire in clear with sslmode=require"
log "ok: the proxy sees the row in clear without TLS, and $(wc -c <"$cap") bytes without it with TLS"

# ------------------------------------------------------------ 5. direct TLS
expect_eq "$(python3 "$PROBE" direct "$(node_port tls)" "$certs/ca.crt" postgresql)" R \
	"direct TLS with ALPN postgresql"
expect_match "$(python3 "$PROBE" direct "$(node_port tls)" "$certs/ca.crt" -)" \
	"^E 08P01 received direct SSL connection request without ALPN" "direct TLS without ALPN"
expect_match "$(python3 "$PROBE" direct "$(node_port tls)" "$certs/ca.crt" http/1.1)" \
	"^handshake failed" "direct TLS with ALPN http/1.1"
expect_match "$(python3 "$PROBE" stuffed "$(node_port tls)")" \
	"^E 08P01 received unencrypted data after SSL request" "bytes in clear after an SSLRequest"
expect_eq "$(via tls "sslmode=require" -c "SELECT count(*) FROM t")" 2000 "the server serves on after the probes"
node_stop tls

# ------------------------------------------------------------ 6. ssl_required
node_start req "${TLS[@]}" --ssl_required=on
out=$(via req "sslmode=disable" -c "SELECT 1") && fail "ssl_required = on served a client in clear: $out"
expect_match "$out" "FATAL:  this server accepts only TLS connections" "psql in clear under ssl_required"
out=$(pgclient "hostaddr=127.0.0.1 port=$(node_port req) user=$SL_USER dbname=$SL_DB sslmode=disable" connect 2>&1) &&
	fail "ssl_required = on let libpq in clear: $out"
expect_match "$out" "^sqlstate=28000$" "libpq in clear under ssl_required"
expect_eq "$(via req "sslmode=require" -c "SELECT 'required and used'")" "required and used" "TLS under ssl_required"
psql -X -w -At -v VERBOSITY=verbose "hostaddr=127.0.0.1 port=$(node_port req) user=$SL_USER dbname=$SL_DB sslmode=require" \
	-c "SELECT pg_sleep(30)" >"$TEST_TMP/cancel.out" 2>&1 &
cp=$!
bg_track "$cp"
sleep 1
kill -INT "$cp"
rc=0
wait_pid_exit "$cp" 10 || rc=$?
[ "$rc" != 124 ] || fail "psql's cancel did not end pg_sleep(30) under ssl_required"
expect_match "$(cat "$TEST_TMP/cancel.out")" "57014" "a cancel request under ssl_required"
node_stop req

# ------------------------------------------------------------ 7. no ssl
PGPASSWORD= node_start plain
out=$(via plain "sslmode=require" -c "SELECT 1") && fail "sslmode=require succeeded against ssl = off: $out"
expect_match "$out" "server does not support SSL" "sslmode=require against ssl = off"
out=$(via plain "sslmode=prefer" -c '\conninfo') || fail "sslmode=prefer against ssl = off: $out"
! grep -q "SSL connection" <<<"$out" || fail "TLS against ssl = off: $out"
node_stop plain
log "PASS"
