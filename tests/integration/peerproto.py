"""peerproto.py — a minimal client of sluice's peer protocol for the
integration tests (frames: common/peerframe.c; bodies: common/peermsg.c;
authentication: common/peerauth.h).

    python3 peerproto.py hello PORT SECRET NAME
        authenticates as follower NAME and prints what answers AUTH:
        "WELCOME", "NOT_LEADER <address>" or "ERROR <text>".
    python3 peerproto.py switchover PORT SECRET NAME SECONDS
        authenticates, FOLLOWs from the start of the log without ever
        acknowledging, asks for the leadership (SWITCHOVER), prints
        "asked", then "PROMOTE received" if a PROMOTE comes within
        SECONDS, and "done".
    python3 peerproto.py lie PORT SECRET NAME SECONDS
        authenticates, FOLLOWs from the start of the log, then acknowledges
        positions far past anything sent (write = flush = apply = 2^62, in
        the leader's epoch); prints "lied", then "closed" if the leader
        closes the link within SECONDS, else "open".
    python3 peerproto.py bomb PORT
        sends, before any authentication, one HELLO whose compressed
        payload (under 64 KiB) inflates to 60 MB, and prints "closed" when
        the leader closes the link, else "open" after 10 s.
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import time
import zlib

MAGIC = 0x534C5031
HELLO, CHALLENGE, AUTH, WELCOME, ERROR, FOLLOW = 1, 2, 3, 4, 5, 6
STREAM_START, ACK, SWITCHOVER, PROMOTE, NOT_LEADER = 11, 14, 18, 19, 20
VERSION = 2


def frame(t, body, epoch=0, flags=0):
    hdr = struct.pack("!IBBHQI", MAGIC, t, flags, 0, epoch, len(body))
    return hdr + struct.pack("!I", zlib.crc32(hdr + body)) + body


def pstr(s):
    return struct.pack("!H", len(s)) + s


class Link:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, t, body=b"", epoch=0):
        self.s.sendall(frame(t, body, epoch))

    def recv(self):
        while True:
            if len(self.buf) >= 24:
                n = struct.unpack("!I", self.buf[16:20])[0]
                if len(self.buf) >= 24 + n:
                    t, body = self.buf[4], self.buf[24:24 + n]
                    self.epoch = struct.unpack("!Q", self.buf[8:16])[0]
                    self.buf = self.buf[24 + n:]
                    return t, body
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise SystemExit("closed")
            self.buf += chunk


def text(body):
    n = struct.unpack("!H", body[:2])[0]
    return body[2:2 + n].decode()


def authenticate(port, secret, name):
    """Returns the link and the frame that answered AUTH."""
    link = Link(port)
    nf = os.urandom(32)
    link.send(HELLO, struct.pack("!H", VERSION) + pstr(b"sluice") + pstr(name) + pstr(b"127.0.0.1:1") + nf)
    t, body = link.recv()
    if t != CHALLENGE:
        raise SystemExit("expected CHALLENGE, got %d" % t)
    proof = hmac.new(secret, b"follower" + body[:32] + nf + name, hashlib.sha256).digest()
    link.send(AUTH, proof)
    return link, link.recv()


def bomb(port):
    link = Link(port)
    raw = 60 << 20
    body = struct.pack("!I", raw) + zlib.compress(bytes(raw), 9)
    link.s.sendall(frame(HELLO, body, 0, 1))
    link.s.settimeout(10)
    try:
        print("closed" if link.s.recv(1 << 16) == b"" else "open", flush=True)
    except socket.timeout:
        print("open", flush=True)
    except OSError:
        print("closed", flush=True)


def main():
    if sys.argv[1] == "bomb":
        bomb(int(sys.argv[2]))
        return
    cmd, port, secret, name = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4].encode()
    link, (t, body) = authenticate(port, secret, name)
    if cmd == "hello":
        print({WELCOME: "WELCOME", NOT_LEADER: "NOT_LEADER " + text(body) if t == NOT_LEADER else "",
               ERROR: "ERROR " + text(body) if t == ERROR else ""}.get(t, "type %d" % t), flush=True)
        return
    if t != WELCOME:
        raise SystemExit("expected WELCOME, got %d" % t)
    link.send(FOLLOW, struct.pack("!QQQ", 0, 0, 0))
    t, body = link.recv()
    if t != STREAM_START:
        raise SystemExit("expected STREAM_START, got %d" % t)
    if cmd == "lie":
        link.send(ACK, struct.pack("!QQQ", 1 << 62, 1 << 62, 1 << 62), link.epoch)
        print("lied", flush=True)
        end = time.time() + float(sys.argv[5])
        link.s.settimeout(0.5)
        while time.time() < end:
            try:
                chunk = link.s.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                print("closed", flush=True)
                return
        print("open", flush=True)
        return
    link.send(SWITCHOVER, pstr(b"127.0.0.1:1"))
    print("asked", flush=True)
    end = time.time() + float(sys.argv[5])
    link.s.settimeout(0.5)
    while time.time() < end:
        try:
            t, body = link.recv()
        except socket.timeout:
            continue
        if t == PROMOTE:
            print("PROMOTE received", flush=True)
            break
    print("done", flush=True)


if __name__ == "__main__":
    main()
