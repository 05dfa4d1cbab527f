#!/bin/bash
# test_auth.sh — authentication: auth_method=password and scram-sha-256 with
# a password_file holding plain secrets and a SCRAM-SHA-256 verifier (made
# here with python3's hashlib.pbkdf2_hmac, as PostgreSQL makes them): the
# right password logs in, a wrong one or an unknown user fails with 28P01;
# the server asks for the method configured (AuthenticationCleartextPassword
# = R 3, SASL = R 10, none = R 0); trust accepts any user and database; a
# malformed password file stops start-up naming file:line. is_superuser is
# on only for the users of admin_users (every user under trust); a password
# file that others than its owner may read is used with a warning in the
# log, one of mode 600 without.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

make_verifier() {
	python3 -c '
import base64, hashlib, hmac, os, sys
pw = sys.argv[1].encode(); salt = os.urandom(16); it = 4096
salted = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
stored_key = hashlib.sha256(client_key).digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${it}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}")' "$1"
}

# startup_probe PORT USER: the replies to a bare startup packet (the server
# then waits for a password, so this ends in TIMEOUT or EOF).
startup_probe() {
	startup_hex "$2" | pgclient rawbytes "$1" - --timeout-ms 1000 || true
}

# can_login NODE USER PASSWORD: psql and libpq both log in and run a query.
can_login() {
	local n=$1 user=$2 pw=$3 out
	out=$(PGPASSWORD=$pw timeout 30 psql -X -At -h 127.0.0.1 -p "$(node_port "$n")" -U "$user" -d "$SL_DB" -w \
		-c "SELECT 'in as $user'" 2>&1) || fail "psql login of $user on $n failed: $out"
	expect_eq "$out" "in as $user" "psql login of $user on $n"
	out=$(PGPASSWORD=$pw pgclient "host=127.0.0.1 port=$(node_port "$n") user=$user dbname=$SL_DB" connect 2>&1) ||
		fail "libpq login of $user on $n failed: $out"
	log "ok: $user logs in on $n"
}

# cannot_login NODE USER PASSWORD STATE
cannot_login() {
	local n=$1 user=$2 pw=$3 state=$4 out rc=0
	out=$(PGPASSWORD=$pw pgclient "host=127.0.0.1 port=$(node_port "$n") user=$user dbname=$SL_DB" connect 2>&1) ||
		rc=$?
	[ "$rc" != 0 ] || fail "$user with password '$pw' logged in on $n: $out"
	expect_match "$out" "^sqlstate=$state\$" "failed login of $user on $n"
	out=$(PGPASSWORD=$pw timeout 30 psql -X -At -h 127.0.0.1 -p "$(node_port "$n")" -U "$user" -d "$SL_DB" -w \
		-c "SELECT 1" 2>&1) && fail "psql login of $user with a wrong password succeeded on $n: $out"
	expect_match "$out" 'authentication failed' "psql's message for $user on $n"
	log "ok: $user/'$pw' refused on $n with $state"
}

pwfile=$TEST_TMP/passwords
bob_verifier=$(make_verifier 'bob-s3cret')
cat >"$pwfile" <<PWEOF
# users for test_auth
alice:alice-pw

bob:$bob_verifier
carol:pa:ss:wörd
PWEOF
chmod 644 "$pwfile"

# ---- auth_method=password: cleartext password, checked against either kind
SL_USER=alice PGPASSWORD=alice-pw node_start pw --auth_method=password "--password_file=$pwfile"
expect_match "$(startup_probe "$(node_port pw)" alice)" '^R 3$' "password method asks for a cleartext password"
can_login pw alice alice-pw
can_login pw bob bob-s3cret
can_login pw carol 'pa:ss:wörd'
cannot_login pw alice wrong 28P01
cannot_login pw bob alice-pw 28P01
cannot_login pw mallory alice-pw 28P01
expect_match "$(startup_probe "$(node_port pw)" mallory)" '^R 3$' "unknown users are asked for a password too"

grep -q "the password file can be read or changed by other users than its owner (mode 0644)" "$(node_log pw)" ||
	fail "no warning about a password file of mode 644 in the log"

# ---- auth_method=scram-sha-256
chmod 600 "$pwfile"
SL_USER=alice PGPASSWORD=alice-pw node_start scram --auth_method=scram-sha-256 "--password_file=$pwfile" --admin_users=alice
! grep -q "the password file can be read" "$(node_log scram)" || fail "a warning about a password file of mode 600"
expect_eq "$(SL_USER=alice PGPASSWORD=alice-pw psql_to scram -At -c "SHOW is_superuser")" on "is_superuser for alice, an admin user"
expect_eq "$(SL_USER=bob PGPASSWORD=bob-s3cret psql_to scram -At -c "SHOW is_superuser")" off "is_superuser for bob"
expect_eq "$(SL_USER=bob PGPASSWORD=bob-s3cret psql_to scram -At -c "SELECT current_setting('is_superuser')")" off \
	"current_setting('is_superuser') for bob"
expect_match "$(startup_probe "$(node_port scram)" alice)" '^R 10$' "scram-sha-256 method asks for SASL"
expect_match "$(startup_probe "$(node_port scram)" mallory)" '^R 10$' "SASL also for unknown users"
can_login scram alice alice-pw
can_login scram bob bob-s3cret
can_login scram carol 'pa:ss:wörd'
cannot_login scram alice alice-pwx 28P01
cannot_login scram bob bob-s3cre 28P01
cannot_login scram mallory bob-s3cret 28P01
# After failures, logins still work.
can_login scram bob bob-s3cret

# ---- trust: any user, any database, no password
node_start tr
expect_match "$(startup_probe "$(node_port tr)" whoever)" '^R 0$' "trust sends AuthenticationOk"
out=$(timeout 30 psql -X -At -h 127.0.0.1 -p "$(node_port tr)" -U someone -d anydb -w -c "SELECT 'trusted'" 2>&1) ||
	fail "trust login failed: $out"
expect_eq "$out" "trusted" "trust login"
expect_eq "$(psql_to tr -At -c "SHOW is_superuser")" on "is_superuser under trust"
PGPASSWORD=whatever pgclient "host=127.0.0.1 port=$(node_port tr) user=x dbname=y" connect >/dev/null ||
	fail "trust login with an unneeded password failed"

# ---- a malformed password file stops start-up with file:line
badfile=$TEST_TMP/bad-passwords
printf '# ok\nalice:pw\nthis line has no colon\n' >"$badfile"
rc=0
out=$(timeout 20 "$SLUICED" --listen_address=127.0.0.1 --port=0 "--data_dir=$TEST_TMP/bad-data" \
	--auth_method=password "--password_file=$badfile" 2>&1) || rc=$?
[ "$rc" != 124 ] || fail "sluiced kept running with a malformed password file"
[ "$rc" != 0 ] || fail "sluiced exited 0 with a malformed password file: $out"
expect_match "$out" "bad-passwords:3" "error names the password file and line"
log "malformed password file: exit $rc: $(head -n 3 <<<"$out")"

node_stop pw
node_stop scram
node_stop tr
