#!/usr/bin/env python3
"""cdc_apply.py — applies the output of `sluice cdc` to a SQLite database,
as a consumer of the stream would, and checks the stream on the way.

    cdc_apply.py json|debezium EVENTS_FILE OUT_DB

Every line must be one JSON object. A snapshot (`--snapshot`) may come
first: its DDL and read events, all at one LSN S, framed in sluice's form
by snapshot_begin and snapshot_end (whose row count must match); the
transactions after it must start at S or later. Transactions must come
whole and in LSN order, each once: a begin (BEGIN), its events, a commit
(END) whose row count is the number of row events between them. DDL runs
as given; a read event becomes INSERT;
an insert becomes INSERT, an update UPDATE … WHERE key, a delete DELETE …
WHERE key, and each must touch exactly one row. A string in a column
declared BLOB is base64 (docs/CDC.md). Prints the number of transactions
and row events; exits 1 with the line at fault otherwise.
"""
import base64
import json
import sqlite3
import sys


def fail(lineno, line, why):
    sys.exit(f"cdc_apply: line {lineno}: {why}: {line[:300]}")


def lsn_num(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class Applier:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.blob_cols = {}
        self.txns = 0
        self.rows = 0
        self.last_lsn = -1
        self.open = None  # (xid, lsn, row events so far) inside a transaction
        self.snapshot = None  # [lsn, rows] inside sluice's snapshot_begin … snapshot_end
        self.snapshot_rows = 0

    def begin(self, lineno, line, xid, lsn):
        if self.open is not None:
            fail(lineno, line, "begin inside a transaction")
        if lsn <= self.last_lsn:
            fail(lineno, line, "transaction out of LSN order or repeated")
        self.last_lsn = lsn
        self.open = [xid, lsn, 0]
        self.db.execute("BEGIN")

    def commit(self, lineno, line, xid, rows):
        if self.open is None or self.open[0] != xid:
            fail(lineno, line, "commit without its begin")
        if rows != self.open[2]:
            fail(lineno, line, f"commit says {rows} rows, {self.open[2]} came")
        self.db.execute("COMMIT")
        self.txns += 1
        self.open = None

    def blobs(self, table):
        if table not in self.blob_cols:
            info = self.db.execute(f'PRAGMA table_info("{table}")').fetchall()
            self.blob_cols[table] = {c[1] for c in info if "BLOB" in (c[2] or "").upper()}
        return self.blob_cols[table]

    def values(self, table, row):
        out = {}
        for name, v in row.items():
            if isinstance(v, str) and name in self.blobs(table):
                v = base64.b64decode(v, validate=True)
            out[name] = v
        return out

    def snapshot_event(self, lineno, line, lsn):
        """A snapshot's DDL or row: before any transaction, all at one LSN."""
        if self.open is not None or self.txns:
            fail(lineno, line, "a snapshot event after the stream began")
        if self.last_lsn not in (-1, lsn - 1):
            fail(lineno, line, "snapshot events at two LSNs")
        self.last_lsn = lsn - 1  # the stream goes on at the snapshot's LSN

    def ddl(self, lineno, line, sql, snapshot_lsn=None):
        if snapshot_lsn is not None:
            self.snapshot_event(lineno, line, snapshot_lsn)
        elif self.open is None:
            fail(lineno, line, "DDL outside a transaction")
        self.db.execute(sql)
        self.blob_cols.clear()

    def change(self, lineno, line, table, op, key, before, after, snapshot_lsn=None):
        if snapshot_lsn is not None:
            if op != "read":
                fail(lineno, line, "a snapshot event that is not a read")
            self.snapshot_event(lineno, line, snapshot_lsn)
            self.snapshot_rows += 1
        elif self.open is None or op == "read":
            fail(lineno, line, "row event outside a transaction")
        else:
            self.open[2] += 1
        self.rows += 1
        q = lambda n: '"' + n.replace('"', '""') + '"'
        if op in ("insert", "read"):
            after = self.values(table, after)
            sql = f"INSERT INTO {q(table)} ({', '.join(q(c) for c in after)}) VALUES ({', '.join('?' for _ in after)})"
            cur = self.db.execute(sql, list(after.values()))
        else:
            key = self.values(table, key)
            where = " AND ".join(f"{q(c)} IS ?" for c in key)
            if op == "update":
                after = self.values(table, after)
                sets = ", ".join(f"{q(c)} = ?" for c in after)
                cur = self.db.execute(f"UPDATE {q(table)} SET {sets} WHERE {where}",
                                      list(after.values()) + list(key.values()))
            elif op == "delete":
                cur = self.db.execute(f"DELETE FROM {q(table)} WHERE {where}", list(key.values()))
            else:
                fail(lineno, line, f"unknown op {op}")
        if cur.rowcount != 1:
            fail(lineno, line, f"{op} touched {cur.rowcount} rows")


def key_of(a, table, row):
    """Debezium's events carry no key of their own: the table's primary key
    columns of the row."""
    pk = [c[1] for c in a.db.execute(f'PRAGMA table_info("{table}")').fetchall() if c[5]]
    return {c: row[c] for c in pk}


def main():
    fmt, events, out = sys.argv[1:4]
    a = Applier(out)
    ops = {"c": "insert", "u": "update", "d": "delete", "r": "read"}
    with open(events, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            try:
                e = json.loads(line)
            except ValueError as err:
                fail(lineno, line, f"not JSON ({err})")
            if fmt == "json":
                kind = e["event"]
                if kind == "snapshot_begin":
                    if a.snapshot is not None or a.last_lsn != -1:
                        fail(lineno, line, "a second snapshot, or one after the stream began")
                    a.snapshot = lsn_num(e["lsn"])
                    a.db.execute("BEGIN")
                    continue
                if kind == "snapshot_end":
                    if a.snapshot != lsn_num(e["lsn"]) or e["next_lsn"] != e["lsn"]:
                        fail(lineno, line, "snapshot_end of another snapshot")
                    if e["rows"] != a.snapshot_rows:
                        fail(lineno, line, f"snapshot_end says {e['rows']} rows, {a.snapshot_rows} came")
                    a.db.execute("COMMIT")
                    a.snapshot = -1
                    continue
                if a.snapshot is not None and a.snapshot >= 0:
                    if e["xid"] is not None or lsn_num(e["lsn"]) != a.snapshot:
                        fail(lineno, line, "an event inside the snapshot that is not of it")
                    if kind == "ddl":
                        a.ddl(lineno, line, e["sql"], a.snapshot)
                    elif kind == "change":
                        a.change(lineno, line, e["table"], e["op"], e["key"], e["before"], e["after"], a.snapshot)
                    else:
                        fail(lineno, line, "unknown event inside the snapshot")
                    continue
                if e["xid"] != lsn_num(e["lsn"]):
                    fail(lineno, line, "xid is not the transaction's LSN")
                if kind == "begin":
                    a.begin(lineno, line, e["xid"], e["xid"])
                elif kind == "commit":
                    a.commit(lineno, line, e["xid"], e["rows"])
                elif kind == "ddl":
                    a.ddl(lineno, line, e["sql"])
                elif kind == "change":
                    a.change(lineno, line, e["table"], e["op"], e["key"], e["before"], e["after"])
                else:
                    fail(lineno, line, "unknown event")
            elif "status" in e:
                if e["status"] == "BEGIN":
                    a.begin(lineno, line, e["id"], int(e["id"]))
                elif e["status"] == "END":
                    a.commit(lineno, line, e["id"], e["event_count"])
                else:
                    fail(lineno, line, "unknown status")
            elif "ddl" in e:
                src = e["source"]
                a.ddl(lineno, line, e["ddl"], lsn_num(src["lsn"]) if src["snapshot"] == "true" else None)
            else:
                op = ops.get(e.get("op"))
                src = e["source"]
                if op is None or src["snapshot"] != ("true" if op == "read" else "false"):
                    fail(lineno, line, "unknown op")
                if op == "read":
                    a.change(lineno, line, src["table"], op, None, None, e["after"], lsn_num(src["lsn"]))
                    continue
                if a.open is None or str(src["txId"]) != a.open[0]:
                    fail(lineno, line, "event of another transaction")
                if lsn_num(src["lsn"]) != src["txId"]:
                    fail(lineno, line, "txId is not the transaction's LSN")
                table = src["table"]
                row = e["before"] if op == "delete" else e["after"]
                key = key_of(a, table, e["before"] if op != "insert" else row)
                a.change(lineno, line, table, op, key, e["before"], e["after"])
    if a.open is not None or (a.snapshot is not None and a.snapshot >= 0):
        sys.exit("cdc_apply: the stream ends inside a transaction or the snapshot")
    print(f"{a.txns} transactions, {a.rows} row events")


if __name__ == "__main__":
    main()
