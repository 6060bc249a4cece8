"""Common plumbing for the loopback test servers: free ports, subprocess lifecycle."""

import os
import signal
import socket
import subprocess
import time

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A test server could not be started."""


def free_port(host=LOOPBACK):
    """Return a currently free TCP port on ``host`` (kernel-chosen, so a high port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_banner(host, port, timeout=1.0):
    """Connect and return the first bytes the server sends (b"" on failure)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(256)
    except OSError:
        return b""


class ServerProcess:
    """A server run as a child process, with its log under ``workdir``.

    Subclasses implement ``_command()`` (argv list), ``_is_ready()`` and optionally
    ``_prepare()`` (one-time setup before the first start) and ``_cleanup()``.
    Use as a context manager; ``stop()``/``start()`` simulate an outage (same port,
    same state directory).
    """

    name = "server"
    ready_timeout = 30.0

    def __init__(self, workdir, port=None, host=LOOPBACK):
        self.workdir = os.path.abspath(str(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.log_path = os.path.join(self.workdir, f"{self.name}.log")
        self._proc = None
        self._prepared = False

    # -- to override -------------------------------------------------------------
    def _prepare(self):
        pass

    def _command(self):
        raise NotImplementedError

    def _env(self):
        return None

    def _is_ready(self):
        return port_open(self.host, self.port)

    def _cleanup(self):
        pass

    # -- lifecycle ---------------------------------------------------------------
    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def start(self):
        if self.running:
            return self
        if not self._prepared:
            self._prepare()
            self._prepared = True
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self._env(),
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with {self._proc.returncode} during start-up:\n"
                    + self.log_tail()
                )
            if self._is_ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {self.ready_timeout}s:\n" + self.log_tail())

    def stop(self):
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        # Wait until the port is closed, so a following start() or an "outage"
        # test sees a consistent state.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and port_open(self.host, self.port, timeout=0.2):
            time.sleep(0.05)

    def close(self):
        try:
            self.stop()
        finally:
            self._cleanup()

    def restart(self):
        self.stop()
        return self.start()

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(data.splitlines()[-lines:])

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()
        return False
