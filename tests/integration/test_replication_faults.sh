#!/bin/bash
# test_replication_faults.sh — streaming replication under faults. One
# physical leader (1 MB log segments and checkpoint_wal_size,
# replication_timeout 4s) and its followers go through, in order:
#
#  1. refused peers: a follower with a wrong cluster_secret, then one with
#     another cluster_id, never opens its client port (no bootstrap) within
#     5 s, is not listed as streaming in sluice_replication, and both its
#     own log and the leader's say why (secret/authentication, cluster id);
#  2. a follower (fa) bootstraps (its log reports one "bootstrap done");
#  3. the snapshot transfer cut at random points: a second follower (fc)
#     reaches the leader through a link proxy limited to 16 MB/s, so that a
#     bootstrap takes a while, and is killed with SIGKILL after a random
#     delay within the expected length of a bootstrap, 5 times (15 with
#     SLUICE_LONG_TESTS=1; a try that finished its bootstrap before the
#     kill starts the next one on an empty directory); at least one kill
#     must fall in the middle of a transfer (its log shows the transfer
#     begun, not done). Whenever fc's port file names a port, that port
#     serves the leader's whole content: a half-copied database is never
#     served. fc must not even listen on its client port before the
#     bootstrap is done (a client connecting to a bootstrapping follower
#     would wait for the whole transfer instead of being refused and
#     trying the next host); if it does, a client tries that port once
#     (it must get no answer or the whole content) and the test fails at
#     the end. Then started normally fc completes, passes quick_check and
#     catches up; it is stopped until step 7;
#  4. malformed peer input: raw connections to the peer port send random
#     bytes, a header with a length beyond the maximum, a header with a huge
#     but allowed length and then silence, frames with a bad CRC, unknown
#     type, flags or reserved bits, garbage and bad zlib payloads with a
#     good CRC, follower messages before any handshake, a forged AUTH (a
#     proof not made with the secret) and a FOLLOW instead of AUTH. The
#     leader closes each connection (promptly, or after replication_timeout
#     for the silent one) without letting it in (no WELCOME) and without
#     growing by the announced length, logs a reason (the decoder's words:
#     bad magic, CRC, length ...; "secret" for the forged proof), and keeps
#     streaming to fa (a row written afterwards appears there);
#  5. kill -9 of fa under load, restart: it catches up without a new
#     bootstrap (no bootstrap line in its second run, sluice.db keeps its
#     inode) and ends at the leader's LSN;
#  6. the replication link cut every 2 s under load (6 times, 15 long)
#     with `ss -K` on the follower's TCP connection (SOCK_DESTROY, which
#     also sends the leader a reset); where ss -K does not work (a kernel
#     without CONFIG_INET_DIAG_DESTROY) the follower is killed with SIGKILL
#     and restarted instead. fa stays up, does not re-bootstrap, and
#     catches up;
#  7. fc comes back (straight to the leader) and catches up; both followers
#     and the leader are stopped: same dbsum and byte-identical sluice.db;
#  8. retention: a logical leader with log_segment_size=1MB,
#     log_keep_size=0 and max_log_size=2MB, reached through the slow link
#     proxy; its follower (fr) is stopped, the leader writes until its
#     oldest log segment starts past fr's applied LSN (with CHECKPOINTs, so
#     that segments can go); restarted, fr bootstraps again by itself (the
#     leader's log says so too) and converges (dbsum, quick_check). Reads
#     on fr meanwhile see its old content or the new one, never a mix.
# Problems that need not stop the later steps are collected and fail the
# test at the end.
# The random choices (delays, seeds) come from SLUICE_SEED when set.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${WORKLOAD:?WORKLOAD must name tests/integration/workload}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

if [ "${SLUICE_LONG:-${SLUICE_LONG_TESTS:-0}}" = 1 ]; then
	link_cuts=15
	snapshot_cuts=15
	ntxn=800
else
	link_cuts=6
	snapshot_cuts=5
	ntxn=300
fi
seed=${SLUICE_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
log "seed $seed (set SLUICE_SEED=$seed to run the same again)"

REPL_TIMEOUT_S=4
M=lead
MOPTS=(--log_mode=physical --log_segment_size=1MB --checkpoint_wal_size=1MB "--replication_timeout=${REPL_TIMEOUT_S}s")
CONTENT_SQL="SELECT (SELECT count(*) FROM big), (SELECT sum(length(b)) FROM big), (SELECT count(*) FROM marks), (SELECT max(k) FROM marks)"

# problem TEXT: a failure that need not stop the later scenarios; all are
# reported (and fail the test) at the end.
problems=()
problem() {
	problems+=("$*")
	log "PROBLEM: $*"
}

# sleep_ms MS
sleep_ms() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }

