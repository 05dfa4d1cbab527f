#!/bin/bash
# test_status_cli.sh — `sluice status --host H:P [--json]` shows the whole
# cluster from any node, and says when a node does not answer.
#
# A leader with a peer port (peer_listen 127.0.0.1:0, peer_port_file,
# cluster_secret) and two followers bootstrapped from it on empty data
# directories. Once both stream (sluice_replication on the leader shows
# them streaming, each follower's sluice_status too):
#   - `sluice status --host` given the leader's client port, then a
#     follower's, exits 0 and prints a header line and exactly 3 node lines:
#     the leader with role leader and state leading, each follower with
#     role follower and state streaming, every one at its client address;
#     SYNC says "on" for the leader (synchronous_standbys FIRST 1 (f1, f2),
#     with synchronous_commit local so that nothing waits), "sync" for f1
#     and "potential" for f2;
#   - with --json the output (stdout alone) is one JSON document whose
#     "nodes" are the same 3 nodes, all reachable, with "ok" true and the
#     leader's view of each follower ("replication") present;
#   - a wrong command line (no --host, a bad address, an argument) exits 2.
# Then one follower is stopped (SIGTERM, exit 0): asked through the leader
# and through the other follower, `sluice status` still prints 3 nodes, the
# stopped one as unreachable (the leader's view may say disconnected), and
# exits 1 naming it on stderr; --json says reachable false and "ok" false.
# Every run of the tool is bounded in time and its stderr is checked for
# sanitizer reports.
set -euo pipefail
START_DEADLINE=${START_DEADLINE:-90} # a follower's port opens once it has bootstrapped
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"

SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
L=lead
F1=f1
F2=f2

# status_run OUT ARGS...: run `sluice status ARGS`; stdout to OUT, stderr to
# OUT.err; returns the exit status. A sanitizer report is a failure.
status_run() {
	local out=$1 rc=0
	shift
	PGUSER=$SL_USER timeout -k 5 60 "$SLUICE" status "$@" >"$out" 2>"$out.err" || rc=$?
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$out.err"; then
		fail "sluice status $*: sanitizer report:
$(head -n 20 "$out.err")"
	fi
	return "$rc"
}

# json_check FILE WANT_OK: the document has 3 nodes with the right roles,
# and each node's reachability; prints one line per node: name role state
# reachable.
json_check() {
	python3 - "$1" "$2" "$L" "$F1" "$F2" <<'EOF'
import json, sys
path, want_ok, lead, f1, f2 = sys.argv[1:]
with open(path) as f:
    doc = json.load(f)
nodes = doc["nodes"]
if len(nodes) != 3:
    sys.exit("want 3 nodes, got %d: %r" % (len(nodes), nodes))
if doc["ok"] != (want_ok == "true"):
    sys.exit("ok is %r, want %s" % (doc["ok"], want_ok))
roles = {n["name"]: n["role"] for n in nodes}
if roles != {lead: "leader", f1: "follower", f2: "follower"}:
    sys.exit("names and roles: %r" % roles)
for n in nodes:
    for key in ("address", "state", "reachable", "error", "replication"):
        if key not in n:
            sys.exit("node %s has no %r" % (n["name"], key))
    if n["role"] == "follower" and not isinstance(n["replication"], dict):
        sys.exit("follower %s has no leader view: %r" % (n["name"], n["replication"]))
    if n["reachable"]:
        for key in ("epoch", "current_lsn", "applied_lsn", "lag_bytes", "lag_ms", "client_address"):
            if key not in n:
                sys.exit("reachable node %s has no %r" % (n["name"], key))
    print(n["name"], n["role"], n["state"], "reachable" if n["reachable"] else "unreachable")
EOF
}

# node_lines FILE: the table without its header line.
node_lines() { tail -n +2 "$1"; }

# ---------------------------------------------------------------- cluster

# synchronous standbys for the SYNC column; commits do not wait for them
node_start "$L" --role=leader "--node_name=$L" --peer_listen=127.0.0.1:0 \
	"--peer_port_file=$TEST_TMP/$L.peerport" "--cluster_secret=$SECRET" \
	"--synchronous_standbys=FIRST 1 ($F1, $F2)" --synchronous_commit=local
wait_until "grep -qE '^[0-9]+\$' '$TEST_TMP/$L.peerport'" 10 || fail "leader: no peer port in $TEST_TMP/$L.peerport"
PEER=$(head -n1 "$TEST_TMP/$L.peerport")
q "$L" "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q "$L" "INSERT INTO kv VALUES (1, 'one'), (2, 'two')" >/dev/null

for f in "$F1" "$F2"; do
	node_start "$f" --role=follower "--node_name=$f" "--leader_peer=127.0.0.1:$PEER" "--cluster_secret=$SECRET"
done
q "$L" "INSERT INTO kv VALUES (3, 'three')" >/dev/null

# both followers stream, as the leader and as they themselves see it
for f in "$F1" "$F2"; do
	wait_until "[ \"\$(psql_to $L -At -c \"SELECT state FROM sluice_replication WHERE name = '$f'\")\" = streaming ]" 60 ||
		fail "$L's sluice_replication does not show $f streaming:
$(psql_to "$L" -At -c 'SELECT * FROM sluice_replication' 2>&1)"
	wait_until "[ \"\$(psql_to $f -At -c 'SELECT state FROM sluice_status')\" = streaming ]" 60 ||
		fail "$f's sluice_status does not say streaming: $(psql_to "$f" -At -c 'SELECT * FROM sluice_status' 2>&1)"
