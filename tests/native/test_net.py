"""csrc/net.c through fluxmq.native.Net, with real sockets on 127.0.0.1:
listener ids, accept events that carry them, frames, ordered sends, and the
return codes the wrapper turns into results (a send to a closed connection is
False, never silently lost)."""

from __future__ import annotations

import socket
import struct
import time

from fluxmq.native import Net, ffi, lib


def poll_until(net: Net, events, want, timeout=5.0) -> list:
    """Polls until `want(collected events)` holds; returns (kind, conn, listener, data) tuples."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = net.poll(events, 64)
        for i in range(n):
            ev = events[i]
            data = ffi.buffer(ev.data, ev.len)[:] if ev.kind == lib.FMQ_EV_FRAME else None
            got.append((ev.kind, ev.conn, ev.listener, data))
        if want(got):
            return got
        time.sleep(0.01)
    raise AssertionError(f"timed out; events so far: {got}")


def test_listeners_get_ids_and_accepts_carry_them():
    net = Net(1 << 20)
    events = ffi.new("fmq_event[]", 64)
    first, port_a = net.listen("127.0.0.1", 0)
    second, port_b = net.listen("127.0.0.1", 0)
    assert (first, second) == (0, 1) and port_a != port_b > 0
    with socket.create_connection(("127.0.0.1", port_b)) as b, socket.create_connection(("127.0.0.1", port_a)) as a:
        got = poll_until(net, events, lambda g: sum(k == lib.FMQ_EV_ACCEPT for k, *_ in g) == 2)
        accepts = sorted(listener for kind, _c, listener, _d in got if kind == lib.FMQ_EV_ACCEPT)
        assert accepts == [0, 1]
        conn_b = next(c for kind, c, listener, _d in got if kind == lib.FMQ_EV_ACCEPT and listener == 1)
        b.sendall(struct.pack(">i", 5) + b"hello")
        got = poll_until(net, events, lambda g: any(k == lib.FMQ_EV_FRAME for k, *_ in g))
        assert [(c, d) for kind, c, _l, d in got if kind == lib.FMQ_EV_FRAME] == [(conn_b, b"hello")]
        assert net.send(conn_b, b"one ") and net.send(conn_b, b"two")
        net.flush()
        b.settimeout(5)
        received = b""
        while len(received) < 7:
            received += b.recv(64)
        assert received == b"one two"
        assert net.peer(conn_b).startswith("127.0.0.1:")
        a.close()
    net.close(conn_b)
    assert net.send(conn_b, b"late") is False  # gone: reported, not lost silently
    assert net.send_file(conn_b, 0, 0, 10) is False


def test_a_taken_port_is_an_oserror():
    net = Net(1 << 20)
    _id, port = net.listen("127.0.0.1", 0)
    try:
        Net(1 << 20).listen("127.0.0.1", port)
    except OSError as e:
        assert "cannot listen on 127.0.0.1" in str(e)
    else:
        raise AssertionError("a second bind of the same port succeeded")


def read_until_eof(sock: socket.socket, timeout=5.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return out
        out += chunk


def listening():
    net = Net(1 << 20)
    _id, port = net.listen("127.0.0.1", 0)
    return net, ffi.new("fmq_event[]", 64), port


def accepted(net: Net, events) -> int:
    """The id of the next accepted connection."""
    got = poll_until(net, events, lambda g: any(k == lib.FMQ_EV_ACCEPT for k, *_ in g))
    return next(c for kind, c, _l, _d in got if kind == lib.FMQ_EV_ACCEPT)


def test_close_after_flush_delivers_what_is_queued_then_closes():
    """A last answer (a refused SASL authentication) reaches the client before the
    close, even one larger than the socket takes at once; what the client sends
    afterwards is not read."""
    net, events, port = listening()
    with socket.create_connection(("127.0.0.1", port)) as s:
        conn = accepted(net, events)
        big = bytes(range(256)) * 16384  # 4 MiB: more than one write
        assert net.send(conn, b"last answer ") and net.send(conn, big)
        net.close_after_flush(conn)
        assert net.send(conn, b"too late") is False  # forgotten at once
        s.sendall(struct.pack(">i", 5) + b"later")
        deadline = time.monotonic() + 10
        received = b""
        s.settimeout(0.05)
        while time.monotonic() < deadline:  # drive the flush from the poll loop while reading
            n = net.poll(events, 64)
            assert all(events[i].kind != lib.FMQ_EV_FRAME for i in range(n)), "a frame after close_after_flush"
            net.flush()
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                break
            received += chunk
        assert received == b"last answer " + big
    assert net.connections() == 0


def test_close_after_flush_with_nothing_queued_closes_at_once():
    net, events, port = listening()
    with socket.create_connection(("127.0.0.1", port)) as s:
        conn = accepted(net, events)
        net.close_after_flush(conn)
        assert read_until_eof(s) == b""
