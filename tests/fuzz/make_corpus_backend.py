#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_backend into tests/fuzz/corpus/backend/.

Each seed is what an authenticated client sends (PostgreSQL protocol 3.0
messages): simple queries, the extended protocol, transaction blocks and
savepoints, SET and SHOW, COPY in and out, errors and statements the
sandbox refuses. Nothing random: the same seeds every run.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "backend")


def msg(t, body=b""):
    return t + struct.pack(">I", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


def q(sql):
    return msg(b"Q", cstr(sql))


def parse(name, sql, types=()):
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack(">H", len(types)) + b"".join(struct.pack(">I", t) for t in types))


def bind(portal, stmt, params=(), fmts=(), result_fmts=()):
    body = cstr(portal) + cstr(stmt) + struct.pack(">H", len(fmts)) + b"".join(struct.pack(">H", f) for f in fmts)
    body += struct.pack(">H", len(params))
    for p in params:
        body += struct.pack(">i", -1) if p is None else struct.pack(">I", len(p)) + p
    body += struct.pack(">H", len(result_fmts)) + b"".join(struct.pack(">H", f) for f in result_fmts)
    return msg(b"B", body)


def describe(kind, name):
    return msg(b"D", kind + cstr(name))


def execute(portal, rows=0):
    return msg(b"E", cstr(portal) + struct.pack(">I", rows))


SYNC = msg(b"S")
FLUSH = msg(b"H")
CREATE = q("CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT, b BLOB, r REAL)")

SEEDS = {
    "simple": CREATE + q("INSERT INTO kv VALUES (1, 'one', x'00ff', 1.5) ON CONFLICT (k) DO UPDATE SET v = excluded.v")
    + q("SELECT * FROM kv ORDER BY k"),
    "multi_statement": q("SELECT 1; SELECT 'two'; SELECT NULL"),
    "block": CREATE + q("BEGIN") + q("INSERT INTO kv (v) VALUES ('in a block')") + q("SAVEPOINT a")
    + q("INSERT INTO kv (v) VALUES ('rolled back')") + q("ROLLBACK TO a") + q("COMMIT"),
    "block_error": q("BEGIN") + q("SELECT * FROM no_such_table") + q("SELECT 1") + q("ROLLBACK"),
    "block_left_open": CREATE + q("BEGIN") + q("INSERT INTO kv (v) VALUES ('never committed')"),
    "read_only": q("BEGIN READ ONLY") + q("SELECT count(*) FROM sqlite_master") + q("COMMIT"),
    "extended": CREATE + parse("s1", "SELECT v FROM kv WHERE k = $1", (20,)) + bind("p1", "s1", (b"1",))
    + describe(b"P", "p1") + execute("p1") + SYNC,
    "extended_binary": parse("", "SELECT $1::int8, $2::text", (20, 25)) + bind("", "", (struct.pack(">q", 7), b"x"), (1, 0), (1,))
    + execute("") + SYNC,
    "extended_portal_rows": CREATE + q("INSERT INTO kv (v) VALUES ('a'), ('b'), ('c')") + q("BEGIN")
    + parse("s", "SELECT k FROM kv") + bind("p", "s") + execute("p", 1) + execute("p", 1) + SYNC + q("COMMIT"),
    "extended_error_skips": parse("", "SELEC broken") + bind("", "") + execute("") + SYNC + q("SELECT 'after'"),
    "extended_flush": parse("f", "SELECT 1") + FLUSH + bind("", "f") + execute("") + SYNC,
    "describe_statement": parse("d", "SELECT $1::text AS t") + describe(b"S", "d") + SYNC,
    "close": parse("c", "SELECT 1") + msg(b"C", b"S" + cstr("c")) + SYNC,
    "set_show": q("SET statement_timeout = '2s'") + q("SHOW statement_timeout") + q("SET application_name TO 'fuzz'")
    + q("SHOW ALL") + q("RESET ALL"),
    "set_bad": q("SET no_such_setting = 1") + q("SET statement_timeout = 'soon'"),
    "copy_in": CREATE + q("COPY kv (k, v) FROM STDIN") + msg(b"d", b"100\thundred\n101\t\\N\n") + msg(b"c") + q("SELECT count(*) FROM kv"),
    "copy_in_fail": CREATE + q("COPY kv (k, v) FROM STDIN") + msg(b"d", b"x\ty\n") + msg(b"f", cstr("client gave up")),
    "copy_out": CREATE + q("COPY kv TO STDOUT") + q("COPY (SELECT 1, 'a') TO STDOUT WITH (FORMAT csv)"),
    "sandbox": q("ATTACH DATABASE '/tmp/x.db' AS x") + q("PRAGMA journal_mode = DELETE") + q("SELECT load_extension('x')")
    + q("VACUUM INTO '/tmp/y.db'") + q("PRAGMA table_info(kv)"),
    "pg_functions": q("SELECT version(), current_setting('server_version'), repeat('ab', 3), now() IS NOT NULL"),
    "catalog": q("SELECT relname FROM pg_catalog.pg_class LIMIT 3") + q("SELECT * FROM sluice_status"),
    "recursive": q("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT sum(x) FROM c"),
    "ddl": q("CREATE TABLE t2 (a INTEGER PRIMARY KEY, b TEXT UNIQUE)") + q("CREATE INDEX t2b ON t2 (b)")
    + q("ALTER TABLE t2 ADD COLUMN c INT") + q("DROP TABLE t2"),
    "terminate": q("SELECT 1") + msg(b"X") + q("SELECT 2"),
    "unknown_message": msg(b"?", b"abc") + SYNC,
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
