#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_pgconn into tests/fuzz/corpus/pgconn/.

Each seed: one byte choosing auth_method (0 trust, 1 password, 2
scram-sha-256), one byte saying where the rest is cut in two (the second
write), then what a client sends (PostgreSQL protocol 3.0; the password
file of tests/fuzz/fuzz_pgconn.c holds alice:pencil). Nothing random: the
same seeds every run.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "pgconn")

SSL_REQUEST = struct.pack(">II", 8, 80877103)
GSS_REQUEST = struct.pack(">II", 8, 80877104)


def startup(user="alice", database="sluice", extra=()):
    body = struct.pack(">I", 196608)
    for k, v in (("user", user), ("database", database)) + tuple(extra):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack(">I", len(body) + 4) + body


def msg(t, body):
    return t + struct.pack(">I", len(body) + 4) + body


def password(pw):
    return msg(b"p", pw.encode() + b"\0")


def sasl_initial(first="n,,n=,r=abcdefghijklmnop"):
    data = first.encode()
    return msg(b"p", b"SCRAM-SHA-256\0" + struct.pack(">i", len(data)) + data)


def seed(method, stream, cut=0):
    return bytes([method, cut & 0xFF]) + stream


QUERY = msg(b"Q", b"SELECT 1\0")
SEEDS = {
    "trust": seed(0, startup() + QUERY),
    "trust_options": seed(0, startup(extra=(("application_name", "fuzz"), ("options", "-c statement_timeout=5s")))),
    "trust_bad_option": seed(0, startup(extra=(("no_such_setting", "1"),))),
    "trust_cut": seed(0, startup() + QUERY, cut=5),
    "ssl_then_trust": seed(0, SSL_REQUEST + startup() + QUERY),
    "gss_ssl_then_trust": seed(0, GSS_REQUEST + SSL_REQUEST + startup()),
    "password_ok": seed(1, startup() + password("pencil") + QUERY),
    "password_wrong": seed(1, startup() + password("pencil2")),
    "password_unknown_user": seed(1, startup(user="mallory") + password("pencil")),
    "password_cut": seed(1, startup() + password("pencil"), cut=30),
    "scram_first": seed(2, startup() + sasl_initial()),
    "scram_bad_mech": seed(2, startup() + msg(b"p", b"PLAIN\0" + struct.pack(">i", 3) + b"abc")),
    "scram_channel_binding": seed(2, startup() + sasl_initial("p=tls-server-end-point,,n=,r=abc")),
    "scram_final_garbage": seed(2, startup() + sasl_initial() + msg(b"p", b"c=biws,r=abc,p=AAAA")),
    "cancel": seed(0, struct.pack(">IIII", 16, 80877102, 1234, 5678)),
    "no_user": seed(0, startup(user="")),
    "bad_length": seed(0, struct.pack(">I", 3) + b"\0\0\0\0"),
    "huge_length": seed(0, struct.pack(">I", 0x7FFFFFFF) + b"\0\3\0\0"),
    "old_protocol": seed(0, struct.pack(">II", 8, 131072)),
    "terminate": seed(0, startup() + msg(b"X", b"")),
    "auth_wrong_type": seed(1, startup() + msg(b"Q", b"SELECT 1\0")),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
