#!/bin/bash
# test_config.sh — configuration and life cycle: an unknown setting, a bad
# value or an out-of-range value in a config file stops start-up with a
# non-zero exit naming file:line; -c FILE settings apply and --name=value
# overrides them (SHOW tells); -D chooses the data directory; SIGTERM stops
# cleanly with exit 0 even with clients connected, committed data survives a
# restart and an open transaction does not.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

# must_refuse WHAT EXPECTED_REGEX SLUICED_ARGS...: sluiced exits non-zero
# within 20 s and says EXPECTED_REGEX.
must_refuse() {
	local what=$1 re=$2 out rc=0
	shift 2
	out=$(timeout -k 5 20 "$SLUICED" --listen_address=127.0.0.1 --port=0 "$@" 2>&1 </dev/null) || rc=$?
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "$what: sluiced kept running (killed after 20 s); output:
$out"
	[ "$rc" != 0 ] || fail "$what: sluiced exited 0; output:
$out"
	expect_match "$out" "$re" "$what: error message"
	log "ok: $what -> exit $rc: $(grep -m1 -E "$re" <<<"$out")"
}

conf() { # conf NAME: a config file path under the test directory
	echo "$TEST_TMP/$1.conf"
}

# ---- bad config files
printf '# a comment\nlog_level = info\nno_such_setting = 1\n' >"$(conf unknown)"
must_refuse "unknown setting" 'unknown\.conf:3' -c "$(conf unknown)" "--data_dir=$TEST_TMP/d1"

printf '\nmax_connections = banana\n' >"$(conf badvalue)"
must_refuse "bad value" 'badvalue\.conf:2' -c "$(conf badvalue)" "--data_dir=$TEST_TMP/d2"

printf 'max_connections = 10\nreader_threads = 2\n\n# x\nmax_connections = -5\n' >"$(conf range)"
must_refuse "out-of-range value" 'range\.conf:5' -c "$(conf range)" "--data_dir=$TEST_TMP/d3"
# a weak cluster secret (it could be guessed offline from one challenge)
must_refuse "short cluster_secret" 'cluster_secret.*too short: a cluster_secret needs at least 32 characters' \
	"--data_dir=$TEST_TMP/d3s" --peer_listen=127.0.0.1:0 --cluster_secret=hunter2
must_refuse "repetitive cluster_secret" 'cluster_secret.*too predictable' \
	"--data_dir=$TEST_TMP/d3s" --peer_listen=127.0.0.1:0 --cluster_secret=hunter2hunter2hunter2hunter2hunter2
made=$("$SLUICE" secret)
[[ $made =~ ^[0-9a-f]{64}$ ]] || fail "sluice secret printed '$made', want 64 hex digits"
[ "$("$SLUICE" secret)" != "$made" ] || fail "sluice secret printed the same secret twice"

printf 'statement_timeout = 5 parsecs\n' >"$(conf unit)"
must_refuse "bad duration unit" 'unit\.conf:1' -c "$(conf unit)" "--data_dir=$TEST_TMP/d4"

printf 'role = emperor\n' >"$(conf role)"
must_refuse "bad role" 'role\.conf:1' -c "$(conf role)" "--data_dir=$TEST_TMP/d5"

printf 'auth_method = password\nthis line has no equals sign\n' >"$(conf syntax)"
must_refuse "line without =" 'syntax\.conf:2' -c "$(conf syntax)" "--data_dir=$TEST_TMP/d6"

must_refuse "missing config file" 'no-such\.conf' -c "$TEST_TMP/no-such.conf" "--data_dir=$TEST_TMP/d7"
must_refuse "unknown --setting" 'no_such_option' --no_such_option=1 "--data_dir=$TEST_TMP/d8"
must_refuse "bad --value" 'max_connections' --max_connections=lots "--data_dir=$TEST_TMP/d9"

# ---- --help lists the settings
out=$(timeout 10 "$SLUICED" --help 2>&1) || fail "sluiced --help failed: $out"
expect_match "$out" 'max_connections' "--help lists max_connections"
expect_match "$out" 'statement_timeout' "--help lists statement_timeout"

# ---- a good config file, and --name=value overriding it
cat >"$(conf good)" <<'EOF'
# settings for test_config
Max_Connections = 17        # names are case-insensitive
statement_timeout = '2s'
log_level = 'info'
reader_threads = 3
EOF
node_start a -c "$(conf good)"
expect_eq "$(q a "SHOW max_connections")" "17" "max_connections from the config file"
expect_match "$(q a "SHOW statement_timeout")" '^(2s|2000|2000ms)$' "statement_timeout from the config file"
expect_sqlstate a "SELECT pg_sleep(10)" 57014
node_stop a

node_start b -c "$(conf good)" --max_connections=23 --statement_timeout=0
expect_eq "$(q b "SHOW max_connections")" "23" "--max_connections overrides the config file"
expect_match "$(q b "SHOW statement_timeout")" '^0' "--statement_timeout overrides the config file"
expect_eq "$(q b "SELECT count(*) FROM (SELECT pg_sleep(2.5)) AS s")" "1" "no statement timeout after the override"
node_stop b

# ---- -D chooses the data directory
node_start c -D "$TEST_TMP/dash-d"
q c "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q c "INSERT INTO t VALUES (1, 'committed')" >/dev/null
[ -n "$(ls -A "$TEST_TMP/dash-d" 2>/dev/null)" ] || fail "-D $TEST_TMP/dash-d: nothing was written there"
log "data directory: $(ls "$TEST_TMP/dash-d" | tr '\n' ' ')"

# ---- SIGTERM with clients connected: one idle, one inside a write
# transaction. The server exits 0 within the deadline, closes both.
"$PGCLIENT" "$(node_conninfo c)" hold 60000 >"$TEST_TMP/idle.out" 2>&1 &
idle_pid=$!
bg_track "$idle_pid"
"$PGCLIENT" "$(node_conninfo c)" hold 60000 "BEGIN" "INSERT INTO t VALUES (2, 'uncommitted')" \
	>"$TEST_TMP/intx.out" 2>&1 &
intx_pid=$!
bg_track "$intx_pid"
wait_until "grep -q '^connected' '$TEST_TMP/idle.out' && grep -q '^connected' '$TEST_TMP/intx.out'" 15 ||
	fail "clients did not connect: $(cat "$TEST_TMP/idle.out" "$TEST_TMP/intx.out")"
node_stop c
for p in idle intx; do
	pid_var=${p}_pid
	rc=0
	wait_pid_exit "${!pid_var}" 10 || rc=$?
	[ "$rc" = 2 ] || fail "$p client: connection not closed by the shutdown (status $rc): $(cat "$TEST_TMP/$p.out")"
	log "$p client at shutdown: $(grep '^closed' "$TEST_TMP/$p.out")"
done

# Restart on the same directory: committed data is there, the open
# transaction's write is not.
node_start c -D "$TEST_TMP/dash-d"
expect_eq "$(q c "SELECT k, v FROM t ORDER BY k")" "1|committed" "data after a SIGTERM restart"

# ---- SIGTERM while idle, twice in a row, and a restart after SIGKILL
node_stop c
node_start c -D "$TEST_TMP/dash-d"
node_kill c
node_start c -D "$TEST_TMP/dash-d"
expect_eq "$(q c "SELECT count(*) FROM t")" "1" "data after SIGKILL and restart"
node_stop c
