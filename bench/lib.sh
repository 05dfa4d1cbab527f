# lib.sh — what the side-by-side benchmarks share: where things are, the
# packages they need, building sluiced, starting and stopping processes,
# PostgreSQL as its own OS user, peak RSS. Sourced by
# bench/pgbench-compare, bench/replication-compare, bench/cdc-compare and
# bench/compare-all, each of which sets BENCH_NAME (for messages) before
# sourcing it and PACKAGES before calling install_missing.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
BENCH=$ROOT/bench
BUILD=$ROOT/build/plain
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
HOST=127.0.0.1
# Keep our own psql and pgbench away from ambient libpq settings.
unset PGHOSTADDR PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS PGPASSFILE
export PSQLRC=/dev/null

usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# Milliseconds since the epoch.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((10#$t / 1000)); }
# LSN text X/Y as a number; empty for anything else.
lsn_num() {
	[[ ${1:-} =~ ^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$ ]] || return 1
	echo $(((16#${BASH_REMATCH[1]} << 32) | 16#${BASH_REMATCH[2]}))
}

install_missing() {
	local missing=() p
	command -v dpkg-query >/dev/null 2>&1 || return 0
	for p in "${PACKAGES[@]}"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root to install them)"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
		die "could not install ${missing[*]}"
	fi
}

# Sets SLUICED and SLUICE (the tool), building build/plain (optimized, no
# sanitizers) if needed.
ensure_sluiced() {
	if [ -n "${SLUICED:-}" ]; then
		[ -x "$SLUICED" ] || die "SLUICED=$SLUICED is not an executable"
		SLUICE=${SLUICE:-$(dirname "$SLUICED")/sluice}
		return 0
	fi
	[ -f "$ROOT/config.status" ] &&
		die "the source tree is configured in place ($ROOT/config.status exists); run \`make distclean\` there, or set SLUICED=/path/to/sluiced"
	if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] ||
		[ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
		log "autoreconf -fi"
		(cd "$ROOT" && autoreconf -fi) >/dev/null 2>&1 || die "autoreconf -fi failed in $ROOT"
	fi
	mkdir -p "$BUILD" || die "cannot create $BUILD"
	if [ ! -f "$BUILD/Makefile" ]; then
		log "configuring build/plain"
		(cd "$BUILD" && ../../configure CFLAGS="${CFLAGS:--g -O2}") >"$BUILD/configure.out" 2>&1 || {
			tail -n 30 "$BUILD/configure.out" >&2
			die "configure failed (see $BUILD/configure.out); --only=postgresql runs without sluiced"
		}
	fi
	log "building sluiced and sluice (build/plain)"
	make -C "$BUILD" -j2 sluiced sluice >"$BUILD/make-sluiced.out" 2>&1 || {
		tail -n 40 "$BUILD/make-sluiced.out" >&2
		die "build failed (see $BUILD/make-sluiced.out); --only=postgresql runs without sluiced"
	}
	SLUICED=$BUILD/sluiced
	SLUICE=${SLUICE:-$BUILD/sluice}
}

# Runs a command as the postgres OS user (as is, when not root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd /tmp && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# stop_pid PID NAME: SIGTERM, SIGKILL after 20 s; true if it exited by itself.
stop_pid() {
	local pid=$1 name=$2 deadline rc=0
	alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	deadline=$((SECONDS + 20))
	while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
	if alive "$pid"; then
		log "$name did not stop in 20 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null
		rc=1
	fi
	wait "$pid" 2>/dev/null
	return $rc
}

pg_stop_dir() {
	[ -n "$1" ] && [ -f "$1/postmaster.pid" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		as_pg "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1
}

# A port nothing listens on, below the ephemeral range.
free_port() {
	local i p
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/$HOST/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Peak RSS per benchmark row: rss_reset PID... sets each process's peak
# RSS (VmHWM) back to its current RSS (/proc/PID/clear_refs, Linux 4.0 and
# later); rss_peak_mb PID prints the peak since then in MB ("-" for a
# process that is gone).
rss_reset() {
	local p
	for p in "$@"; do
		[ -n "$p" ] && echo 5 >"/proc/$p/clear_refs" 2>/dev/null
	done
	return 0
}
rss_peak_mb() {
	local v=""
	[ -n "${1:-}" ] && alive "$1" && v=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null)
	echo "${v:--}"
}