# expect_never_ready NAME SECONDS: for SECONDS, the node's port file never
# appears. A node that exits by itself is fine (it refused to go on).
expect_never_ready() {
	local n=$1 secs=$2 deadline pid
	pid=$(node_pid "$n")
	deadline=$(($(now_ms) + secs * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		node_has_port "$n" && fail "$n: its client port opened (port file $(node_dir "$n")/port): it should have been refused"
		proc_alive "$pid" || break
		sleep 0.05
	done
	if proc_alive "$pid"; then
		log "$n: still running, not serving, after ${secs}s"
		node_kill "$n"
	else
		wait "$pid" 2>/dev/null || true
		log "$n: exited by itself"
	fi
}

# expect_leader_log MARK REGEX WHAT: a line after MARK in the leader's log
# matches REGEX (case-insensitive).
expect_leader_log() {
	local mark=$1 re=$2 what=$3 lines
	lines=$(log_since "$M" "$mark")
	grep -qiE -- "$re" <<<"$lines" || fail "$what: no line matching /$re/ in the leader's log; its new lines:
$lines"
	log "$what: the leader logged: $(grep -iE -m 1 -- "$re" <<<"$lines")"
}

# ---------------------------------------------------------------- setup
leader_start "$M" "${MOPTS[@]}"
q "$M" "CREATE TABLE marks (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q "$M" "CREATE TABLE big (k INTEGER PRIMARY KEY, b BLOB)" >/dev/null
for ((i = 0; i < 6; i++)); do
	q "$M" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO big SELECT $((i * 500)) + x, randomblob(8000) FROM c" >/dev/null
done
q "$M" "INSERT INTO marks VALUES (0, 'setup')" >/dev/null

# ---------------------------------------------------------------- 1. refused peers
peer=127.0.0.1:${PEER_PORT[$M]}
mark=$(log_mark "$M")
node_launch bad-secret --role=follower --node_name=bad-secret --log_mode=physical "--leader_peer=$peer" \
	"--cluster_secret=not-$REPL_SECRET"
expect_never_ready bad-secret 5
# The follower finds out first (the leader's proof does not check out) and
# hangs up; the leader logs the failed authentication.
expect_leader_log "$mark" 'secret|authenticat' "wrong cluster_secret"
grep -qiE 'secret' "$(node_log bad-secret)" || fail "the follower with the wrong cluster_secret does not say why in its log:
$(cat "$(node_log bad-secret)")"
expect_eq "$(q "$M" "SELECT count(*) FROM sluice_replication WHERE name = 'bad-secret' AND state IN ('catchup', 'streaming')")" 0 \
	"sluice_replication rows streaming to the follower with the wrong secret"

mark=$(log_mark "$M")
node_launch bad-cluster --role=follower --node_name=bad-cluster --log_mode=physical "--leader_peer=$peer" \
	"--cluster_secret=$REPL_SECRET" --cluster_id=some-other-cluster
expect_never_ready bad-cluster 5
expect_leader_log "$mark" 'cluster.?id' "another cluster_id"
grep -qiE 'cluster.?id' "$(node_log bad-cluster)" || fail "the follower of another cluster does not say why in its log:
$(cat "$(node_log bad-cluster)")"
expect_eq "$(q "$M" "SELECT count(*) FROM sluice_replication WHERE name = 'bad-cluster' AND state IN ('catchup', 'streaming')")" 0 \
	"sluice_replication rows streaming to the follower of another cluster"
q "$M" "SELECT 1" >/dev/null

# ---------------------------------------------------------------- 2. a follower
start=$(now_ms)
follower_start fa "$M" --log_mode=physical
boot_ms=$(($(now_ms) - start))
log "fa: bootstrapped in $boot_ms ms (launch to ready)"
[ "$(bootstraps_done fa)" = 1 ] || fail "fa: want one line matching /$BOOTSTRAP_DONE_RE/ in its log after its first start:
$(bootstrap_lines fa)"
wait_caught_up fa "$M" 60
expect_eq "$(q fa "$CONTENT_SQL")" "$(q "$M" "$CONTENT_SQL")" "fa: content after the bootstrap"

# ---------------------------------------------------------------- 3. snapshot transfer cut
# fc reaches the leader through a link proxy limited to SNAP_RATE bytes/s,
# so that a bootstrap takes long enough to be cut in the middle.
cat >"$TEST_TMP/slowproxy.py" <<'EOF'
# slowproxy.py PORT_FILE UPSTREAM_PORT RATE MAX_S: a TCP proxy on 127.0.0.1
# (port written to PORT_FILE) to 127.0.0.1:UPSTREAM_PORT; what comes from
# upstream is passed on at RATE bytes/s at most. A connection closed on
# one side is closed on the other. Exits after MAX_S seconds.
import os, socket, sys, threading, time

port_file, up_port, rate, max_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

def pump(src, dst, limit):
    t0 = time.monotonic()
    sent = 0
    try:
        while True:
            b = src.recv(16384)
            if not b:
                break
            dst.sendall(b)
            sent += len(b)
            if limit:
                ahead = sent / limit - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
ls.settimeout(0.5)
end = time.monotonic() + max_s
while time.monotonic() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        continue
    try:
        u = socket.create_connection(("127.0.0.1", up_port), timeout=5)
    except OSError:
        c.close()
        continue
    u.settimeout(None)
    c.settimeout(None)
    threading.Thread(target=pump, args=(c, u, 0), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, rate), daemon=True).start()
EOF
SNAP_RATE=$((16 << 20))
python3 "$TEST_TMP/slowproxy.py" "$TEST_TMP/proxy.port" "${PEER_PORT[$M]}" "$SNAP_RATE" 600 &
bg_track $!
wait_until "[ -s '$TEST_TMP/proxy.port' ]" 10 || fail "the link proxy did not start"
proxy_port=$(head -n1 "$TEST_TMP/proxy.port")
want=$(q "$M" "$CONTENT_SQL")
db_bytes=$(($(q "$M" "PRAGMA page_count") * $(q "$M" "PRAGMA page_size")))
span=$((db_bytes * 1000 / SNAP_RATE + 100)) # ms: start-up and the transfer
log "snapshot cuts: the database has $db_bytes bytes, about $span ms through the proxy at $SNAP_RATE bytes/s"

# listen_ports PID: TCP ports the process listens on.
listen_ports() { ss -Hltnp 2>/dev/null | grep -F "pid=$1," | awk '{ n = split($4, a, ":"); print a[n] }' || true; }

# check_served NAME PID: if the node's port file names a port, that port
# serves the whole content (prints "served"). A socket the node listens on
# before its port file exists and before its log says the bootstrap is
# done is noted in $TEST_TMP/early_listen (the client port is to open only
# once the database is complete); the first time, a client with a short
# connect timeout tries it: it must get no answer or the whole content.
check_served() {
	local n=$1 pid=$2 p got early
	early=$(listen_ports "$pid" | head -n 1)
	if [ -n "$early" ] && ! node_has_port "$n" && [ "$(bootstraps_done "$n")" = 0 ]; then
		if [ ! -e "$TEST_TMP/early_listen" ]; then
			local t0
			t0=$(now_ms)
			got=$(PGCONNECT_TIMEOUT=2 timeout -k 1 3 psql -X -w -At -h 127.0.0.1 -p "$early" -U "$SL_USER" -d "$SL_DB" \
				-c "$CONTENT_SQL" 2>&1) || got="no answer within 2 s (${got:-timeout})"
			got="$got (after $(($(now_ms) - t0)) ms)"
			[[ $got =~ ^no\ answer ]] || [ "${got% (after *}" = "$want" ] ||
				fail "$n served incomplete data on port $early during its bootstrap: $got (want $want)"
			echo "$n listened on port $early during its bootstrap, before its port file existed; a client connecting then got: $got" \
				>"$TEST_TMP/early_listen"
			log "$(cat "$TEST_TMP/early_listen")"
		fi
	fi
	if node_has_port "$n"; then
		p=$(head -n1 "$(node_dir "$n")/port")
		got=$(timeout -k 2 10 psql -X -w -At -h 127.0.0.1 -p "$p" -U "$SL_USER" -d "$SL_DB" -c "$CONTENT_SQL" 2>&1) ||
			fail "$n: its port file names port $p, but psql failed there: $got"
		[ "$got" = "$want" ] || fail "$n served incomplete data on port $p: $got (want $want)"
		echo served
	fi
}

fc_args=(--role=follower --node_name=fc --log_mode=physical "--leader_peer=127.0.0.1:$proxy_port" "--cluster_secret=$REPL_SECRET")
mid_transfer=0
for ((i = 1; i <= snapshot_cuts; i++)); do
	delay=$((RANDOM % span + 10))
	node_launch fc "${fc_args[@]}"
	pid=$(node_pid fc)
	t0=$(now_ms)
	served=""
	while [ $(($(now_ms) - t0)) -lt "$delay" ]; do
		served=$(check_served fc "$pid")
		[ -z "$served" ] || break
		proc_alive "$pid" || fail "fc exited during its bootstrap (try $i)"
		sleep 0.02
	done
	[ -n "$served" ] || served=$(check_served fc "$pid")
	node_kill_hard fc
	progress=$(run_log fc | grep -ciE 'receiving a snapshot|bootstrap progress' || true)
	if [ -n "$served" ]; then
		log "snapshot cut $i: fc was already serving (complete data) when killed at $delay ms; starting it over on an empty directory"
		rm -rf "$(node_dir fc)/data"
	elif [ "$progress" -gt 0 ] && [ "$(bootstraps_done fc)" = 0 ]; then
		mid_transfer=$((mid_transfer + 1))
		log "snapshot cut $i: fc killed after $delay ms in the middle of the transfer: $(run_log fc | grep -iE 'bootstrap progress|receiving a snapshot' | tail -n 1)"
	else
		log "snapshot cut $i: fc killed after $delay ms, before the transfer began or after it ended"
	fi
done
[ "$mid_transfer" -ge 1 ] || fail "no kill of fc fell in the middle of a snapshot transfer (of $snapshot_cuts)"
[ ! -e "$TEST_TMP/early_listen" ] || problem "$(cat "$TEST_TMP/early_listen")"
node_launch fc "${fc_args[@]}"
node_wait_ready fc "$BOOTSTRAP_DEADLINE"
expect_eq "$(q fc "$CONTENT_SQL")" "$want" "fc: content when it first serves after $snapshot_cuts cut transfers"
expect_eq "$(q fc "PRAGMA quick_check")" ok "fc: quick_check"
[ "$(bootstraps_done fc)" = 1 ] || fail "fc: want one finished bootstrap in its log:
$(bootstrap_lines fc)"
wait_caught_up fc "$M" 60
wait_replication_streaming "$M" fc 30
# It comes back at the end, straight to the leader's peer port.
node_stop fc
log "snapshot transfer cut $mid_transfer times in the middle; fc completed and caught up"

# ---------------------------------------------------------------- 4. malformed peer frames
cat >"$TEST_TMP/badpeer.py" <<'EOF'
# badpeer.py PORT CASE SEED WAIT_S: connect to a peer port, send one kind of
# malformed input, then read until the server closes the connection or
# WAIT_S pass. Prints "closed S.SS eof|reset frames=[types]" or
# "open S.SS frames=[...]".
import random, socket, struct, sys, time, zlib

port, case, seed, wait_s = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rnd = random.Random(seed)
MAGIC = 0x534C5031
HELLO, RECORDS, ACK = 1, 12, 14

def junk(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))

