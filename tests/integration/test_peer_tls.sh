#!/bin/bash
# test_peer_tls.sh — TLS on the peer port (peer_ssl = on), with
# certificates from scripts/make-certs:
#
#  1. start-up refuses peer_ssl without ssl_ca_file;
#  2. a leader and a follower with peer_ssl stream through a recording
#     proxy (the follower's leader_peer is the proxy): the follower has
#     every row, and the proxy saw none of the row text; the same through
#     the proxy without peer_ssl shows the text, so the proxy does record;
#  3. a follower whose certificate another CA signed, and one without
#     peer_ssl, are refused: the leader logs why, and they get no data;
#  4. three members with peer_ssl elect a new leader when the leader is
#     killed, and the rows are all on it.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

certs=$TEST_TMP/certs
rogue=$TEST_TMP/rogue
"$TOP_SRCDIR/scripts/make-certs" "$certs" n1 n2 n3 L F
"$TOP_SRCDIR/scripts/make-certs" "$rogue" R
PROBE=$TOP_SRCDIR/tests/integration/tlsprobe.py

# tls_of NAME [CERTDIR]: the peer_ssl settings with NAME's certificate.
tls_of() {
	local d=${2:-$certs}
	echo --peer_ssl=on "--ssl_cert_file=$d/$1.crt" "--ssl_key_file=$d/$1.key" "--ssl_ca_file=$certs/ca.crt"
}

# ------------------------------------------------------------ 1. start-up
node_launch noca --peer_ssl=on "--ssl_cert_file=$certs/L.crt" "--ssl_key_file=$certs/L.key" \
	--peer_listen=127.0.0.1:0 "--cluster_secret=$REPL_SECRET"
rc=0
wait_pid_exit "$(node_pid noca)" 30 || rc=$?
[ "$rc" = 1 ] || fail "peer_ssl without ssl_ca_file: exit $rc (want 1)"
grep -q "peer_ssl = on needs ssl_cert_file\|peer_ssl = on needs ssl_ca_file" "$(node_log noca)" ||
	fail "no reason in the log: $(tail -n 3 "$(node_log noca)")"
log "ok: peer_ssl without ssl_ca_file is refused at start-up"

# ------------------------------------------------------------ 2. on the wire
# through_proxy LEADER FOLLOWER [SETTINGS...]: start FOLLOWER of LEADER
# through a recording proxy, write a row on LEADER and wait until the
# follower has it; CAP names the capture file afterwards.
through_proxy() {
	local l=$1 f=$2 pf=$TEST_TMP/proxy.$2.port
	shift 2
	CAP=$TEST_TMP/wire.$f
	python3 "$PROBE" record "$pf" "${PEER_PORT[$l]}" "$CAP" 120 &
	bg_track $!
	wait_until "[ -s '$pf' ]" 10 || fail "the recording proxy did not start"
	node_start "$f" --role=follower "--node_name=$f" "--leader_peer=127.0.0.1:$(cat "$pf")" \
		"--cluster_secret=$REPL_SECRET" "$@"
	q "$l" "INSERT INTO t VALUES (NULL, 'peer-wire-secret-$f')" >/dev/null
	wait_caught_up "$f" "$l" 30
	expect_eq "$(q "$f" "SELECT count(*) FROM t WHERE v = 'peer-wire-secret-$f'")" 1 "the row on $f"
}

leader_start L $(tls_of L)
q L "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q L "INSERT INTO t VALUES (NULL, 'peer-wire-secret-bootstrap')" >/dev/null
through_proxy L F $(tls_of F)
[ -s "$CAP" ] || fail "the recording proxy recorded nothing"
! grep -qa "peer-wire-secret" "$CAP" || fail "row text crossed the peer link in clear with peer_ssl = on"
log "ok: $(wc -c <"$CAP") bytes through the proxy with peer_ssl, no row text among them"
expect_eq "$(q F "SELECT count(*) FROM t")" 2 "rows on F"
node_stop F
node_stop L

