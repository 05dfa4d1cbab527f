#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_scram into tests/fuzz/corpus/scram/.

Each seed: one byte choosing the user (0: alice, whose verifier is
tests/fuzz/fuzz_scram.c's FUZZ_VERIFIER for the password "pencil"; 1: a
user with no secret), the client-first-message, a NUL, and the
client-final-message (RFC 5802, as libpq writes them). The server nonce
is fuzz_scram.c's FUZZ_SERVER_NONCE, so whole exchanges can be written
here and succeed. Nothing random: the same seeds every run.

    python3 make_corpus_scram.py            writes the seeds
    python3 make_corpus_scram.py verifier   prints FUZZ_VERIFIER
"""
import base64
import hashlib
import hmac
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "scram")
PASSWORD = b"pencil"
SALT = b"fuzz salt 16 byt"
ITER = 4096
SERVER_NONCE = "fuzzServerNonce0123456789abcdef"
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"


def b64(b):
    return base64.b64encode(b).decode()


SALTED = hashlib.pbkdf2_hmac("sha256", PASSWORD, SALT, ITER)
CLIENT_KEY = hmac.new(SALTED, b"Client Key", "sha256").digest()
STORED_KEY = hashlib.sha256(CLIENT_KEY).digest()
SERVER_KEY = hmac.new(SALTED, b"Server Key", "sha256").digest()
VERIFIER = f"SCRAM-SHA-256${ITER}:{b64(SALT)}${b64(STORED_KEY)}:{b64(SERVER_KEY)}"


def exchange(gs2="n,,", nonce=CLIENT_NONCE, password=PASSWORD, salt=SALT, user=0, final_nonce=None,
             cbind=None, tamper=None, extra_first="", proof_override=None):
    first_bare = f"n=,r={nonce}{extra_first}"
    first = gs2 + first_bare
    combined = nonce + SERVER_NONCE if final_nonce is None else final_nonce
    server_first = f"r={combined},s={b64(salt)},i={ITER}"
    without_proof = f"c={b64((gs2 if cbind is None else cbind).encode())},r={combined}"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, ITER)
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    sig = hmac.new(hashlib.sha256(ck).digest(), auth, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    final = f"{without_proof},p={b64(proof) if proof_override is None else proof_override}"
    if tamper:
        final = tamper(final)
    return bytes([user]) + first.encode() + b"\0" + final.encode()


SEEDS = {
    "ok": exchange(),
    "ok_y_flag": exchange(gs2="y,,"),
    "wrong_password": exchange(password=b"pencil2"),
    "unknown_user": exchange(user=1),
    "nonce_changed": exchange(final_nonce=CLIENT_NONCE + SERVER_NONCE + "x"),
    "nonce_short": exchange(final_nonce=CLIENT_NONCE),
    "cbind_mismatch": exchange(cbind="y,,"),
    "channel_binding": exchange(gs2="p=tls-server-end-point,,"),
    "authzid": exchange(gs2="n,a=bob,"),
    "extension": exchange(extra_first=",m=ext"),
    "proof_bad_base64": exchange(proof_override="!!!!"),
    "proof_short": exchange(proof_override=b64(b"short")),
    "proof_missing": exchange(tamper=lambda f: f.split(",p=")[0]),
    "final_extension": exchange(tamper=lambda f: f.replace(",p=", ",x=1,p=")),
    "first_only": bytes([0]) + b"n,,n=,r=" + CLIENT_NONCE.encode(),
    "empty_first": bytes([0]) + b"\0c=biws,r=x,p=AAAA",
    "nonce_bad_char": exchange(nonce="abc,def"),
    "nonce_empty": exchange(nonce=""),
}

if len(sys.argv) > 1 and sys.argv[1] == "verifier":
    print(VERIFIER)
    sys.exit(0)
os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {OUT}")
