#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_pgwire into tests/fuzz/corpus/pgwire/.

Run once from anywhere; it overwrites the seeds it names and leaves other
files (e.g. ones libFuzzer found) alone.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pgwire")


def u16(n): return struct.pack(">H", n & 0xFFFF)
def u32(n): return struct.pack(">I", n & 0xFFFFFFFF)
def cstr(s): return s.encode() + b"\0"
def msg(t, body): return t.encode() + u32(len(body) + 4) + body
def startup(code, body=b""): return u32(len(body) + 8) + u32(code) + body


def params(*kv): return b"".join(cstr(x) for x in kv) + b"\0"


V3, CANCEL, SSL, GSS = 196608, 80877102, 80877103, 80877104
USER = params("user", "alice", "database", "db1", "application_name", "psql", "client_encoding", "UTF8")
SELECT = msg("Q", cstr("SELECT 1"))
# Parse with int4/text/bytea OIDs; Bind with binary int4, NULL, text; binary results.
PARSE = msg("P", cstr("s1") + cstr("SELECT $1, $2, $3") + u16(3) + u32(23) + u32(25) + u32(17))
BIND = msg("B", cstr("") + cstr("s1") + u16(3) + u16(1) + u16(0) + u16(1) + u16(3)
           + u32(4) + u32(42) + u32(0xFFFFFFFF) + u32(2) + b"hi" + u16(1) + u16(1))
EXTENDED = PARSE + BIND + msg("D", b"P\0") + msg("E", b"\0" + u32(0)) + msg("S", b"")

SEEDS = {
    "startup_v3": startup(V3, USER),
    "startup_v3_noparams": startup(V3, b"\0"),
    "ssl_request": startup(SSL),
    "gssenc_request": startup(GSS),
    "cancel_request": startup(CANCEL, u32(4242) + u32(0xDEADBEEF)),
    "startup_bad_version": startup(0x20000, USER),
    "startup_missing_nul": startup(V3, USER[:-1]),
    "startup_trailing": startup(V3, USER + b"xyz"),
    "startup_truncated": startup(V3, USER)[:20],
    "startup_overlong": u32(10001) + u32(V3) + USER,
    "startup_then_query": startup(V3, USER) + SELECT + msg("X", b""),
    "query": SELECT,
    "query_empty": msg("Q", b"\0"),
    "extended_binary": EXTENDED,
    "extended_truncated": EXTENDED[:len(EXTENDED) - 7],
    "bind_format_mismatch": msg("B", b"\0\0" + u16(2) + u16(1) + u16(1) + u16(3) + u32(0xFFFFFFFF) * 3 + u16(0)),
    "bind_negative_len": msg("B", b"\0\0" + u16(0) + u16(1) + u32(0xFFFFFFFE) + u16(0)),
    "bind_len_past_end": msg("B", b"\0\0" + u16(0) + u16(1) + u32(100) + b"abc" + u16(0)),
    "close_and_bad_describe": msg("C", b"S" + cstr("s1")) + msg("D", b"X" + cstr("s1")),
    "password": msg("p", cstr("s3cret")),
    "sasl_initial": msg("p", cstr("SCRAM-SHA-256") + u32(24) + b"n,,n=,r=rOprNGfwEbeRWgbN"),
    "sasl_initial_no_data": msg("p", cstr("SCRAM-SHA-256") + u32(0xFFFFFFFF)),
    "length_below_4": b"Q" + u32(3) + b"SELECT 1\0",
    "message_overlong": b"Q" + u32(513) + b"SELECT 1\0",
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
