#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_txnrec into tests/fuzz/corpus/txnrec/.

The layout is txnrec.c's (all integers big-endian). Run once from
anywhere; it overwrites the seeds it names and leaves other files (e.g. ones
libFuzzer found) alone.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "txnrec")

PHYSICAL, LOGICAL = 1, 2
IMAGE, DELTA = 0, 1
CHANGESET, DDL, TABLE = 1, 2, 3


def u8(n): return struct.pack(">B", n & 0xFF)
def u16(n): return struct.pack(">H", n & 0xFFFF)
def u32(n): return struct.pack(">I", n & 0xFFFFFFFF)
def cstr(s): return s.encode() + b"\0"


def header(sections, walpos=(0x11223344, 0x55667788, 0x99AABBCC, 0xDDEEFF00)):
    return u8(sections) + b"".join(u32(x) for x in walpos)


def page(page_size, pgno):
    body = bytes((i * 31 + pgno * 7) & 0xFF for i in range(page_size))
    if pgno == 1:
        body = b"SQLite format 3\0" + u16(1 if page_size == 65536 else page_size) + body[18:]
    return body


def physical(page_size, db_pages, pgnos):
    return u32(page_size) + u32(db_pages) + u32(len(pgnos)) + b"".join(
        u32(p) + u8(IMAGE) + page(page_size, p) for p in pgnos)


def delta(pgno, ranges, base_crc=0x01020304, crc=0x05060708):
    """A DELTA page entry: ranges is [(offset, bytes)]."""
    return (u32(pgno) + u8(DELTA) + u32(base_crc) + u32(crc) + u16(len(ranges))
            + b"".join(u16(o) + u16(len(b)) + b for o, b in ranges))


def item(kind, body): return u8(kind) + u32(len(body)) + body
def logical(*items): return u32(len(items)) + b"".join(items)


def table(name, cols):
    return u16(len(cols)) + cstr(name) + b"".join(u8(pk) + cstr(c) for c, pk in cols)


# A sqlite3session changeset: table kv(k INTEGER PRIMARY KEY, v TEXT), one insert.
CHANGESET_KV = (b"T" + u8(2) + u8(1) + u8(0) + cstr("kv") + u8(18) + u8(0)
                + u8(1) + struct.pack(">q", 1) + u8(3) + u8(3) + b"one")
KV = table("kv", [("k", 1), ("v", 0)])
DDL_KV = b"CREATE TABLE kv(k INTEGER PRIMARY KEY, v TEXT)"
FULL = (header(PHYSICAL | LOGICAL) + physical(512, 3, [1, 3])
        + logical(item(DDL, DDL_KV), item(TABLE, KV), item(CHANGESET, CHANGESET_KV)))

SEEDS = {
    "full": FULL,
    "physical_one_page": header(PHYSICAL) + physical(512, 1, [1]),
    "physical_no_pages_64k": header(PHYSICAL, (0, 0, 0, 0)) + physical(65536, 7, []),
    "logical_ddl": header(LOGICAL) + logical(item(DDL, b"DROP TABLE kv")),
    "logical_empty": header(LOGICAL) + logical(),
    "logical_empty_changeset": header(LOGICAL) + logical(item(CHANGESET, b"")),
    "table_wide": header(LOGICAL) + logical(item(TABLE, table("wide", [("c%d" % i, i % 2) for i in range(12)]))),
    "truncated": FULL[:len(FULL) - 9],
    "trailing": FULL + b"\0",
    "bad_sections": header(4) + logical(),
    "bad_page_size": header(PHYSICAL) + u32(1000) + u32(1) + u32(0),
    "descending_pgno": (header(PHYSICAL) + u32(512) + u32(4) + u32(2) + u32(3) + u8(IMAGE) + page(512, 3)
                        + u32(2) + u8(IMAGE) + page(512, 2)),
    "deltas": (header(PHYSICAL) + u32(512) + u32(4) + u32(3) + delta(1, [(24, b"\0\0\0\x09"), (92, b"\0\0\0\x09")])
               + u32(2) + u8(IMAGE) + page(512, 2) + delta(4, [(0, b"\x0d"), (500, b"x" * 12)])),
    "delta_past_page": header(PHYSICAL) + u32(512) + u32(4) + u32(1) + delta(2, [(510, b"abc")]),
    "delta_overlap": header(PHYSICAL) + u32(512) + u32(4) + u32(1) + delta(2, [(10, b"abcd"), (12, b"x")]),
    "bad_page_kind": header(PHYSICAL) + u32(512) + u32(1) + u32(1) + u32(1) + u8(2) + page(512, 1),
    "pgno_past_end": header(PHYSICAL) + physical(512, 1, [2]),
    "huge_npages": header(PHYSICAL) + u32(65536) + u32(0xFFFFFFFF) + u32(0xFFFFFFFF) + u32(1),
    "huge_nitems": header(LOGICAL) + u32(0xFFFFFFFF) + item(DDL, b"x"),
    "unknown_kind": header(LOGICAL) + logical(item(4, b"x")),
    "ddl_with_nul": header(LOGICAL) + logical(item(DDL, b"DROP\0TABLE")),
    "table_bad_pk": header(LOGICAL) + logical(item(TABLE, u16(1) + cstr("t") + u8(2) + cstr("k"))),
    "table_trailing": header(LOGICAL) + logical(item(TABLE, KV + b"\0")),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
