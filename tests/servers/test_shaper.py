"""The shaping proxy: loopback targets only, and a delay and a rate that physics enforces.

Every timing check is a lower bound (a transfer cannot beat size/rate, a round trip cannot
beat twice the one-way delay): a proxy that does not shape fails them, a slow machine cannot.
"""

import hashlib
import os
import socket
import threading
import time

import pytest

from .shaper import ShapingProxy, measure_bandwidth

DELAY_MS = 30.0
RATE_MBIT = 16.0           # 2 MB/s: 2 MiB take about one second
SIZE = 2 << 20


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "0.0.0.0",
                                  "localhost", "127.0.0.2", "::1", "example.com", ""])
def test_a_target_other_than_127_0_0_1_is_refused_with_a_clear_error(host):
    with pytest.raises(ValueError, match=r"target host .* refused: only 127\.0\.0\.1 is allowed"):
        ShapingProxy(target_port=8080, target_host=host)


@pytest.mark.parametrize("port", [0, -1, 65536, "80", None, True])
def test_a_target_port_that_is_not_a_tcp_port_is_refused(port):
    with pytest.raises(ValueError, match="not a TCP port"):
        ShapingProxy(target_port=port)


@pytest.fixture
def echo_server():
    """127.0.0.1:port echoing every byte back until the client closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()


def recv_exactly(s, n):
    out = bytearray()
    while len(out) < n:
        data = s.recv(n - len(out))
        assert data, "connection closed after {} of {} bytes".format(len(out), n)
        out += data
    return bytes(out)


def test_every_round_trip_through_the_proxy_takes_at_least_twice_the_one_way_delay(echo_server):
    with ShapingProxy(target_port=echo_server, delay_ms=DELAY_MS, rate_mbit=RATE_MBIT) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rtts = []
            for i in range(5):
                message = "ping {}\n".format(i).encode()
                start = time.perf_counter()
                s.sendall(message)
                assert recv_exactly(s, len(message)) == message
                rtts.append(time.perf_counter() - start)
    assert min(rtts) >= 2 * DELAY_MS / 1000, rtts
    assert proxy.settings["rtt_ms"] == 2 * DELAY_MS


def counted(proxy, size, within=5):
    """proxy.stats() once both directions have counted ``size`` bytes, or after ``within``
    seconds: a writer thread counts a chunk just after sending it, so the client may have
    read the last chunk before it is counted."""
    deadline = time.monotonic() + within
    while True:
        stats = proxy.stats()
        if (min(stats["up"]["bytes"], stats["down"]["bytes"]) >= size
                or time.monotonic() > deadline):
            return stats
        time.sleep(0.01)


def test_bytes_come_back_through_the_proxy_unchanged(echo_server):
    payload = os.urandom(SIZE // 2)
    with ShapingProxy(target_port=echo_server, delay_ms=1, rate_mbit=0) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            sender = threading.Thread(target=s.sendall, args=(payload,))
            sender.start()
            echoed = recv_exactly(s, len(payload))
            sender.join()
        stats = counted(proxy, len(payload))
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
    assert stats["up"]["bytes"] == stats["down"]["bytes"] == len(payload)


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_transfer_takes_at_least_its_size_over_the_rate_plus_the_delay(direction):
    result = measure_bandwidth(SIZE, direction, delay_ms=DELAY_MS, rate_mbit=RATE_MBIT)
    rate = RATE_MBIT * 1e6 / 8
    burst = result["settings"]["burst_bytes"]
    assert result["bytes"] == result["proxy_bytes"] == SIZE
    assert result["seconds"] >= DELAY_MS / 1000 + (SIZE - burst) / rate, result
    # the proxy's own measurement: never faster than the configured rate allows
    assert result["mbit"] <= RATE_MBIT * SIZE / (SIZE - burst), result


def test_connections_at_once_share_one_rate_per_direction():
    """Two bulk transfers in parallel through one proxy together take at least 2 x size /
    rate: the limit is the link's, not each connection's."""
    target = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    target.bind(("127.0.0.1", 0))
    target.listen(2)
    received = [0, 0]

    def drain(i, sock):
        conn, _ = sock.accept()
        with conn:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                received[i] += len(data)

    drains = [threading.Thread(target=drain, args=(i, target)) for i in range(2)]
    for t in drains:
        t.start()
    with ShapingProxy(target_port=target.getsockname()[1], delay_ms=DELAY_MS,
                      rate_mbit=RATE_MBIT) as proxy:
        block = b"\0" * 65536

        def push():
            with socket.create_connection(("127.0.0.1", proxy.port)) as s:
                for _ in range(SIZE // len(block)):
                    s.sendall(block)

        start = time.perf_counter()
        pushers = [threading.Thread(target=push) for _ in range(2)]
        for t in pushers:
            t.start()
        for t in pushers + drains:
            t.join(60)
        elapsed = time.perf_counter() - start
    target.close()
    assert received == [SIZE, SIZE]
    assert elapsed >= (2 * SIZE - proxy.burst) / (RATE_MBIT * 1e6 / 8), elapsed
