#!/bin/bash
# test_apply_stopped.sh — a follower whose apply stopped says so, also
# after its link to the leader comes back.
#
# A logical leader L and follower f. With f stopped, a row is written into
# f's database behind its back (Python's sqlite3, WAL emptied after). Once
# f runs again, the leader's INSERT of the same key is a conflict: f's
# sluice_status says state stopped with the conflict in last_error. Then L
# restarts: f reconnects and streams again (its log says so), but its
# state stays stopped, with the error, since nothing is applied any more.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

: "${DBSUM:?DBSUM must name tests/integration/dbsum}"
source "$TOP_SRCDIR/tests/integration/repl_lib.sh"

leader_start L --log_mode=logical
follower_start f L
q L "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)" >/dev/null
q L "INSERT INTO t VALUES (1, 'a')" >/dev/null
wait_caught_up f L 30
node_stop f
python3 - "${NODE_DIR[f]}/data/sluice.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO t VALUES (500, 'behind its back')")
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
EOF
follower_restart f
q L "INSERT INTO t VALUES (500, 'from the leader')" >/dev/null
wait_until "[ \"\$(status_try f 'SELECT state FROM sluice_status')\" = stopped ]" 20 ||
	fail "f did not stop on the conflict: $(status_try f 'SELECT * FROM sluice_status')"
expect_match "$(q f "SELECT last_error FROM sluice_status")" "conflict|constraint|UNIQUE|apply" "f's last_error"

mark=$(log_mark f)
node_stop L
leader_start L --log_mode=logical "--peer_listen=127.0.0.1:${PEER_PORT[L]}" # where f looks
wait_until "log_since f $mark | grep -q 'streaming from the leader'" 30 || fail "f did not reconnect"
# f receives what L writes now (but applies nothing)
q L "INSERT INTO t VALUES (600, 'after the restart')" >/dev/null
received() { [ "$(status_try f 'SELECT current_lsn FROM sluice_status')" = "$(status_try L 'SELECT current_lsn FROM sluice_status')" ]; }
wait_until received 20 || fail "f did not receive L's new records"
expect_eq "$(q f "SELECT state FROM sluice_status")" stopped "f's state after it reconnected"
node_stop f
node_stop L
log "PASS"