def frame(ftype, payload, flags=0, reserved=0, epoch=0, length=None, crc_ok=True):
    n = len(payload) if length is None else length
    hdr = struct.pack("!IBBHQI", MAGIC, ftype, flags, reserved, epoch, n)
    crc = zlib.crc32(hdr + payload) & 0xFFFFFFFF
    if not crc_ok:
        crc ^= 0x5A5A5A5A
    return hdr + struct.pack("!I", crc) + payload

def pstr(t):
    b = t.encode()
    return struct.pack("!H", len(b)) + b

def hello(cluster="sluice", name="intruder"):
    return frame(HELLO, struct.pack("!H", 3) + pstr(cluster) + pstr(name) + pstr("127.0.0.1:1") + junk(32))

def read_frame(s, deadline):
    """One whole frame (type, payload), or None when closed or out of time."""
    buf = b""
    need = 24
    while len(buf) < need:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            b = s.recv(need - len(buf))
        except (socket.timeout, OSError):
            return None
        if not b:
            return None
        buf += b
        if len(buf) == 24:
            need = 24 + struct.unpack("!I", buf[16:20])[0]
    return buf[4], buf[24:]

half_close = False
# Handshake cases: a HELLO first, then something wrong after the leader's
# CHALLENGE (type 2).
after_challenge = None
if case == "forgedauth":  # an AUTH whose proof is not made with the secret
    data = hello()
    after_challenge = frame(3, junk(32))
