# cdc_lib.sh — helpers for the tests of change data capture on a cluster of
# three members n1, n2, n3 (test_cdc.sh, test_slots.sh). Sourced after
# lib.sh and repl_lib.sh, once the members run.
#
# `cdc_cluster_init` sets hosts (every member's client address as
# `--host` options) and rw_conninfo (a libpq string that reaches whichever
# member leads). `w SQL` runs SQL there, again while no member leads or
# the one reached does not lead yet; `wq SQL` does the same and prints the
# answer (unaligned, tuples only). `leader` prints the member that leads
# now, `stable_leader` one that still leads a second later (under load a
# fresh leader may lose its lease once).

cdc_cluster_init() {
	hosts=(--host "127.0.0.1:$(node_port n1)" --host "127.0.0.1:$(node_port n2)" --host "127.0.0.1:$(node_port n3)")
	rw_conninfo="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(node_port n1),$(node_port n2),$(node_port n3) user=sluice dbname=sluice target_session_attrs=read-write connect_timeout=2"
}

# (no write is under way when the leadership moves, so none may have
# happened unacknowledged; a write that may be retried must be idempotent)
wq() {
	local i out
	for i in $(seq 1 100); do
		if out=$(timeout 20 psql "$rw_conninfo" -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1); then
			[ -z "$out" ] || printf '%s\n' "$out"
			return 0
		fi
		grep -qE 'ERROR:  ([0-9A-Z]{5}):' <<<"$out" && ! grep -qE 'ERROR:  (55000|25006|57P01|08...):' <<<"$out" &&
			break
		sleep 0.2
	done
	fail "write failed: $1
$out"
}

w() { wq "$1" >/dev/null; }

leader() {
	local n
	for n in n1 n2 n3; do
		proc_alive "$(node_pid "$n")" || continue
		[ "$(status_try "$n" "SELECT role || '/' || state FROM sluice_status")" = leader/leading ] && echo "$n" && return 0
	done
	return 1
}

stable_leader() {
	local a b
	a=$(leader) || return 1
	sleep 1
	b=$(leader) || return 1
	[ "$a" = "$b" ] && echo "$a"
}
