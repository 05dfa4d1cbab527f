#!/bin/bash
# test_bootstrap.sh — new followers copy a database that is larger than
# what the leader may hold in memory, at the same time, and get exactly
# the leader's pages.
#
# A leader holds a database of about 192 MB (incompressible rows). Two new
# followers start at once: both bootstrap (the leader's log shows two
# snapshots sent), and the leader's peak resident memory over the two
# transfers grows by less than 64 MB (a snapshot held in memory would be
# the whole database, twice). After one more write (which rewrites page
# 1, whose file change counter is the copy's own until then), each
# follower's sluice.db is byte-identical to the leader's.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

MB=${BOOTSTRAP_TEST_MB:-192}
leader_start L
q L "CREATE TABLE big(k INTEGER PRIMARY KEY, v BLOB)" >/dev/null
for ((i = 0; i < MB / 16; i++)); do
	q L "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 16384)
	     INSERT INTO big SELECT $i * 16384 + x, randomblob(1000) FROM c" >/dev/null
done
pages=$(q L "SELECT count(*) FROM big")
expect_eq "$pages" $((MB / 16 * 16384)) "rows written"
size=$(stat -c %s "$(node_dir L)/data/sluice.db")
log "leader: $pages rows, sluice.db $((size >> 20)) MB (and its WAL)"

lpid=$(node_pid L)
rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$lpid/status")
echo 5 >"/proc/$lpid/clear_refs" # the peak (VmHWM) starts over from here
mark=$(log_mark L)
follower_launch f1 L
follower_launch f2 L
node_wait_ready f1 "$BOOTSTRAP_DEADLINE"
node_wait_ready f2 "$BOOTSTRAP_DEADLINE"
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$lpid/status")
sent=$(log_since L "$mark" | grep -c 'snapshot sent' || true)
expect_eq "$sent" 2 "snapshots sent by the leader"
log "leader RSS ${rss0} kB before, peak ${peak} kB during two bootstraps"
[ $((peak - rss0)) -lt $((64 * 1024)) ] ||
	fail "the leader's peak RSS grew by $(((peak - rss0) >> 10)) MB while sending two snapshots of a $((size >> 20)) MB database"
# Replication goes on from the copies. A write that grows the database
# rewrites page 1, whose file change counter is the copy's own until then.
q L "INSERT INTO big VALUES (-1, randomblob(100000))" >/dev/null
wait_caught_up f1 L 30
wait_caught_up f2 L 30

node_stop f1
node_stop f2
node_stop L
compare_stopped L f1 cmp
compare_stopped L f2 cmp

log "ok"
