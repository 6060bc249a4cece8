"""A TCP proxy that shapes a loopback link: one-way delay and a bandwidth limit per direction.

    with ShapingProxy(target_port=server.port, delay_ms=20, rate_mbit=200) as link:
        url = "http://127.0.0.1:{}".format(link.port)     # clients connect here

Listens on 127.0.0.1 and forwards to a 127.0.0.1 target only: any other target is refused
(ValueError) before anything listens. Each direction ("up": client -> target, "down":
target -> client) is one link shared by all connections, as a real WAN link is:

- delay: every chunk read is forwarded no earlier than ``delay_ms`` after it was read, so
  a request/response pays at least 2 x delay_ms (the RTT);
- bandwidth: one token bucket per direction (``rate_mbit``, burst ``burst_bytes``): in any
  interval of t seconds at most burst + rate x t bytes pass, over all connections;
- a bounded queue per connection and direction (``buffer_bytes``, by default twice the
  bandwidth-delay product, at least 1 MiB): a full queue stops reading, so the sender
  feels the link (TCP back-pressure) instead of an infinite buffer.

It counts what it forwarded (``stats()``) and measures its own bandwidth
(``measure_bandwidth``: bulk transfer to a local sink). Threads and the stdlib only.
"""

import argparse
import collections
import socket
import sys
import threading
import time

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


def check_target(host, port):
    """Refuse any target but a port on 127.0.0.1 (the proxy must never reach off the box)."""
    if host != LOOPBACK:
        raise ValueError("shaping proxy: target host {!r} refused: only {} is allowed".format(
            str(host)[:64], LOOPBACK))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError("shaping proxy: target port {!r} is not a TCP port (1-65535)".format(
            str(port)[:16]))


class TokenBucket:
    """Bytes per second with a burst; consumers that go into debt sleep it off, in turn."""

    def __init__(self, rate, burst):
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def consume(self, n):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= n
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class Direction:
    """One direction of the link: its bucket, its delay and what went through it."""

    def __init__(self, name, delay, rate, burst):
        self.name = name
        self.delay = delay
        self.bucket = TokenBucket(rate, burst) if rate else None
        self.lock = threading.Lock()
        self.bytes = 0
        self.chunks = 0
        self.first = None
        self.last = None

    def sent(self, n, now):
        with self.lock:
            self.bytes += n
            self.chunks += 1
            if self.first is None:
                self.first = now
            self.last = now

    def snapshot(self):
        with self.lock:
            return {"bytes": self.bytes, "chunks": self.chunks, "first": self.first,
                    "last": self.last}


class _Flow:
    """One connection's one direction: a reader fills a bounded queue, a writer drains it
    after the delay, paced by the direction's bucket."""

    def __init__(self, conn, src, dst, direction, buffer_bytes):
        self.conn, self.src, self.dst, self.direction = conn, src, dst, direction
        self.limit = buffer_bytes
        self.queue = collections.deque()
        self.queued = 0
        self.cond = threading.Condition()

    def start(self):
        for target in (self.read, self.write):
            threading.Thread(target=target, daemon=True,
                             name="shaper-{}-{}".format(self.direction.name,
                                                        target.__name__)).start()

    def read(self):
        try:
            while True:
                data = self.src.recv(CHUNK)
                with self.cond:
                    self.queue.append((time.monotonic(), data))
                    self.queued += len(data)
                    self.cond.notify_all()
                    if not data:
                        return
                    while self.queued >= self.limit and not self.conn.closed:
                        self.cond.wait(0.5)
                    if self.conn.closed:
                        return
        except OSError:
            self.conn.close()
            with self.cond:
                self.cond.notify_all()

    def write(self):
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.conn.closed:
                        self.cond.wait(0.5)
                    if not self.queue:
                        return
                    stamp, data = self.queue.popleft()
                due = stamp + self.direction.delay - time.monotonic()
                if due > 0:
                    time.sleep(due)
                if not data:
                    self.dst.shutdown(socket.SHUT_WR)
                    self.conn.half_closed()
                    return
                if self.direction.bucket:
                    self.direction.bucket.consume(len(data))
                self.dst.sendall(data)
                self.direction.sent(len(data), time.monotonic())
                with self.cond:
                    self.queued -= len(data)
                    self.cond.notify_all()
        except OSError:
            self.conn.close()
            with self.cond:
                self.cond.notify_all()