leader_start C
q C "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
through_proxy C G
grep -qa "peer-wire-secret-G" "$CAP" || fail "the recording proxy did not see the row text in clear"
log "ok: without peer_ssl the proxy sees the row text"
node_stop G
node_stop C

# ------------------------------------------------------------ 3. refused
leader_start L2 $(tls_of L)
q L2 "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
mark=$(log_mark L2)
follower_launch R L2 $(tls_of R "$rogue")
wait_until "log_since L2 $mark | grep -q 'peer link refused'" 20 ||
	fail "the leader did not refuse a follower whose certificate another CA signed: $(log_since L2 "$mark" | tail -n 5)"
log "ok: a certificate of another CA: $(log_since L2 "$mark" | grep 'peer link refused' | head -n 1 | sed 's/.*reason=//')"
grep -q "bootstrap done" "$(node_log R)" && fail "the follower with a foreign certificate bootstrapped"
node_kill R
mark=$(log_mark L2)
follower_launch P L2
wait_until "log_since L2 $mark | grep -q 'peer link refused'" 20 ||
	fail "the leader did not refuse a follower without peer_ssl: $(log_since L2 "$mark" | tail -n 5)"
grep -q "bootstrap done" "$(node_log P)" && fail "the follower without peer_ssl bootstrapped"
log "ok: a follower without peer_ssl is refused"
node_kill P
node_stop L2

# ------------------------------------------------------------ 4. failover
read -r p1 p2 p3 < <(free_ports 3)
PEERS="n1@127.0.0.1:$p1, n2@127.0.0.1:$p2, n3@127.0.0.1:$p3"
common=("--peers=$PEERS" "--cluster_secret=$REPL_SECRET")
node_launch n2 --role=follower --node_name=n2 $(tls_of n2) "${common[@]}"
node_launch n3 --role=follower --node_name=n3 $(tls_of n3) "${common[@]}"
node_start n1 --role=leader --node_name=n1 $(tls_of n1) "${common[@]}"
node_wait_ready n2 "$START_DEADLINE"
node_wait_ready n3 "$START_DEADLINE"
wait_until "[ \"\$(status_try n1 \"SELECT role || '/' || state FROM sluice_status\")\" = leader/leading ]" 30 ||
	fail "n1 does not lead: $(status_try n1 "SELECT * FROM sluice_status")"
q n1 "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null
for ((i = 1; i <= 20; i++)); do q n1 "INSERT INTO t VALUES ($i, 'row $i')" >/dev/null; done
wait_caught_up n2 n1 30
wait_caught_up n3 n1 30
node_kill_hard n1
new=""
for ((k = 0; k < 150; k++)); do
	for n in n2 n3; do
		[ "$(status_try "$n" "SELECT role || '/' || state FROM sluice_status")" = leader/leading ] && new=$n
	done
	[ -z "$new" ] || break
	sleep 0.1
done
[ -n "$new" ] || fail "no member was elected over TLS links after n1 was killed"
expect_eq "$(q "$new" "SELECT count(*) FROM t")" 20 "rows on the new leader $new"
# Under load (sanitizers, tests side by side) a new leader may lose its
# lease once more and the other member lead: the write goes to whichever
# member leads, within 15 s.
written=""
for ((k = 0; k < 150; k++)); do
	for n in n2 n3; do
		# (an attempt whose answer was lost may have been written: DO NOTHING then)
		if [ -z "$written" ] &&
			q_raw "$n" "INSERT INTO t VALUES (21, 'after the failover') ON CONFLICT (id) DO NOTHING" >/dev/null; then
			written=$n
		fi
	done
	[ -n "$written" ] && break
	sleep 0.1
done
[ -n "$written" ] || fail "no member elected over TLS links took a write within 15 s"
new=$written
expect_eq "$(q "$new" "SELECT count(*) FROM t")" 21 "rows on $new after the write"
log "ok: $new elected over TLS links; it has every row and takes writes"
for n in n2 n3; do node_stop "$n"; done
log "PASS"
