#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_record into tests/fuzz/corpus/record/.

The records follow the format specified at the top of wal/record.c. Run
once from anywhere; it overwrites the seeds it names and leaves other files
(e.g. ones libFuzzer found) alone.
"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "record")

MAGIC = 0x534C5231
TXN, EPOCH = 1, 2
COMPRESSED = 0x01


def record(lsn, payload, epoch=1, ts=1700000000000000, rtype=TXN, compress=False,
           flags=None, reserved=0, stored_len=None, raw_len=None, crc=None):
    """One encoded record; the keyword arguments allow breaking it."""
    stored = payload
    f = 0
    if compress:
        stored = struct.pack(">I", len(payload) if raw_len is None else raw_len) + zlib.compress(payload, 1)
        f = COMPRESSED
    if flags is not None:
        f = flags
    n = len(stored) if stored_len is None else stored_len
    tail = struct.pack(">QQQBBHI", lsn, epoch, ts, rtype, f, reserved, n)
    c = zlib.crc32(tail + stored) if crc is None else crc
    return struct.pack(">II", MAGIC, c) + tail + stored


def flip(data, i, bit=0):
    b = bytearray(data)
    b[i] ^= 1 << bit
    return bytes(b)


TEXT = b"INSERT INTO kv(k, v) VALUES (42, 'hello world'); " * 40
A = record(0, b"first transaction")
B = record(len(A), TEXT, epoch=2, compress=True)
C = record(len(A) + len(B), b"node2", epoch=3, rtype=EPOCH)
LOG = A + B + C

SEEDS = {
    "plain": A,
    "empty_epoch": record(64, b"", rtype=EPOCH),
    "compressed": B,
    "log_three": LOG,
    "log_zero_tail": LOG + b"\0" * 100,
    "log_torn": LOG[:-7],
    "truncated_header": A[:20],
    "truncated_payload": A[:-1],
    "flip_payload": flip(A, 45),
    "flip_crc": flip(A, 5),
    "flip_length": flip(A, 39, 3),
    "flip_compressed": flip(B, 60, 2),
    "log_middle_flipped": A + flip(B, 50) + C,
    "wrong_lsn_chain": A + record(999, b"x") + C,
    "bad_type": record(0, b"x", rtype=3),
    "bad_flags": record(0, b"x", flags=0x02),
    "reserved_set": record(0, b"x", reserved=1),
    "length_over_max": record(0, b"x", stored_len=(1 << 30) + 1),
    "bad_zlib": record(0, struct.pack(">I", 100) + b"\x78\x01not a zlib stream", flags=COMPRESSED),
    "raw_len_short": record(0, TEXT, compress=True, raw_len=len(TEXT) - 1),
    "raw_len_long": record(0, TEXT, compress=True, raw_len=len(TEXT) + 1),
    "raw_len_huge": record(0, TEXT, compress=True, raw_len=1 << 30),
    "zlib_trailing": record(0, struct.pack(">I", 5) + zlib.compress(b"hello", 1) + b"junk", flags=COMPRESSED),
    "garbage_then_record": b"\xab" * 13 + A,
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
