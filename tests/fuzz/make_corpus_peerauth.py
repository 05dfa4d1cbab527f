#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_peerauth into tests/fuzz/corpus/peerauth/.

Each seed is one byte choosing the side under test (0: the accepting side;
1: the dialing side saying HELLO, 3: saying MEMBER_HELLO), then what the
other node sends: a handshake (common/peerauth.h) with the fuzz target's
secret and fixed nonces, so that the proofs check, and sealed frames after
it under the keys both nonces give. Seeds cover whole exchanges that
succeed, each way a handshake fails, and sealed frames replayed, altered,
or unsealed. Frames and bodies are built with make_corpus_peer.py's
helpers. Nothing random: the same seeds every run.
"""
import hashlib
import hmac
import os

from make_corpus_peer import (ACK, AUTH, CHALLENGE, ERROR, FOLLOW, HELLO, NOT_LEADER, RECORDS, STREAM_START,
                              WELCOME, ack, follow, frame, hello, pstr, sealed, u8, u64, welcome, write_seeds,
                              NONCE_F, NONCE_L, LOG1, SNAP_LSN)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "peerauth")

# tests/fuzz/fuzz_peerauth.c's settings: the nonces are NONCE_F (the dialing
# side's) and NONCE_L (the accepting side's)
SECRET = b"fuzz cluster secret, long enough"
CLUSTER = "cluster-1"
NAME = "node2"
ADDR = "127.0.0.1:5433"
VERSION = 3
MEMBER_HELLO, ELECTION = 21, 22
ACCEPTING, DIALING, DIALING_MEMBER = b"\0", b"\1", b"\3"


def proof(role, a, b, name, secret=SECRET):
    """common/peerauth.c: HMAC-SHA-256(secret, role || a || b || name)."""
    return hmac.new(secret, role.encode() + a + b + name.encode(), hashlib.sha256).digest()


def leader_proof(f=NONCE_F, l=NONCE_L, cluster=CLUSTER, secret=SECRET):
    return proof("leader", f, l, cluster, secret)


def follower_proof(l=NONCE_L, f=NONCE_F, name=NAME, secret=SECRET):
    return proof("follower", l, f, name, secret)


FROM_FOLLOWER = proof("frames from follower", NONCE_L, NONCE_F, "")
FROM_LEADER = proof("frames from leader", NONCE_L, NONCE_F, "")


def our_hello(cluster=CLUSTER, name=NAME, version=VERSION, nonce=NONCE_F, ftype=HELLO):
    return frame(ftype, hello(cluster, name, ADDR, version, nonce), epoch=0)


def auth(p=None):
    return frame(AUTH, follower_proof() if p is None else p, epoch=0)


def challenge(p=None, nonce=NONCE_L):
    return frame(CHALLENGE, nonce + (leader_proof(l=nonce) if p is None else p), epoch=0)


def election(epoch=2):
    return u8(1) + u8(0) + u8(1) + u64(epoch) + u64(1) + u64(SNAP_LSN) + u64(1)


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


AFTER_FOLLOWER = sealed([frame(FOLLOW, follow(1, SNAP_LSN, SNAP_LSN)), frame(ACK, ack(SNAP_LSN, SNAP_LSN, SNAP_LSN)),
                         frame(ACK, ack(SNAP_LSN, SNAP_LSN, SNAP_LSN), compress=True)], key=FROM_FOLLOWER)
AFTER_LEADER = sealed([frame(WELCOME, welcome()), frame(STREAM_START, u64(SNAP_LSN)), frame(RECORDS, LOG1)],
                      key=FROM_LEADER)

SEEDS = {
    # the accepting side
    "accept_ok": ACCEPTING + our_hello() + auth(),
    "accept_ok_follower": ACCEPTING + our_hello() + auth() + AFTER_FOLLOWER,
    "accept_ok_member": ACCEPTING + our_hello(ftype=MEMBER_HELLO) + auth()
    + sealed([frame(ELECTION, election(), epoch=2)], key=FROM_FOLLOWER),
    "accept_ok_then_error": ACCEPTING + our_hello() + auth() + frame(ERROR, pstr("going away")),
    "accept_ok_then_replayed": ACCEPTING + our_hello() + auth() + AFTER_FOLLOWER[:AFTER_FOLLOWER.index(b"SLP1", 4)] * 2,
    "accept_ok_then_altered": ACCEPTING + our_hello() + auth() + flip(AFTER_FOLLOWER, 30),
    "accept_ok_then_wrong_key": ACCEPTING + our_hello() + auth()
    + sealed([frame(FOLLOW, follow(1, SNAP_LSN, SNAP_LSN))], key=FROM_LEADER),
    "accept_ok_then_unsealed": ACCEPTING + our_hello() + auth() + frame(FOLLOW, follow(1, SNAP_LSN, SNAP_LSN)),
    "accept_compressed_hello": ACCEPTING + frame(HELLO, hello(CLUSTER, NAME * 40, ADDR, VERSION, NONCE_F),
                                                 epoch=0, compress=True)
    + frame(AUTH, follower_proof(name=NAME * 40), epoch=0),
    "accept_wrong_proof": ACCEPTING + our_hello() + auth(follower_proof(secret=b"another secret")),
    "accept_proof_other_name": ACCEPTING + our_hello() + auth(follower_proof(name="node3")),
    "accept_proof_other_nonce": ACCEPTING + our_hello() + auth(follower_proof(l=NONCE_F)),
    "accept_foreign_cluster": ACCEPTING + our_hello(cluster="cluster-2") + auth(),
    "accept_old_version": ACCEPTING + our_hello(version=2) + auth(),
    "accept_no_name": ACCEPTING + our_hello(name="") + auth(follower_proof(name="")),
    "accept_error_instead_of_auth": ACCEPTING + our_hello() + frame(ERROR, pstr("wrong secret")),
    "accept_welcome_instead_of_hello": ACCEPTING + frame(WELCOME, welcome()),
    "accept_sealed_hello": ACCEPTING + sealed([our_hello()], key=FROM_FOLLOWER),
    "accept_hello_only": ACCEPTING + our_hello(),
    "accept_empty": ACCEPTING,
    # the dialing side
    "dial_ok": DIALING + challenge(),
    "dial_ok_follower": DIALING + challenge() + AFTER_LEADER,
    "dial_ok_not_leader": DIALING + challenge() + sealed([frame(NOT_LEADER, pstr("127.0.0.1:6001"))],
                                                         key=FROM_LEADER),
    "dial_ok_member": DIALING_MEMBER + challenge(),
    "dial_ok_then_error": DIALING + challenge() + frame(ERROR, pstr("too many followers")),
    "dial_ok_then_altered": DIALING + challenge() + flip(AFTER_LEADER, 40),
    "dial_ok_then_out_of_order": DIALING + challenge()
    + sealed([frame(WELCOME, welcome()), frame(STREAM_START, u64(SNAP_LSN))], first_seq=1, key=FROM_LEADER),
    "dial_wrong_proof": DIALING + challenge(leader_proof(secret=b"another secret")),
    "dial_proof_other_cluster": DIALING + challenge(leader_proof(cluster="cluster-2")),
    "dial_proof_nonces_swapped": DIALING + challenge(leader_proof(f=NONCE_L, l=NONCE_F)),
    "dial_refused": DIALING + frame(ERROR, pstr("cluster_id does not match")),
    "dial_welcome_first": DIALING + frame(WELCOME, welcome()),
    "dial_challenge_short": DIALING + frame(CHALLENGE, NONCE_L + leader_proof()[:-1], epoch=0),
    "dial_sealed_challenge": DIALING + sealed([challenge()], key=FROM_LEADER),
    "dial_empty": DIALING,
}

if __name__ == "__main__":
    write_seeds(OUT, SEEDS)
