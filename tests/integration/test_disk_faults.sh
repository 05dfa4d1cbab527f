#!/bin/bash
# test_disk_faults.sh — fail-stop on disk errors: an fsync or write error on
# the replication log stops all writes, the commit it concerned is never
# acknowledged, and no acknowledged row is lost. For each log_mode:
#
# (a) fsync failure: while three ackwriter clients commit one row at a time,
#     strace attaches to the leader and makes every fdatasync and fsync
#     fail with EIO. Then every client's commit fails (FATAL 58030, or the
#     connection closed) and none succeeds: a client may see at most the one
#     acknowledgement that was already on its way when strace attached.
#     The server log says writes are stopped; a new INSERT fails with 58030.
#     The leader is killed (strace ends with it) and restarted: every
#     acknowledged row is there, at most one row per client beyond them,
#     integrity_check is ok, writes work again, and the log still replays
#     to the leader's database.
# (b) full disk: the data directory is a 24 MB tmpfs mounted by the test,
#     with 1 MB log segments and checkpoint_wal_size. Rounds of two clients
#     insert 64 KB rows, each until the server answers with an error, which
#     must be 53100 (disk full) or 58030 (writes stopped), or a close, until
#     a round gets nothing acknowledged and the file system is full. After a
#     kill -9, a restart on the still-full directory must either refuse
#     cleanly or come up; then the tmpfs is enlarged and the leader
#     restarted: every acknowledged row is there, writes work, and the log
#     replays to the leader's database.
#
# Needs root (mount, ptrace) and strace (scripts/run-tests installs it);
# without them the test is skipped (exit 77) and says why.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: test_disk_faults needs root (it mounts a tmpfs and attaches strace)"
	exit 77
fi
if ! command -v strace >/dev/null 2>&1; then
	echo "SKIP: test_disk_faults needs strace (apt-get install strace)"
	exit 77
fi

source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${SLUICE:?SLUICE must name the sluice tool}"
: "${ACKWRITER:?ACKWRITER must name tests/integration/ackwriter}"
: "${DBSUM:?DBSUM must name tests/integration/dbsum}"

LEADER_OPTS=(--log_segment_size=1MB --checkpoint_wal_size=1MB --log_keep_size=64GB --max_log_size=0)
ACK_TABLE="CREATE TABLE IF NOT EXISTS acks (client INTEGER, seq INTEGER, PRIMARY KEY (client, seq))"
modes=(physical logical both)

# acked FILE: how many seqs an ackwriter printed.
acked() { grep -c '' "$1" || true; }