elif case == "followbeforeauth":  # skip AUTH, ask for the stream
    data = hello()
    after_challenge = frame(6, struct.pack("!QQQ", 1, 0, 0))
elif case == "random":
    data = junk(4096)
    if data[:4] == b"SLP1":
        data = b"X" + data[1:]
elif case == "hugelen":
    data = frame(HELLO, b"", length=0xFFFFFFFF)[:24] + junk(64)
elif case == "bigsilent":  # allowed length (1 GiB), then silence
    data = frame(HELLO, b"", length=1 << 30)[:24] + junk(1000)
elif case == "badcrc":
    data = frame(HELLO, junk(64), crc_ok=False)
elif case == "badtype":
    data = frame(99, junk(16))
elif case == "zerotype":
    data = frame(0, junk(16))
elif case == "badflags":
    data = frame(HELLO, junk(16), flags=0x80)
elif case == "reserved":
    data = frame(HELLO, junk(16), reserved=0x0100)
elif case == "garbagehello":
    data = frame(HELLO, junk(200))
elif case == "emptyhello":
    data = frame(HELLO, b"")
elif case == "badzlib":
    data = frame(HELLO, struct.pack("!I", 5000) + junk(100), flags=1)
elif case == "records":
    data = frame(RECORDS, junk(300))
