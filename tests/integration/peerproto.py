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
    python3 peerproto.py tamper PORT_FILE TARGET_PORT MODE SECONDS
        a proxy on 127.0.0.1 (its port written to PORT_FILE) to the peer
        port TARGET_PORT that, once, meddles with a sealed frame and
        fixes its CRC, so that only the seal can tell: MODE alter flips a
        byte of the first RECORDS frame from the leader; MODE replay sends
        the first ACK from the follower twice. It prints "tampered" then,
        and passes everything else through as it is; ends after SECONDS.

After AUTH every frame is sealed (common/peerframe.c): a 16-byte tag,
HMAC-SHA-256 under the direction's key over the frame's sequence number
on the link, its header and its payload.
"""
import hashlib
import hmac
import os
import socket
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcpproxy  # noqa: E402

MAGIC = 0x534C5031
HELLO, CHALLENGE, AUTH, WELCOME, ERROR, FOLLOW = 1, 2, 3, 4, 5, 6
STREAM_START, RECORDS, ACK, SWITCHOVER, PROMOTE, NOT_LEADER = 11, 12, 14, 18, 19, 20
VERSION = 3
SEALED = 2


def frame(t, body, epoch=0, flags=0):
    hdr = struct.pack("!IBBHQI", MAGIC, t, flags, 0, epoch, len(body))
    return hdr + struct.pack("!I", zlib.crc32(hdr + body)) + body


def pstr(s):
    return struct.pack("!H", len(s)) + s


def seal(f, key, seq):
    """The frame f sealed: flag set, CRC again, tag appended."""
    hdr, body = bytearray(f[:24]), f[24:]
    hdr[5] |= SEALED
    hdr[20:24] = struct.pack("!I", zlib.crc32(bytes(hdr[:20]) + body))
    tag = hmac.new(key, struct.pack("!Q", seq) + bytes(hdr) + body, hashlib.sha256).digest()[:16]
    return bytes(hdr) + body + tag


def frame_len(buf):
    """The whole length of the frame at the start of buf, or None."""
    if len(buf) < 24:
        return None
    n = 24 + struct.unpack("!I", buf[16:20])[0] + (16 if buf[5] & SEALED else 0)
    return n if len(buf) >= n else None


class Link:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.keys = None  # (send, receive) once sealed
        self.seq = [0, 0]

    def send(self, t, body=b"", epoch=0):
        f = frame(t, body, epoch)
        if self.keys:
            f = seal(f, self.keys[0], self.seq[0])
            self.seq[0] += 1
        self.s.sendall(f)

    def recv(self):
        while True:
            n = frame_len(self.buf)
            if n is not None:
                f, self.buf = self.buf[:n], self.buf[n:]
                t, body = f[4], f[24:24 + struct.unpack("!I", f[16:20])[0]]
                self.epoch = struct.unpack("!Q", f[8:16])[0]
                if self.keys and f[5] & SEALED:
                    want = seal(f[:24] + body, self.keys[1], self.seq[1])
                    if want != f:
                        raise SystemExit("a frame from the leader failed its seal")
                    self.seq[1] += 1
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
    nl = body[:32]
    proof = hmac.new(secret, b"follower" + nl + nf + name, hashlib.sha256).digest()
    link.send(AUTH, proof)
    link.keys = (hmac.new(secret, b"frames from follower" + nl + nf, hashlib.sha256).digest(),
                 hmac.new(secret, b"frames from leader" + nl + nf, hashlib.sha256).digest())
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


def tamper(port_file, target, mode, seconds):
    done = threading.Event()
    # the frame type meddled with, in each direction
    victim = {"to_client": RECORDS if mode == "alter" else 0, "to_target": ACK if mode == "replay" else 0}

    def make_filter(direction):
        held = [b""]

        def meddle(data):
            buf, out = held[0] + data, b""
            while (n := frame_len(buf)) is not None:
                f, buf = buf[:n], buf[n:]
                if f[4] == victim[direction] and f[5] & SEALED and not done.is_set():
                    done.set()
                    plen = struct.unpack("!I", f[16:20])[0]
                    if mode == "alter" and plen > 0:
                        body = bytearray(f[24:24 + plen])
                        body[len(body) // 2] ^= 0x20
                        hdr = bytearray(f[:24])
                        hdr[20:24] = struct.pack("!I", zlib.crc32(bytes(hdr[:20]) + bytes(body)))
                        f = bytes(hdr) + bytes(body) + f[24 + plen:]
                    elif mode == "replay":
                        f = f + f
                    print("tampered", flush=True)
                out += f
            held[0] = buf
            return out
        return meddle

    tcpproxy.serve(port_file, target, seconds, make_filter)


def main():
    if sys.argv[1] == "bomb":
        bomb(int(sys.argv[2]))
        return
    if sys.argv[1] == "tamper":
        tamper(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
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