done
log "$F1 and $F2 stream from $L"

# ---------------------------------------------------------------- all up

declare -A ADDR=()
for n in "$L" "$F1" "$F2"; do
	ADDR[$n]=127.0.0.1:$(node_port "$n")
done

for via in "$L" "$F1"; do
	out=$TEST_TMP/status.$via
	rc=0
	status_run "$out" --host "${ADDR[$via]}" || rc=$?
	[ "$rc" = 0 ] || fail "sluice status --host ${ADDR[$via]} ($via) exited $rc; stdout:
$(cat "$out")
stderr:
$(cat "$out.err")"
	expect_match "$(head -n 1 "$out")" '^NAME +ROLE +ADDRESS +STATE +EPOCH +CURRENT LSN +APPLIED LSN +LAG \(bytes\) +LAG \(ms\)' \
		"header line via $via"
	expect_eq "$(node_lines "$out" | grep -c '')" 3 "node lines via $via"
	expect_eq "$(node_lines "$out" | awk '{ print $1, $2, $3, $4 }' | sort)" \
		"$(printf '%s\n' "$F1 follower ${ADDR[$F1]} streaming" "$F2 follower ${ADDR[$F2]} streaming" \
			"$L leader ${ADDR[$L]} leading" | sort)" "name, role, address and state via $via"
	expect_eq "$(node_lines "$out" | head -n 1 | awk '{ print $1 }')" "$L" "the first line via $via"
	expect_match "$(head -n 1 "$out")" ' REPL STATE +SYNC +SENT LSN ' "header line via $via: SYNC column"
	expect_eq "$(node_lines "$out" | awk '{ print $1, $11 }' | sort)" \
		"$(printf '%s\n' "$F1 sync" "$F2 potential" "$L on" | sort)" "SYNC column via $via"
	[ ! -s "$out.err" ] || fail "sluice status via $via wrote to stderr: $(cat "$out.err")"

	rc=0
	status_run "$out.json" --host "${ADDR[$via]}" --json || rc=$?
	[ "$rc" = 0 ] || fail "sluice status --json via $via exited $rc: $(cat "$out.json.err")"
	python3 -c 'import json,sys; json.load(sys.stdin)' <"$out.json" ||
		fail "sluice status --json via $via is not JSON:
$(cat "$out.json")"
	got=$(json_check "$out.json" true 2>&1) || fail "sluice status --json via $via: $got
$(cat "$out.json")"
	expect_eq "$(sort <<<"$got")" "$(printf '%s\n' "$F1 follower streaming reachable" \
		"$F2 follower streaming reachable" "$L leader leading reachable" | sort)" "--json nodes via $via"
	log "ok: sluice status via $via lists $L, $F1 and $F2"
done

# ---------------------------------------------------------------- usage

for args in "" "--host" "--host 127.0.0.1" "--host 127.0.0.1:0" "--host 127.0.0.1:65536" "--host ${ADDR[$L]} extra" \
	"--host ${ADDR[$L]} --from 0/0"; do
	rc=0
	# shellcheck disable=SC2086 # the arguments are split on purpose
	status_run "$TEST_TMP/usage" $args || rc=$?
	[ "$rc" = 2 ] || fail "sluice status $args exited $rc, want 2 (usage): $(cat "$TEST_TMP/usage.err")"
	grep -q '^Usage:' "$TEST_TMP/usage.err" || fail "sluice status $args: no usage on stderr: $(cat "$TEST_TMP/usage.err")"
done
log "ok: wrong command lines exit 2"

# ---------------------------------------------------------------- one down

node_stop "$F2"
for via in "$L" "$F1"; do
	out=$TEST_TMP/down.$via
	rc=0
	status_run "$out" --host "${ADDR[$via]}" || rc=$?
	[ "$rc" = 1 ] || fail "sluice status via $via with $F2 stopped exited $rc, want 1; stdout:
$(cat "$out")
stderr:
$(cat "$out.err")"
	expect_eq "$(node_lines "$out" | grep -c '')" 3 "node lines via $via with $F2 stopped"
	expect_eq "$(node_lines "$out" | awk -v f="$F2" '$1 == f { print $2, $3 }')" "follower ${ADDR[$F2]}" \
		"$F2's line via $via"
	expect_match "$(node_lines "$out" | awk -v f="$F2" '$1 == f')" "^$F2 +follower +[^ ]+ +(unreachable|disconnected) " \
		"$F2 unreachable or disconnected via $via"
	expect_eq "$(node_lines "$out" | awk '{ print $1, $2, $4 }' | grep -v "^$F2 " | sort)" \
		"$(printf '%s\n' "$F1 follower streaming" "$L leader leading" | sort)" "the nodes still up via $via"
	expect_match "$(cat "$out.err")" "$F2" "stderr via $via names $F2"

	rc=0
	status_run "$out.json" --host "${ADDR[$via]}" --json || rc=$?
	[ "$rc" = 1 ] || fail "sluice status --json via $via with $F2 stopped exited $rc, want 1: $(cat "$out.json.err")"
	got=$(json_check "$out.json" false 2>&1) || fail "sluice status --json via $via with $F2 stopped: $got
$(cat "$out.json")"
	expect_eq "$(sort <<<"$got")" "$(printf '%s\n' "$F1 follower streaming reachable" \
		"$F2 follower unreachable unreachable" "$L leader leading reachable" | sort)" "--json nodes via $via with $F2 stopped"
	log "ok: via $via, $F2 shows as unreachable and the exit status is 1"
done

node_stop "$F1"
node_stop "$L"