elif case == "ack":
    data = frame(ACK, junk(24))
elif case == "halfheader":
    data = frame(HELLO, junk(16))[:10]
    half_close = True
else:
    sys.exit("unknown case " + case)

s = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.monotonic()
first = []
try:
    s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    if after_challenge is not None:
        f = read_frame(s, t0 + wait_s)
        if f is None or f[0] != 2:
            print("nochallenge %.2f frames=%s" % (time.monotonic() - t0, [f[0]] if f else []))
            sys.exit(0)
        first.append(2)
        s.sendall(after_challenge)
except OSError as e:
    print("closed %.2f reset-on-send(%s) frames=%s" % (time.monotonic() - t0, e.errno, first))
    sys.exit(0)
got = b""
how = None
s.settimeout(0.2)
while time.monotonic() - t0 < wait_s:
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        how = "reset"
        break
    if not b:
        how = "eof"
        break
    got += b
    if len(got) > (1 << 20):
        break
types = first
off = 0
while off + 24 <= len(got):
    magic, ftype, flags, res, epoch, n = struct.unpack("!IBBHQI", got[off:off + 20])
    if magic != MAGIC:
        types.append("?")
        break
    types.append(ftype)
    off += 24 + n
state = "closed" if how else "open"
print("%s %.2f %s frames=%s" % (state, time.monotonic() - t0, how or "-", types))
EOF

# rss_kb PID
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Cases closed promptly (within 3 s), and the reason words wanted in the log.
declare -A reason=(
	[random]='magic'
	[hugelen]='length|too (big|large)|maximum'
	[badcrc]='crc|checksum'
	[badtype]='type'
	[zerotype]='type'
	[badflags]='flag'
	[reserved]='reserved'
	[garbagehello]='.'
	[emptyhello]='.'
	[badzlib]='.'
	[records]='.'
	[ack]='.'
	[halfheader]='.'
	[forgedauth]='secret|authenticat'
	[followbeforeauth]='.'
)
lpid=$(node_pid "$M")
rss0=$(rss_kb "$lpid")
for c in random hugelen badcrc badtype zerotype badflags reserved garbagehello emptyhello badzlib records ack halfheader forgedauth followbeforeauth bigsilent; do
	mark=$(log_mark "$M")
	if [ "$c" = bigsilent ]; then
		limit=$((REPL_TIMEOUT_S + 6))
	else
		limit=3
	fi
	out=$(timeout -k 5 60 python3 "$TEST_TMP/badpeer.py" "${PEER_PORT[$M]}" "$c" "$((seed + ${#c}))" "$limit") ||
		fail "badpeer.py $c failed: $out"
	log "malformed peer input '$c': $out"
	[[ $out == closed* ]] || fail "malformed peer input '$c': the leader did not close the connection within ${limit}s: $out"
	# WELCOME (4) or anything past it would mean the leader let it in.
	[[ ! $out =~ frames=\[.*(4|[6-9]|1[0-5])[],] ]] || fail "malformed peer input '$c': the leader answered as to a follower: $out"
	proc_alive "$lpid" || fail "the leader died after malformed peer input '$c'"
	if [ "$c" = bigsilent ]; then
		rss1=$(rss_kb "$lpid")
		[ $((rss1 - rss0)) -lt $((256 * 1024)) ] ||
			fail "the leader's RSS grew from ${rss0} kB to ${rss1} kB after a frame header announcing 1 GiB"
		# Closed at once (too large before authentication) or after
		# replication_timeout (silent): either way, the log says which.
		expect_leader_log "$mark" 'timeout|timed out|silent|length|large|big|maximum|limit' "a peer announcing 1 GiB, then silent"
	else
		# The log line may come just after the close.
		wait_until "log_since $M $mark | grep -qiE 'peer|frame|link|protocol'" 3 || true
		lines=$(log_since "$M" "$mark")
		grep -qiE 'peer|frame|link|protocol' <<<"$lines" ||
			fail "malformed peer input '$c': the leader logged nothing about it; new lines:
