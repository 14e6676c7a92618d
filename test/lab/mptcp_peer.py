#!/usr/bin/env python3
"""MPTCP peers for the lab (issue 13): an echo server on the aggregation VPS and a client on
the gateway that sends a numbered 200-byte message every INTERVAL ms and times the echoes.

  mptcp_peer.py serve ADDRESS PORT SECONDS
  mptcp_peer.py client ADDRESS PORT SECONDS INTERVAL_MS

Both stop after SECONDS (bounded), or on SIGTERM. The client prints one JSON line: messages
sent and echoed, echoes that came back wrong or out of order, the longest gap between two
echoes and every one over 30 ms, with the wall-clock times (ms) it began and ended."""
import json
import selectors
import signal
import socket
import struct
import sys
import time

IPPROTO_MPTCP = 262  # include/uapi/linux/in.h
MSG = 200
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def message(seq):
    head = struct.pack('!Q', seq)
    return head + bytes((seq + i) % 251 for i in range(MSG - len(head)))


def serve(address, port, seconds):
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM, IPPROTO_MPTCP)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((address, port))
    srv.listen(64)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    print('ready', flush=True)
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            if key.fileobj is srv:
                conn, _ = srv.accept()
                conn.setblocking(True)
                sel.register(conn, selectors.EVENT_READ)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
            except OSError:
                data = b''
            if not data:
                sel.unregister(conn)
                conn.close()
                continue
            conn.sendall(data)


def client(address, port, seconds, interval_ms):
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    c = socket.socket(family, socket.SOCK_STREAM, IPPROTO_MPTCP)
    c.settimeout(5)
    c.connect((address, port))
    c.setblocking(False)
    print(json.dumps({'connected': True, 'local': c.getsockname()[0]}), flush=True)
    start = time.monotonic()
    sent = echoed = bad = 0
    buf = b''
    gaps = []
    longest = None
    last_echo = None
    next_send = start
    pending = b''
    # After SECONDS, 3 s more for the echoes still on their way.
    while True:
        now = time.monotonic()
        sending = not stop and now - start < seconds
        if not sending and (echoed >= sent or now - start > seconds + 3):
            break
        if sending and now >= next_send:
            pending += message(sent)
            sent += 1
            next_send += interval_ms / 1000
        if pending:
            try:
                n = c.send(pending)
                pending = pending[n:]
            except BlockingIOError:
                pass
        try:
            data = c.recv(65536)
            if not data:
                break
            buf += data
        except BlockingIOError:
            pass
        while len(buf) >= MSG:
            chunk, buf = buf[:MSG], buf[MSG:]
            if chunk != message(echoed):
                bad += 1
            echoed += 1
            t = time.time()
            if last_echo is not None:
                gap = {'from': round(last_echo * 1000, 1), 'to': round(t * 1000, 1), 'ms': round((t - last_echo) * 1000, 1)}
                if longest is None or gap['ms'] > longest['ms']:
                    longest = gap
                if gap['ms'] > 30:
                    gaps.append(gap)
            last_echo = t
        time.sleep(0.001)
    c.close()
    print(json.dumps({'sent': sent, 'echoed': echoed, 'bad': bad, 'gaps': gaps, 'longest': longest}), flush=True)


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'serve':
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
