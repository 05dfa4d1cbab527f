#!/bin/bash
# test_tls_drivers.sh — PostgreSQL drivers other than libpq over TLS, as
# their users write them: pgjdbc (Debian's libpostgresql-jdbc-java) with
# sslmode=verify-full and sslrootcert, and node-postgres (npm package pg,
# installed once under the build tree) with ssl.ca and
# rejectUnauthorized. The server has ssl_required = on and SCRAM, so a
# session that works is a TLS session with SCRAM over it. Each driver
# also fails against a CA that did not sign the server's certificate,
# and for a host name the certificate does not name.
set -euo pipefail
source "$TOP_SRCDIR/tests/integration/lib.sh"

JDBC_JAR=${JDBC_JAR:-/usr/share/java/postgresql.jar}
[ -r "$JDBC_JAR" ] || fail "no pgjdbc at $JDBC_JAR (Debian package libpostgresql-jdbc-java; scripts/run-tests installs it)"
command -v java >/dev/null || fail "no java (Debian package default-jre-headless; scripts/run-tests installs it)"
command -v npm >/dev/null || fail "no npm (scripts/run-tests installs nodejs and npm)"

# node-postgres, once per build tree
NODE_DIR=$(dirname "$SLUICED")/tests/node
if [ ! -f "$NODE_DIR/node_modules/pg/package.json" ]; then
	mkdir -p "$NODE_DIR"
	timeout 300 npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" pg@8 >"$TEST_TMP/npm.out" 2>&1 ||
		fail "npm install pg failed: $(tail -n 5 "$TEST_TMP/npm.out")"
fi

certs=$TEST_TMP/certs
"$TOP_SRCDIR/scripts/make-certs" "$certs" node
"$TOP_SRCDIR/scripts/make-certs" "$TEST_TMP/rogue" node
export PGPASSWORD=drivers-pw-1
echo "$SL_USER:$PGPASSWORD" >"$TEST_TMP/passwords"
chmod 600 "$TEST_TMP/passwords"
node_start tls --ssl=on --ssl_required=on "--ssl_cert_file=$certs/node.crt" "--ssl_key_file=$certs/node.key" \
	--auth_method=scram-sha-256 "--password_file=$TEST_TMP/passwords"
port=$(node_port tls)
q tls "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" >/dev/null

# ------------------------------------------------------------ pgjdbc
cat >"$TEST_TMP/Tls.java" <<'JAVA'
import java.sql.*;
import java.util.Properties;

public class Tls {
    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", a[2]);
        p.setProperty("password", a[3]);
        p.setProperty("sslmode", "verify-full");
        p.setProperty("sslrootcert", a[4]);
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://" + a[0] + ":" + a[1] + "/sluice", p)) {
            try (PreparedStatement s = c.prepareStatement("INSERT INTO t VALUES (?, ?) RETURNING v")) {
                s.setInt(1, 1);
                s.setString(2, "jdbc over tls");
                try (ResultSet r = s.executeQuery()) {
                    r.next();
                    System.out.println(r.getString(1));
                }
            }
        } catch (SQLException e) {
            System.out.println("error " + e.getSQLState() + " " + e.getMessage());
        }
    }
}
JAVA
# wrong.example: another name for 127.0.0.1, which the certificate does not name
printf '127.0.0.1 localhost\n127.0.0.1 wrong.example\n' >"$TEST_TMP/hosts"
jdbc() {
	timeout 60 java "-Djdk.net.hosts.file=$TEST_TMP/hosts" -cp "$JDBC_JAR" "$TEST_TMP/Tls.java" "$1" "$port" \
		"$SL_USER" "$PGPASSWORD" "$2" 2>>"$TEST_TMP/java.err" | tail -n 3
}
expect_eq "$(jdbc localhost "$certs/ca.crt")" "jdbc over tls" "pgjdbc, sslmode=verify-full"
out=$(jdbc localhost "$TEST_TMP/rogue/ca.crt")
expect_match "$out" "^error 08006 " "pgjdbc against another CA"
q tls "DELETE FROM t" >/dev/null
out=$(jdbc wrong.example "$certs/ca.crt")
expect_match "$out" "^error 08006 .*(host ?name|wrong\.example)" "pgjdbc for a host name the certificate does not name"
log "ok: pgjdbc verify-full: in, and refused for another CA or another name ($(head -c 160 <<<"$out"))"

# ------------------------------------------------------------ node-postgres
cat >"$TEST_TMP/tls.js" <<'JS'
const fs = require("fs");
const { Client } = require("pg");
const [host, port, user, password, ca, servername] = process.argv.slice(2);
const ssl = { ca: fs.readFileSync(ca), rejectUnauthorized: true };
if (servername) ssl.servername = servername; // the name the certificate must show
const c = new Client({ host, port: +port, user, password, database: "sluice", ssl });
c.connect()
  .then(() => c.query("INSERT INTO t VALUES ($1, $2) RETURNING v", [2, "node-postgres over tls"]))
  .then((r) => { console.log(r.rows[0].v); return c.end(); })
  .catch((e) => { console.log("error " + (e.code || "") + " " + e.message); process.exit(0); });
JS
nodepg() {
	NODE_PATH=$NODE_DIR/node_modules timeout 60 node "$TEST_TMP/tls.js" "$1" "$port" "$SL_USER" "$PGPASSWORD" "$2" \
		${3:+"$3"} 2>&1 | tail -n 3
}
expect_eq "$(nodepg localhost "$certs/ca.crt")" "node-postgres over tls" "node-postgres with ssl.ca"
out=$(nodepg localhost "$TEST_TMP/rogue/ca.crt")
expect_match "$out" "^error .*(certificate|self.signed|issuer)" "node-postgres against another CA"
q tls "DELETE FROM t" >/dev/null
out=$(nodepg 127.0.0.1 "$certs/ca.crt" wrong.example)
expect_match "$out" "^error ERR_TLS_CERT_ALTNAME_INVALID" "node-postgres for a host name the certificate does not name"
log "ok: node-postgres: in, and refused for another CA or another name"
expect_eq "$(q tls "SELECT count(*) FROM t")" 0 "rows left by the refused sessions"
node_stop tls
log "PASS"