$lines"
		[ "${reason[$c]}" = . ] || expect_leader_log "$mark" "${reason[$c]}" "malformed peer input '$c'"
	fi
done
# The real follower was not disturbed: a new row reaches it.
q "$M" "INSERT INTO marks VALUES (1, 'after the malformed frames')" >/dev/null
wait_row fa "SELECT v FROM marks WHERE k = 1" "after the malformed frames" 15
wait_caught_up fa "$M" 30
expect_eq "$(q fa "SELECT state FROM sluice_status")" streaming "fa: state after the malformed frames"

# ---------------------------------------------------------------- 5. kill -9 mid-stream
ci=$(node_conninfo "$M")
inode0=$(db_inode fa)
wl_start "$ci" $((seed + 1)) "$ntxn"
wl_start "$ci" $((seed + 2)) "$ntxn" --no-vacuum
wait_lsn_past "$M" $((2 << 20)) 30
sleep_ms $((RANDOM % 800))
applied=$(status_try fa "SELECT applied_lsn FROM sluice_status")
node_kill_hard fa
log "fa killed at applied_lsn $applied; load running: $(wl_running && echo yes || echo no)"
wl_running || fail "the load ended before fa was killed (raise ntxn)"
sleep 0.5
follower_restart fa
log "fa: restarted; load running: $(wl_running && echo yes || echo no)"
n=$(bootstrap_count fa)
[ "$n" = 0 ] || fail "fa bootstrapped again after a kill -9 within retention:
$(bootstrap_lines fa)"
expect_eq "$(db_inode fa)" "$inode0" "inode of fa's sluice.db after the restart (a new file means it was replaced)"
wl_wait 300
q "$M" "INSERT INTO marks VALUES (2, 'after the kill')" >/dev/null
wait_caught_up fa "$M" 120
expect_eq "$(q fa "SELECT v FROM marks WHERE k = 2")" "after the kill" "fa: the row written after the load"
[ "$(bootstrap_count fa)" = 0 ] || fail "fa bootstrapped again while catching up after a kill -9:
$(bootstrap_lines fa)"

# ---------------------------------------------------------------- 6. the link cut every 2 s
# ss_kill_works: SOCK_DESTROY through `ss -K` resets a test connection.
ss_kill_works() {
	command -v ss >/dev/null 2>&1 || return 1
	timeout 10 python3 - <<'EOF' >/dev/null 2>&1
import socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port)); a, _ = s.accept()
subprocess.run(["ss", "-K", "-H", "-tn", "state", "established", "( dport = :%d )" % port], capture_output=True)
a.settimeout(3)
try:
    sys.exit(0 if a.recv(10) == b"" else 1)
except OSError:
    sys.exit(0)
EOF
}
# SLUICE_LINK_CUT=sigkill forces the fallback.
if [ "${SLUICE_LINK_CUT:-}" != sigkill ] && ss_kill_works; then
	cut_mode=ss
else
	cut_mode=sigkill
	log "ss -K does not work here (no CONFIG_INET_DIAG_DESTROY?): cutting the link by SIGKILL and restart of the follower instead"