# check_acked NODE TABLE PREFIX WRITERS: after a restart, every seq in
# PREFIX.W (0..k-1) of each writer W is in TABLE, and at most one row more.
check_acked() {
	local n=$1 table=$2 prefix=$3 writers=$4 w k out have extra
	for ((w = 1; w <= writers; w++)); do
		k=$(acked "$prefix.$w")
		if [ "$k" -gt 0 ]; then
			[ "$(head -n 1 "$prefix.$w")" = 0 ] && [ "$(tail -n 1 "$prefix.$w")" = $((k - 1)) ] ||
				fail "$n: writer $w printed an unexpected sequence"
		fi
		out=$(q "$n" "SELECT (SELECT count(*) FROM $table WHERE client = $w AND seq BETWEEN 0 AND $((k - 1))),
			(SELECT count(*) FROM $table WHERE client = $w AND seq >= $k)")
		IFS='|' read -r have extra <<<"$out"
		[ "$have" = "$k" ] || fail "$n: writer $w: $((k - have)) of $k acknowledged rows missing after the restart"
		[ "$extra" -le 1 ] || fail "$n: writer $w: $extra rows beyond the acknowledged ones (at most 1 was in flight)"
		log "$n: writer $w: all $k acknowledged rows present, $extra unacknowledged"
	done
	expect_eq "$(q "$n" "PRAGMA integrity_check")" "ok" "$n: integrity_check after the restart"
}

# replay_matches NODE MODE DATA_DIR: stop NODE cleanly, replay its log,
# compare with its database.
replay_matches() {
	local n=$1 mode=$2 dir=$3 rmode out rc want got
	node_stop "$n"
	want=$("$DBSUM" "$dir/sluice.db")
	for rmode in physical logical; do
		[ "$mode" = both ] || [ "$mode" = "$rmode" ] || continue
		out=$TEST_TMP/$n.$rmode.db
		rm -f "$out"
		rc=0
		timeout -k 5 120 "$SLUICE" log replay "$dir" "$out" --mode "$rmode" >"$out.txt" 2>&1 || rc=$?
		[ "$rc" = 0 ] || fail "$n: sluice log replay --mode $rmode exited $rc: $(tail -n 5 "$out.txt")"
		got=$("$DBSUM" "$out")
		[ "$got" = "$want" ] || fail "$n: $rmode replay differs from the leader's database (dbsum $got, want $want)"
		log "$n: $rmode replay matches the leader ($(cat "$out.txt"))"
		rm -f "$out"
	done
}

# writer_exit_ok NAME STATUS ERRFILE STATES: an ackwriter ended because of
# the fault: connection lost (2, FATAL or closed) or an ERROR (3) whose
# SQLSTATE is one of STATES (a regex).
writer_exit_ok() {
	local what=$1 rc=$2 err=$3 states=$4
	case $rc in
	2) grep -qE "sqlstate=($states)? " "$err" || fail "$what: failed with an unexpected error: $(cat "$err")" ;;
	3) grep -qE "sqlstate=($states) " "$err" || fail "$what: failed with an unexpected error: $(cat "$err")" ;;
	124) fail "$what: still running long after the fault" ;;
	*) fail "$what: exited $rc: $(cat "$err")" ;;
	esac
}

# ---------------------------------------------------------------- (a) fsync
for mode in "${modes[@]}"; do
	n=fsync-$mode
	node_start "$n" --log_mode="$mode" "${LEADER_OPTS[@]}"
	q "$n" "$ACK_TABLE" >/dev/null
	conninfo=$(node_conninfo "$n")
	prefix=$TEST_TMP/$n.ack
	pids=()
	for w in 1 2 3; do
		"$ACKWRITER" "$conninfo" "$w" 0 >"$prefix.$w" 2>"$prefix.$w.err" &
		pids+=($!)
		bg_track $!
	done
	wait_until "[ \$(acked $prefix.1) -ge 50 ] && [ \$(acked $prefix.2) -ge 50 ] && [ \$(acked $prefix.3) -ge 50 ]" 30 ||
		fail "$n: the writers did not get 50 commits each within 30 s: $(cat "$prefix".?.err)"
	for w in 1 2 3; do
		proc_alive "${pids[$((w - 1))]}" || fail "$n: writer $w stopped before the fault: $(cat "$prefix.$w.err")"
	done

	pid=$(node_pid "$n")
	strace -f -p "$pid" -e trace=fdatasync,fsync -e inject=fdatasync:error=EIO -e inject=fsync:error=EIO \
		-o "$TEST_TMP/$n.strace" 2>"$TEST_TMP/$n.strace.err" &
	spid=$!
	bg_track "$spid"
	wait_until "grep -q 'attached' '$TEST_TMP/$n.strace.err'" 20 ||
		fail "$n: strace did not attach: $(cat "$TEST_TMP/$n.strace.err")"
	at_fault=()
	for w in 1 2 3; do
		at_fault[$w]=$(acked "$prefix.$w")
	done
	log "$n: strace attached; acknowledged so far: ${at_fault[1]} ${at_fault[2]} ${at_fault[3]}"

	for w in 1 2 3; do
		rc=0
		wait_pid_exit "${pids[$((w - 1))]}" 30 || rc=$?
		writer_exit_ok "$n: writer $w" "$rc" "$prefix.$w.err" 58030
		after=$(($(acked "$prefix.$w") - at_fault[$w]))
		[ "$after" -le 1 ] ||
			fail "$n: writer $w got $after acknowledgements after the fsync failures began (at most 1 was on its way)"
		log "$n: writer $w: exit $rc, $after acknowledgement(s) after the fault; $(cat "$prefix.$w.err")"
	done
	grep -q 'INJECTED' "$TEST_TMP/$n.strace" || fail "$n: strace injected no error: $(head -n 5 "$TEST_TMP/$n.strace")"
	wait_until "grep -q 'writes are stopped' '$(node_log "$n")'" 10 || fail "$n: the server log does not say writes are stopped"
	out=$(q_raw "$n" "INSERT INTO acks VALUES (99, 1)") && fail "$n: an INSERT after the fault succeeded: $out"
	expect_match "$out" '(ERROR|FATAL):  58030:' "$n: INSERT after the fault"
	if out=$(q_raw "$n" "SELECT count(*) FROM acks"); then
		log "$n: reads still answered after the fault ($out rows)"
	else
		log "$n: reads refused after the fault: $out"
	fi

	node_kill "$n"
	rc=0
	wait_pid_exit "$spid" 10 || rc=$?
	[ "$rc" != 124 ] || fail "$n: strace did not end with the server"
	node_start "$n" --log_mode="$mode" "${LEADER_OPTS[@]}"
	check_acked "$n" acks "$prefix" 3
	expect_eq "$(q "$n" "SELECT count(*) FROM acks WHERE client = 99")" "0" "$n: the INSERT refused after the fault"
	expect_eq "$(q "$n" "INSERT INTO acks VALUES (100, 1)")" "INSERT 0 1" "$n: a write after the restart"
	replay_matches "$n" "$mode" "$(node_dir "$n")/data"