class _Connection:
    def __init__(self, client, upstream):
        self.client, self.upstream = client, upstream
        self.closed = False
        self.halves = 0
        self.lock = threading.Lock()

    def half_closed(self):
        with self.lock:
            self.halves += 1
            done = self.halves == 2
        if done:
            self.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class ShapingProxy:
    """127.0.0.1:port -> 127.0.0.1:target_port with delay and bandwidth per direction."""

    def __init__(self, target_port, target_host=LOOPBACK, delay_ms=20.0, rate_mbit=200.0,
                 burst_bytes=None, buffer_bytes=None, port=0):
        check_target(target_host, target_port)
        self.target = (target_host, target_port)
        self.delay = float(delay_ms) / 1000.0
        self.rate = float(rate_mbit) * 1e6 / 8 if rate_mbit else 0.0   # bytes per second
        if self.delay < 0 or self.rate < 0:
            raise ValueError("shaping proxy: delay_ms and rate_mbit must not be negative")
        self.burst = burst_bytes if burst_bytes is not None else max(CHUNK, int(self.rate * 0.005))
        bdp = int(self.rate * self.delay) if self.rate else 1 << 20
        self.buffer = buffer_bytes or max(1 << 20, 2 * bdp)
        self.host = LOOPBACK
        self.requested_port = port
        self.port = None
        self.up = Direction("up", self.delay, self.rate, self.burst)
        self.down = Direction("down", self.delay, self.rate, self.burst)
        self.connections = []
        self._listener = None
        self._lock = threading.Lock()

    @property
    def settings(self):
        return {"delay_ms_each_way": self.delay * 1000, "rtt_ms": 2 * self.delay * 1000,
                "rate_mbit": self.rate * 8 / 1e6, "burst_bytes": self.burst,
                "buffer_bytes": self.buffer, "target": "{}:{}".format(*self.target)}

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.requested_port))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="shaper-accept").start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(client, upstream)
            with self._lock:
                self.connections = [c for c in self.connections if not c.closed] + [conn]
            _Flow(conn, client, upstream, self.up, self.buffer).start()
            _Flow(conn, upstream, client, self.down, self.buffer).start()

    def close(self):
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self.connections = self.connections, []
        for conn in conns:
            conn.close()

    def stats(self):
        """{"up": {...}, "down": {...}}: bytes and chunks forwarded so far, first/last send."""
        return {"up": self.up.snapshot(), "down": self.down.snapshot()}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False


class _Sink:
    """A loopback server that reads everything (up) or sends ``size`` bytes (down)."""

    def __init__(self, size, send):
        self.size, self.send = size, send
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            if self.send:
                block = b"\0" * CHUNK
                left = self.size
                while left > 0:
                    conn.sendall(block[:min(CHUNK, left)])
                    left -= min(CHUNK, left)
                conn.shutdown(socket.SHUT_WR)
                conn.recv(1)
            else:
                while True:
                    data = conn.recv(1 << 20)
                    if not data:
                        break
                    self.received += len(data)
                conn.sendall(b"k")
        self.sock.close()
        self.done.set()


def measure_bandwidth(size=32 << 20, direction="up", **proxy_args):
    """Push ``size`` bytes through a fresh proxy with ``proxy_args`` to a local sink (up) or
    from a local source (down); returns {"bytes", "seconds", "mbit", "MBps", ...}. The time
    runs from connect to the last byte acknowledged at the far end, so it includes one RTT
    and the delay of the final chunk: the figure is a slight under-estimate of the rate."""
    sink = _Sink(size, send=(direction == "down"))
    with ShapingProxy(target_port=sink.port, **proxy_args) as proxy:
        start = time.perf_counter()
        with socket.create_connection((LOOPBACK, proxy.port)) as s:
            if direction == "down":
                got = 0
                while True:
                    data = s.recv(1 << 20)
                    if not data:
                        break
                    got += len(data)
                s.sendall(b"k")
            else:
                block = b"\0" * CHUNK
                left = size
                while left > 0:
                    s.sendall(block[:min(CHUNK, left)])
                    left -= min(CHUNK, left)
                s.shutdown(socket.SHUT_WR)
                s.recv(1)
                got = sink.received
        seconds = time.perf_counter() - start
        stats = proxy.stats()
        settings = proxy.settings
    sink.done.wait(10)
    return {"direction": direction, "bytes": got, "seconds": seconds,
            "mbit": got * 8 / seconds / 1e6, "MBps": got / seconds / 1e6,
            "proxy_bytes": stats[direction]["bytes"], "settings": settings}


def main(argv=None):
    p = argparse.ArgumentParser(description="Shape a loopback TCP link (127.0.0.1 targets only)")
    p.add_argument("--target-port", type=int, required=True)
    p.add_argument("--target-host", default=LOOPBACK)
    p.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    p.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay, each direction")
    p.add_argument("--rate-mbit", type=float, default=200.0, help="bandwidth, each direction")
    args = p.parse_args(argv)
    try:
        proxy = ShapingProxy(args.target_port, args.target_host, args.delay_ms, args.rate_mbit,
                             port=args.port).start()
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    print("listening on {}:{} -> {}".format(proxy.host, proxy.port, proxy.settings), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