fi
stopfile=$TEST_TMP/load.stop
(
	trap - ERR
	for ((i = 0; i < 40; i++)); do
		[ ! -e "$stopfile" ] || exit 0
		opts=(--no-vacuum)
		[ "$i" != 1 ] || opts=() # one VACUUM: a transaction rewriting the whole file
		timeout -k 5 120 "$WORKLOAD" "$ci" $((seed + 100 + i)) 150 "${opts[@]}" >>"$TEST_TMP/loop.out" 2>&1 ||
			{ echo "workload seed $((seed + 100 + i)) failed" >>"$TEST_TMP/loop.fail"; exit 1; }
	done
) &
loadpid=$!
bg_track "$loadpid"
killed=0
for ((i = 1; i <= link_cuts; i++)); do
	sleep 2
	if [ "$cut_mode" = ss ]; then
		out=$(ss -K -H -tn state established "( dport = :${PEER_PORT[$M]} )" 2>/dev/null) || true
		k=$(grep -c . <<<"$out" || true)
		killed=$((killed + k))
		log "cut $i: ss -K destroyed $k connection(s) to the peer port"
		proc_alive "$(node_pid fa)" || fail "fa exited after its link was cut"
	else
		node_kill_hard fa
		follower_restart fa
		killed=$((killed + 1))
	fi
done
touch "$stopfile"
rc=0
wait_pid_exit "$loadpid" 180 || rc=$?
[ "$rc" = 0 ] || fail "the load loop failed (exit $rc): $(cat "$TEST_TMP/loop.fail" 2>/dev/null) $(grep -m 1 '^workload:' "$TEST_TMP/loop.out")"
[ "$killed" -ge $((link_cuts / 2)) ] || fail "only $killed of $link_cuts link cuts found a connection to cut"
q "$M" "INSERT INTO marks VALUES (3, 'after the link cuts')" >/dev/null
wait_caught_up fa "$M" 120
expect_eq "$(q fa "SELECT v FROM marks WHERE k = 3")" "after the link cuts" "fa: the row written after the link cuts"
wait_replication_streaming "$M" fa 30
if [ "$cut_mode" = ss ]; then
	[ "$(bootstrap_count fa)" = 0 ] || fail "fa bootstrapped again after its link was cut:
$(bootstrap_lines fa)"
fi
log "link cut $killed times ($cut_mode); fa caught up"

# ---------------------------------------------------------------- 7. compare
follower_start fc "$M" --log_mode=physical
log "fc: back after being down through the load ($(bootstrap_count fc) bootstrap lines in this run)"
wait_caught_up fc "$M" 120
wait_caught_up fa "$M" 60
node_stop fa
node_stop fc
node_stop "$M"
compare_stopped "$M" fa cmp
compare_stopped "$M" fc cmp

# ---------------------------------------------------------------- 8. retention
# fr reaches its leader through the slow link proxy, so that its
# bootstraps last long enough for reads to run during them.
R=ret
leader_start "$R" --log_mode=logical --log_segment_size=1MB --log_keep_size=0 --max_log_size=2MB --checkpoint_wal_size=1MB
python3 "$TEST_TMP/slowproxy.py" "$TEST_TMP/proxy2.port" "${PEER_PORT[$R]}" "$SNAP_RATE" 600 &
bg_track $!
wait_until "[ -s '$TEST_TMP/proxy2.port' ]" 10 || fail "the second link proxy did not start"
fr_args=(--role=follower --node_name=fr --log_mode=logical "--leader_peer=127.0.0.1:$(head -n1 "$TEST_TMP/proxy2.port")"
	"--cluster_secret=$REPL_SECRET")
BLOBS_SQL="SELECT count(*) || ':' || coalesce(sum(length(b)), 0) FROM blobs"
q "$R" "CREATE TABLE blobs (k INTEGER PRIMARY KEY, b BLOB)" >/dev/null
q "$R" "CREATE TABLE marks (k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
for ((i = 0; i < 4; i++)); do
	q "$R" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO blobs SELECT -($i * 500 + x), randomblob(8000) FROM c" >/dev/null