done

# ---------------------------------------------------------------- (b) full disk
# check_ranges NODE TABLE RANGE...: each "client lo hi" range is all there.
check_ranges() {
	local n=$1 table=$2 r c lo hi have
	shift 2
	for r in "$@"; do
		read -r c lo hi <<<"$r"
		have=$(q "$n" "SELECT count(*) FROM $table WHERE client = $c AND seq BETWEEN $lo AND $hi")
		[ "$have" = $((hi - lo + 1)) ] ||
			fail "$n: client $c: $((hi - lo + 1 - have)) of $((hi - lo + 1)) acknowledged rows ($lo..$hi) missing after the restart"
	done
	expect_eq "$(q "$n" "PRAGMA integrity_check")" "ok" "$n: integrity_check after the restart"
}

wrong_state=()
for mode in "${modes[@]}"; do
	n=full-$mode
	mnt=$TEST_TMP/mnt-$mode
	mkdir -p "$mnt"
	mount -t tmpfs -o size=24m tmpfs "$mnt" || fail "cannot mount a tmpfs on $mnt"
	at_exit "umount -l '$mnt' 2>/dev/null"
	data=$mnt/data
	node_start "$n" --data_dir="$data" --log_mode="$mode" "${LEADER_OPTS[@]}"
	conninfo=$(node_conninfo "$n")
	ranges=()
	total=0
	# Rounds of two writers of 64 KB rows, each until its first error, until
	# a round gets nothing acknowledged (bounded: 10 rounds).
	for ((round = 1; round <= 10; round++)); do
		prefix=$TEST_TMP/$n.r$round
		pids=()
		for w in 1 2; do
			timeout -k 5 60 "$ACKWRITER" "$conninfo" "$w" $((round * 1000000)) --table big --payload 65536 \
				>"$prefix.$w" 2>"$prefix.$w.err" &
			pids+=($!)
			bg_track $!
		done
		got=0
		for w in 1 2; do
			rc=0
			wait_pid_exit "${pids[$((w - 1))]}" 70 || rc=$?
			# Closed without a message (2), or 53100 / 58030.
			# A wrong SQLSTATE is reported at the end, after the durability
			# checks, which matter more.
			case $rc in
			2 | 3) grep -qE "sqlstate=(53100|58030)? " "$prefix.$w.err" ||
				wrong_state+=("$n: round $round: writer $w: want 53100 or 58030, got: $(cut -c1-200 "$prefix.$w.err")") ;;
			*) fail "$n: round $round: writer $w exited $rc: $(cat "$prefix.$w.err")" ;;
			esac
			k=$(acked "$prefix.$w")
			if [ "$k" -gt 0 ]; then
				lo=$((round * 1000000))
				[ "$(head -n 1 "$prefix.$w")" = "$lo" ] && [ "$(tail -n 1 "$prefix.$w")" = $((lo + k - 1)) ] ||
					fail "$n: round $round: writer $w printed an unexpected sequence"
				ranges+=("$w $lo $((lo + k - 1))")
			fi
			got=$((got + k))
			log "$n: round $round: writer $w: $k rows; $(cat "$prefix.$w.err")"
		done
		total=$((total + got))
		[ "$got" -gt 0 ] || break
	done
	[ "$got" = 0 ] || fail "$n: writes still succeed after 10 rounds of 64 KB rows on a 24 MB file system"
	avail=$(df -k --output=avail "$mnt" | tail -n 1 | tr -d ' ')
	[ "$avail" -lt 1024 ] || fail "$n: writes stopped with ${avail} KB still free on the tmpfs"
	rc=0
	out=$(q_raw "$n" "INSERT INTO big VALUES (99, 1, randomblob(65536))") || rc=$?
	if [ "$rc" = 0 ]; then
		ranges+=("99 1 1")
	else
		expect_match "$out" '(ERROR|FATAL):  (53100|58030):|server closed the connection' "$n: INSERT on the full disk (psql exit $rc)"
	fi
	log "$n: disk full after $total acknowledged rows; server log: $(grep -E ' (error|fatal) ' "$(node_log "$n")" | tail -n 1)"
	node_kill "$n"

	# A restart on the still-full directory: refuse cleanly, or come up.
	full_log=$TEST_TMP/$n.fullstart.log
	"$SLUICED" --listen_address=127.0.0.1 --port=0 --port_file="$TEST_TMP/$n.fullport" --data_dir="$data" \
		--log_mode="$mode" "${LEADER_OPTS[@]}" >"$full_log" 2>&1 &
	fpid=$!
	bg_track "$fpid"
	wait_until "[ -s '$TEST_TMP/$n.fullport' ] || ! proc_alive $fpid" 30 || fail "$n: start-up on the full disk hangs"
	if proc_alive "$fpid"; then
		log "$n: started on the full disk"
		kill -KILL "$fpid"
	fi
	rc=0
	wait_pid_exit "$fpid" 10 || rc=$?
	! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$full_log" ||
		fail "$n: start-up on the full disk: sanitizer report: $(head -n 20 "$full_log")"
	log "$n: start-up on the full disk: exit $rc: $(grep -E ' (error|fatal) ' "$full_log" | tail -n 1)"

	mount -o remount,size=96m "$mnt" || fail "cannot enlarge the tmpfs"
	node_start "$n" --data_dir="$data" --log_mode="$mode" "${LEADER_OPTS[@]}"
	check_ranges "$n" big "${ranges[@]}"
	log "$n: all $total acknowledged rows present after the restart"
	expect_eq "$(q "$n" "INSERT INTO big VALUES (100, 1, randomblob(65536))")" "INSERT 0 1" "$n: a write after the restart"
	replay_matches "$n" "$mode" "$data"
	umount "$mnt" || umount -l "$mnt"
done
if [ ${#wrong_state[@]} -gt 0 ]; then
	msg="every acknowledged row survived, but ${#wrong_state[@]} writer(s) on a full disk got the wrong error:"
	for f in "${wrong_state[@]}"; do
		msg+=$'\n  - '"$f"
	done
	fail "$msg"
fi
log "disk faults: every acknowledged row survived; no commit succeeded after a fault"
