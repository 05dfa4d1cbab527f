"""tcpproxy.py — a TCP proxy on 127.0.0.1 for the integration tests'
helpers (tlsprobe.py record, peerproto.py tamper): each byte goes through
a filter of its direction on the way.

    serve(port_file, target_port, seconds, make_filter)

listens on a free port, writes it to port_file (whole, by rename), and for
every connection opens one to target_port and pumps both ways until
either side ends or `seconds` have passed since the start.
make_filter("to_target") and make_filter("to_client") are called for each
connection; a filter takes the bytes just received and returns the bytes
to send on (it may keep some back, e.g. a frame not yet whole).
"""
import os
import select
import socket
import threading
import time


def serve(port_file, target_port, seconds, make_filter):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    end = time.time() + seconds

    def pump(a, b, filt):
        try:
            while time.time() < end:
                r, _, _ = select.select([a], [], [], 0.2)
                if not r:
                    continue
                data = a.recv(1 << 16)
                if not data:
                    break
                out = filt(data)
                if out:
                    b.sendall(out)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    while time.time() < end:
        r, _, _ = select.select([lsock], [], [], 0.2)
        if not r:
            continue
        client, _ = lsock.accept()
        target = socket.create_connection(("127.0.0.1", target_port))
        threading.Thread(target=pump, args=(client, target, make_filter("to_target")), daemon=True).start()
        threading.Thread(target=pump, args=(target, client, make_filter("to_client")), daemon=True).start()