done
node_launch fr "${fr_args[@]}"
node_wait_ready fr "$BOOTSTRAP_DEADLINE"
q "$R" "INSERT INTO marks VALUES (1, 'streamed')" >/dev/null
wait_caught_up fr "$R" 60
gone_lsn=$(lsn_num "$(node_status fr applied_lsn)")
old_blobs=$(q fr "$BLOBS_SQL")
node_stop fr
oldest=0
k=1
for ((round = 1; round <= 15; round++)); do
	for ((j = 0; j < 8; j++)); do
		q "$R" "INSERT INTO blobs VALUES ($k, randomblob(262144))" >/dev/null
		k=$((k + 1))
	done
	q "$R" "DELETE FROM blobs WHERE k BETWEEN 1 AND $((k - 16))" >/dev/null
	q "$R" "CHECKPOINT" >/dev/null
	q "$R" "INSERT INTO marks VALUES ($((round + 100)), 'round $round')" >/dev/null
	seg=$(find "$(node_dir "$R")/data/log" -name '*.seg' -printf '%f\n' | sort | head -n 1)
	oldest=$((16#${seg%.seg}))
	[ "$oldest" -le "$gone_lsn" ] || break
done
[ "$oldest" -gt "$gone_lsn" ] ||
	fail "the leader kept its log from $(printf '%X' "$oldest") on, not past fr's position; segments: $(ls "$(node_dir "$R")/data/log")"
log "the leader's oldest log segment starts at $(printf '%016X' "$oldest"), past fr's applied LSN $(printf '%X' "$gone_lsn")"
new_blobs=$(q "$R" "$BLOBS_SQL")
mark=$(log_mark "$R")
node_launch fr "${fr_args[@]}"
node_wait_ready fr "$BOOTSTRAP_DEADLINE"
# Reads while it finds out and bootstraps again: each sees the old content
# or the new, never a mix (an error is allowed, and logged).
for ((i = 0; i < 300; i++)); do
	echo "$BLOBS_SQL;"
	echo "SELECT pg_sleep(0.01);"
done >"$TEST_TMP/fr-reads.sql"
psql_to fr -At -v VERBOSITY=verbose -f "$TEST_TMP/fr-reads.sql" >"$TEST_TMP/fr-reads.out" 2>&1 &
rpid=$!
bg_track "$rpid"
# It may notice only once it asks the leader for the stream.
wait_until '[ "$(bootstraps_done fr)" -ge 1 ]' 60 ||
	fail "fr did not bootstrap again within 60s although the log it needed is gone; its log:
$(run_log fr | tail -n 30)"
log "fr: $(run_log fr | grep -iE "$BOOTSTRAP_DONE_RE" | head -n 1)"
log_since "$R" "$mark" | grep -qiE 'bootstrap' ||
	problem "the leader's log does not say that fr had to bootstrap again"
wait_pid_exit "$rpid" 60 || true
reads=$(grep -cE '^[0-9]+:[0-9]+$' "$TEST_TMP/fr-reads.out" || true)
bad=$(grep -E '^[0-9]+:[0-9]+$' "$TEST_TMP/fr-reads.out" | grep -vxF -e "$old_blobs" -e "$new_blobs" | sort | uniq -c | head -n 5) || true
errors=$(grep -E 'ERROR|FATAL|closed' "$TEST_TMP/fr-reads.out" | sort | uniq -c | head -n 5) || true
log "reads on fr during its second bootstrap: $reads results ($(grep -cxF "$old_blobs" "$TEST_TMP/fr-reads.out" || true) old content, $(grep -cxF "$new_blobs" "$TEST_TMP/fr-reads.out" || true) new)${errors:+; errors: $errors}"
[ -z "$bad" ] || fail "reads on fr during its second bootstrap saw content that is neither the old ($old_blobs) nor the new ($new_blobs):
$bad"
[ "$reads" -gt 0 ] || fail "no read on fr succeeded around its second bootstrap: $(tail -n 5 "$TEST_TMP/fr-reads.out")"
q "$R" "INSERT INTO marks VALUES (2, 'after the re-bootstrap')" >/dev/null
wait_caught_up fr "$R" 60
expect_eq "$(q fr "SELECT v FROM marks WHERE k = 2")" "after the re-bootstrap" "fr: the row written after its restart"
expect_eq "$(q fr "$BLOBS_SQL")" "$new_blobs" "fr: blobs after the re-bootstrap"
expect_eq "$(q fr "PRAGMA quick_check")" ok "fr: quick_check after the re-bootstrap"
node_stop fr
node_stop "$R"
compare_stopped "$R" fr
if [ ${#problems[@]} -gt 0 ]; then
	msg="${#problems[@]} problem(s) (seed $seed):"
	for p in "${problems[@]}"; do
		msg+=$'\n  - '"$p"
	done
	fail "$msg"
fi
log "all fault scenarios converged (seed $seed)"
