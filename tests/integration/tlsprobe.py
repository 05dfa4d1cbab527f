"""tlsprobe.py — what a PostgreSQL server says to TLS openings that psql
cannot make, for the integration tests (python3's ssl module).

    python3 tlsprobe.py direct PORT CAFILE ALPN
        opens TLS at once (PostgreSQL 17's direct TLS, no SSLRequest),
        offering ALPN protocol ALPN ("-" offers none), sends a startup
        packet for user "sluice" and prints the first reply message type:
        "R" (authentication request), "E <text>" (an error), or
        "handshake failed: <reason>" / "closed".
    python3 tlsprobe.py stuffed PORT
        sends an SSLRequest and, in the same packet, the start of a startup
        packet in clear (the bytes an attacker on the path would inject);
        prints "E <text>" when the server answers with an error, "S" when
        it agreed to TLS anyway, or what else came.
    python3 tlsprobe.py record LISTEN_PORT_FILE TARGET_PORT OUT SECONDS
        a TCP proxy on 127.0.0.1 (its port written to LISTEN_PORT_FILE)
        to TARGET_PORT that appends every byte of both directions to OUT;
        ends after SECONDS.
"""
import os
import socket
import ssl
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcpproxy  # noqa: E402


def startup_packet(user):
    body = struct.pack("!I", 196608) + b"user\0" + user.encode() + b"\0database\0sluice\0\0"
    return struct.pack("!I", len(body) + 4) + body


def read_message(sock):
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            return None, b""
        head += chunk
    kind, length = head[:1].decode(), struct.unpack("!I", head[1:5])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            break
        body += chunk
    return kind, body


def error_text(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1].decode()] = part[1:].decode(errors="replace")
    return "E %s %s" % (fields.get("C", "?"), fields.get("M", ""))


def direct(port, cafile, alpn):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if alpn != "-":
        ctx.set_alpn_protocols([alpn])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        print("handshake failed: %s" % e)
        return
    try:
        sock.sendall(startup_packet("sluice"))
        kind, body = read_message(sock)
    except (ssl.SSLError, OSError) as e:
        print("closed: %s" % e)
        return
    if kind is None:
        print("closed")
    elif kind == "E":
        print(error_text(body))
    else:
        print(kind)


def stuffed(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(struct.pack("!II", 8, 80877103) + startup_packet("sluice"))
    first = sock.recv(1)
    if first == b"E":
        rest = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
        except OSError:
            pass
        print(error_text(rest[4:]))
    else:
        print(first.decode(errors="replace") or "closed")


def record(port_file, target, out, seconds):
    lock = threading.Lock()

    def make_filter(direction):
        def keep(data):
            with lock, open(out, "ab") as f:
                f.write(data)
            return data
        return keep

    tcpproxy.serve(port_file, target, seconds, make_filter)


def main():
    cmd = sys.argv[1]
    if cmd == "direct":
        direct(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif cmd == "stuffed":
        stuffed(int(sys.argv[2]))
    elif cmd == "record":
        record(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
