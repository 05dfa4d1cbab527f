#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_peer into tests/fuzz/corpus/peer/.

Each seed is the byte stream of a peer link: frames as specified at the
top of common/peerframe.c, message bodies as in common/peermsg.c, log
records as in wal/record.c (all integers big-endian). Seeds cover every
message type, compressed and not, whole conversations (handshake, a
snapshot transfer, streaming by LSN) and each way a frame, a body, a
snapshot or a record stream can be wrong. Nothing random: the same seeds
every run. Run once from anywhere; it overwrites the seeds it names and
leaves other files (e.g. ones libFuzzer found) alone.
"""
import hashlib
import hmac
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "peer")

MAGIC = 0x534C5031
MAX_PAYLOAD = (1 << 30) + (1 << 20)
COMPRESSED = 0x01
SEALED = 0x02
# tests/fuzz/fuzz_peer.c's FUZZ_KEY
FUZZ_KEY = b"sluice fuzz key for sealed frame"
(HELLO, CHALLENGE, AUTH, WELCOME, ERROR, FOLLOW, SNAPSHOT_REQ, SNAP_BEGIN, SNAP_DATA, SNAP_END,
 STREAM_START, RECORDS, HEARTBEAT, ACK, REBOOTSTRAP, VISIBLE, TRUNCATE, SWITCHOVER, PROMOTE, NOT_LEADER) = range(1, 21)


def u8(n): return struct.pack(">B", n & 0xFF)
def u16(n): return struct.pack(">H", n & 0xFFFF)
def u32(n): return struct.pack(">I", n & 0xFFFFFFFF)
def u64(n): return struct.pack(">Q", n & 0xFFFFFFFFFFFFFFFF)


def zpack(raw, raw_len=None):
    """zpack.h's form: u32 raw length, then the zlib stream (level 1)."""
    return u32(len(raw) if raw_len is None else raw_len) + zlib.compress(raw, 1)


def frame(ftype, payload=b"", epoch=1, compress=False, magic=MAGIC, flags=None, reserved=0,
          length=None, crc=None):
    """One frame; compressed as peer_frame_encode does (only when smaller).
    The keyword arguments allow breaking it."""
    stored, f = payload, 0
    if compress and payload:
        z = zpack(payload)
        if len(z) < len(payload):
            stored, f = z, COMPRESSED
    if flags is not None:
        f = flags
    n = len(stored) if length is None else length
    head = struct.pack(">IBBHQI", magic, ftype, f, reserved, epoch, n)
    c = zlib.crc32(head + stored) if crc is None else crc
    return head + u32(c) + stored


def stored_frame(ftype, stored, flags=COMPRESSED, epoch=1):
    """A frame with these stored bytes as they are (a correct CRC)."""
    head = struct.pack(">IBBHQI", MAGIC, ftype, flags, 0, epoch, len(stored))
    return head + u32(zlib.crc32(head + stored)) + stored


def sealed(frames, first_seq=0, key=FUZZ_KEY):
    """Each frame sealed in turn (flag, CRC again, tag), as common/peerlink.c
    does after AUTH."""
    out = b""
    for i, f in enumerate(frames):
        head, stored = bytearray(f[:24]), f[24:]
        head[5] |= SEALED
        head[20:24] = u32(zlib.crc32(bytes(head[:20]) + stored))
        tag = hmac.new(key, u64(first_seq + i) + bytes(head) + stored, hashlib.sha256).digest()[:16]
        out += bytes(head) + stored + tag
    return out


def pstr(s, length=None):
    b = s.encode() if isinstance(s, str) else s
    return u16(len(b) if length is None else length) + b


NONCE_F = bytes(range(32))
NONCE_L = bytes(range(100, 132))
PROOF = bytes((i * 7 + 3) & 0xFF for i in range(32))


def hello(cluster="cluster-1", name="node2", addr="127.0.0.1:5433", version=2, nonce=NONCE_F):
    return u16(version) + pstr(cluster) + pstr(name) + pstr(addr) + nonce


def welcome(name="node1", addr="127.0.0.1:5432", log_mode=3, epochs=((1, 0, "node1"),), count=None):
    body = pstr(name) + pstr(addr) + u8(log_mode) + u32(len(epochs) if count is None else count)
    for e, lsn, leader in epochs:
        body += u64(e) + u64(lsn) + pstr(leader)
    return body


def snap_begin(lsn, size, page_size): return u64(lsn) + u64(size) + u32(page_size)
def snap_data(offset, data): return u64(offset) + data
def follow(epoch, end, applied): return u64(epoch) + u64(end) + u64(applied)
def heartbeat(end, now=1700000000000000): return u64(end) + u64(now)
def ack(w, f, a): return u64(w) + u64(f) + u64(a)


# ---------------------------------------------------------------- log records

REC_MAGIC = 0x534C5231
TXN, EPOCH = 1, 2


def record(lsn, payload, epoch=1, ts=1700000000000000, rtype=TXN, compress=False, crc=None):
    stored, f = payload, 0
    if compress:
        stored, f = zpack(payload), COMPRESSED
    tail = struct.pack(">QQQBBHI", lsn, epoch, ts, rtype, f, 0, len(stored))
    c = zlib.crc32(tail + stored) if crc is None else crc
    return struct.pack(">II", REC_MAGIC, c) + tail + stored


def records(lsn, payloads, compress_every=0):
    """Records back to back from lsn; returns (bytes, next lsn)."""
    out = b""
    for i, p in enumerate(payloads):
        r = record(lsn, p, rtype=EPOCH if p.startswith(b"node") else TXN,
                   compress=bool(compress_every) and i % compress_every == 1)
        out += r
        lsn += len(r)
    return out, lsn


# ---------------------------------------------------------------- building blocks

TEXT = b"INSERT INTO kv(k, v) VALUES (42, 'hello world'); " * 40
PAGE = 512
DB = bytes((i * 31 + i // PAGE) & 0xFF for i in range(3 * PAGE))
SNAP_LSN = 0x1000

HANDSHAKE = (frame(HELLO, hello(), epoch=0)
             + frame(CHALLENGE, NONCE_L + PROOF)
             + frame(AUTH, PROOF, epoch=0)
             + frame(WELCOME, welcome(epochs=((1, 0, "node1"), (2, 0x400, "node3"), (3, 0x900, "node1")))))


def snapshot(db=DB, lsn=SNAP_LSN, page=PAGE, pieces=(0, PAGE, 2 * PAGE), size=None, crc=None, end=True):
    out = frame(SNAPSHOT_REQ, epoch=0) + frame(SNAP_BEGIN, snap_begin(lsn, len(db) if size is None else size, page))
    bounds = list(pieces) + [len(db)]
    for a, b in zip(bounds, bounds[1:]):
        out += frame(SNAP_DATA, snap_data(a, db[a:b]), compress=True)
    if end:
        out += frame(SNAP_END, u64(zlib.crc32(db) if crc is None else crc))
    return out


LOG1, LOG1_END = records(SNAP_LSN, [b"node1", b"first transaction", TEXT, b"x" * 100], compress_every=2)
LOG2, LOG2_END = records(LOG1_END, [b"second batch", b""])
STREAM = (frame(FOLLOW, follow(1, SNAP_LSN, SNAP_LSN), epoch=0)
          + frame(STREAM_START, u64(SNAP_LSN))
          + frame(RECORDS, LOG1, compress=True)
          + frame(HEARTBEAT, heartbeat(LOG1_END))
          + frame(ACK, ack(LOG1_END, LOG1_END, SNAP_LSN), epoch=0)
          + frame(RECORDS, LOG2)
          + frame(HEARTBEAT, heartbeat(LOG2_END)))

ZBAD = u32(100) + b"\x78\x01not a zlib stream"
HB = frame(HEARTBEAT, heartbeat(0x2000))

SEEDS = {
    # one frame of each type, plain
    "hello": frame(HELLO, hello(), epoch=0),
    "challenge": frame(CHALLENGE, NONCE_L + PROOF),
    "auth": frame(AUTH, PROOF, epoch=0),
    "welcome": frame(WELCOME, welcome()),
    "welcome_no_epochs": frame(WELCOME, welcome(epochs=())),
    "error": frame(ERROR, pstr("cluster id does not match")),
    "follow": frame(FOLLOW, follow(2, 0x12345, 0x12000), epoch=0),
    "snapshot_req": frame(SNAPSHOT_REQ, epoch=0),
    "snap_begin": frame(SNAP_BEGIN, snap_begin(SNAP_LSN, 4096 * 3, 4096)),
    "snap_data": frame(SNAP_DATA, snap_data(0, DB[:100])),
    "snap_data_empty": frame(SNAP_DATA, snap_data(0, b"")),
    "snap_end": frame(SNAP_END, u64(zlib.crc32(DB))),
    "stream_start": frame(STREAM_START, u64(SNAP_LSN)),
    "records": frame(RECORDS, LOG1),
    "heartbeat": HB,
    "visible": frame(VISIBLE, u64(SNAP_LSN)),
    "truncate": frame(TRUNCATE, u64(SNAP_LSN)),
    "switchover": frame(SWITCHOVER, pstr("127.0.0.1:7002"), epoch=0),
    "promote": frame(PROMOTE, u64(SNAP_LSN)),
    "not_leader": frame(NOT_LEADER, pstr("127.0.0.1:7001")),
    "not_leader_unknown": frame(NOT_LEADER, pstr("")),
    "ack": frame(ACK, ack(30, 20, 10), epoch=0),
    "rebootstrap": frame(REBOOTSTRAP, pstr("log before 0/1000 is gone")),
    "epoch_max": frame(HEARTBEAT, heartbeat(1), epoch=(1 << 64) - 1),
    # compressed
    "hello_longest_compressed": frame(HELLO, hello("c" * 255, "n" * 255, "a" * 255), compress=True),
    "welcome_many_compressed": frame(WELCOME, welcome(epochs=tuple((i + 1, i * 4096, "node%d" % (i % 3))
                                                                   for i in range(200))), compress=True),
    "error_longest_compressed": frame(ERROR, pstr("e" * 511), compress=True),
    "snap_data_zero_page_compressed": frame(SNAP_DATA, snap_data(4096, bytes(4096)), compress=True),
    "records_compressed": frame(RECORDS, LOG1, compress=True),
    # conversations
    "handshake": HANDSHAKE,
    "snapshot": snapshot(),
    "snapshot_one_piece": snapshot(pieces=(0,)),
    "snapshot_empty": frame(SNAP_BEGIN, snap_begin(0, 0, 4096)) + frame(SNAP_END, u64(0)),
    "session": HANDSHAKE + snapshot() + STREAM,
    "stream": STREAM,
    "stream_two_links": STREAM + b"\0" * 5 + STREAM,
    # the snapshot refused
    "snapshot_gap": frame(SNAP_BEGIN, snap_begin(SNAP_LSN, len(DB), PAGE))
        + frame(SNAP_DATA, snap_data(0, DB[:PAGE]))
        + frame(SNAP_DATA, snap_data(PAGE + 1, DB[PAGE + 1:]))
        + frame(SNAP_END, u64(zlib.crc32(DB))),
    "snapshot_overlap": frame(SNAP_BEGIN, snap_begin(SNAP_LSN, len(DB), PAGE))
        + frame(SNAP_DATA, snap_data(0, DB[:PAGE]))
        + frame(SNAP_DATA, snap_data(PAGE - 1, DB[PAGE - 1:]))
        + frame(SNAP_END, u64(zlib.crc32(DB))),
    "snapshot_past_size": snapshot(size=2 * PAGE),
    "snapshot_short": snapshot(size=4 * PAGE),
    "snapshot_bad_crc": snapshot(crc=zlib.crc32(DB) ^ 1),
    "snapshot_crc_high_bits": snapshot(crc=zlib.crc32(DB) | (1 << 40)),
    "snapshot_page_size_misfit": snapshot(page=1000),
    "snapshot_page_size_zero": snapshot(page=0),
    "snapshot_page_size_huge": snapshot(db=bytes(1 << 17), page=1 << 17, pieces=(0,)),
    "snapshot_interrupted": frame(SNAP_BEGIN, snap_begin(SNAP_LSN, len(DB), PAGE))
        + frame(SNAP_DATA, snap_data(0, DB[:PAGE])) + HB + frame(SNAP_DATA, snap_data(PAGE, DB[PAGE:])),
    "snapshot_lsn_max": snapshot(lsn=(1 << 64) - 1) + frame(RECORDS, record((1 << 64) - 1, b"wraps")),
    # the record stream refused
    "stream_gap": frame(STREAM_START, u64(SNAP_LSN)) + frame(RECORDS, LOG1)
        + frame(RECORDS, records(LOG1_END + 1, [b"late"])[0]),
    "stream_start_mismatch": snapshot() + frame(STREAM_START, u64(SNAP_LSN + 1)) + frame(RECORDS, LOG1),
    "records_torn": frame(STREAM_START, u64(SNAP_LSN)) + frame(RECORDS, LOG1[:-3]),
    "records_corrupt": frame(STREAM_START, u64(SNAP_LSN))
        + frame(RECORDS, LOG1[:50] + bytes([LOG1[50] ^ 4]) + LOG1[51:]),
    "records_garbage": frame(RECORDS, b"\xab" * 13 + LOG1),
    # frames refused
    "bad_magic": frame(HEARTBEAT, heartbeat(1), magic=0x534C5032),
    "type_zero": frame(0, heartbeat(1)),
    "type_unknown": frame(16, heartbeat(1)),
    "type_max": frame(255, heartbeat(1)),
    "bad_flags": frame(HEARTBEAT, heartbeat(1), flags=0x02),
    "reserved_set": frame(HEARTBEAT, heartbeat(1), reserved=0x0100),
    "length_over_max": frame(RECORDS, length=MAX_PAYLOAD + 1),
    "length_max_header_only": frame(RECORDS, length=MAX_PAYLOAD),
    "length_ones": frame(RECORDS, length=0xFFFFFFFF),
    "crc_mismatch": frame(HEARTBEAT, heartbeat(1), crc=0x12345678),
    "compressed_impossible_raw": stored_frame(RECORDS, u32(1000000) + b"\x78\x01\x01\x00"),
    "compressed_raw_zero": stored_frame(RECORDS, zpack(TEXT, raw_len=0)),
    "compressed_raw_over_max": stored_frame(RECORDS, zpack(TEXT, raw_len=MAX_PAYLOAD + 1)),
    "compressed_short": stored_frame(RECORDS, u32(5)),
    # a raw length the ratio allows but too big to be worth inflating here
    "compressed_raw_big": stored_frame(RECORDS, u32(17 << 20) + bytes(17300)),
    "compressed_bad_zlib": stored_frame(RECORDS, ZBAD),
    "compressed_raw_short": stored_frame(RECORDS, zpack(TEXT, raw_len=len(TEXT) - 1)),
    "compressed_raw_long": stored_frame(RECORDS, zpack(TEXT, raw_len=len(TEXT) + 1)),
    "compressed_trailing": stored_frame(RECORDS, zpack(TEXT) + b"junk"),
    "truncated": frame(RECORDS, LOG1)[:-1],
    "truncated_header": HB[:20],
    "garbage_then_frames": b"\x53\x4c\x50" * 7 + HB + frame(STREAM_START, u64(SNAP_LSN)) + frame(RECORDS, LOG1),
    # bodies refused
    "hello_trailing": frame(HELLO, hello() + b"\0"),
    "hello_short": frame(HELLO, hello()[:-1]),
    "hello_str_too_long": frame(HELLO, hello(name="n" * 256)),
    "hello_str_nul": frame(HELLO, hello(name="no\0de")),
    "hello_str_past_end": frame(HELLO, u16(1) + pstr(b"abc", 300)),
    "text_too_long": frame(ERROR, pstr("e" * 512)),
    "text_trailing": frame(REBOOTSTRAP, pstr("why") + b"!"),
    "welcome_count_lie": frame(WELCOME, welcome(count=5)),
    "welcome_count_huge": frame(WELCOME, welcome(count=0xFFFFFFFF)),
    "welcome_too_many": frame(WELCOME, welcome(epochs=tuple((i, i, "") for i in range(1025)))),
    "welcome_bad_leader": frame(WELCOME, welcome(epochs=((1, 0, "a"), (2, 5, "b\0")))),
    "welcome_count_short": frame(WELCOME, welcome(epochs=((1, 0, "a"), (2, 5, "b")), count=1)),
    "snap_data_short": frame(SNAP_DATA, b"\0" * 7),
    "snap_begin_trailing": frame(SNAP_BEGIN, snap_begin(0, 4096, 4096) + b"\0"),
    "follow_short": frame(FOLLOW, follow(1, 2, 3)[:-1]),
    "ack_trailing": frame(ACK, ack(1, 2, 3) + b"\0"),
    "challenge_short": frame(CHALLENGE, NONCE_L + PROOF[:-1]),
    "auth_trailing": frame(AUTH, PROOF + b"\0"),
    "heartbeat_short": frame(HEARTBEAT, heartbeat(1)[:-1]),
    "u64_short": frame(SNAP_END, u32(zlib.crc32(DB))),
    # sealed frames (after AUTH): a stream in order, one out of order, one
    # altered with its CRC mended, a sealed frame compressed
    "sealed_stream": sealed([frame(WELCOME, welcome()), frame(STREAM_START, u64(SNAP_LSN)), frame(RECORDS, LOG1),
                             frame(VISIBLE, u64(SNAP_LSN)), HB]),
    "sealed_out_of_order": sealed([frame(STREAM_START, u64(SNAP_LSN)), frame(RECORDS, LOG1)], first_seq=1),
    "sealed_compressed": sealed([frame(STREAM_START, u64(SNAP_LSN)), frame(RECORDS, LOG1 * 4, compress=True)]),
    "sealed_altered": (lambda s: s[:40] + bytes([s[40] ^ 1]) + s[41:])(
        sealed([frame(STREAM_START, u64(SNAP_LSN)) , frame(RECORDS, LOG1)])),
}


def write_seeds(out, seeds):
    """Writes each seed to out/NAME, leaving other files there alone."""
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    write_seeds(OUT, SEEDS)
