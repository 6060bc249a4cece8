"""pyftpdlib FTP / explicit-FTPS server in a subprocess (so tests can stop/restart it)."""

import os
import secrets
import sys

from ._base import ServerProcess, read_banner
from .tls import TestCA

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ftp_server_main.py")


class FtpServer(ServerProcess):
    """Plain FTP, or with ``tls=True`` explicit TLS (AUTH TLS; TLS required on control
    and data connections) with a certificate from a CA the fixture generates.

    Attributes: ``host``, ``port``, ``user``, ``password``, ``root`` (the served
    directory, empty at start), ``tls``; with TLS: ``ca_pem`` (bytes), ``ca_file``.
    ``url(path, scheme=None)`` gives a duplicity URL without the password
    (``ftp://`` or ``ftpes://``); give the password as FTP_PASSWORD.
    """

    name = "ftpd"

    def __init__(self, workdir, tls=False, user="duptest", port=None, python=None):
        super().__init__(workdir, port=port)
        self.tls = tls
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.python = python or sys.executable
        self.root = os.path.join(self.workdir, "root")
        self.ca = None
        self.ca_pem = None
        self.ca_file = None

    def _prepare(self):
        os.makedirs(self.root, exist_ok=True)
        if self.tls:
            self.ca = TestCA(os.path.join(self.workdir, "tls"))
            self.ca_pem = self.ca.ca_pem
            self.ca_file = self.ca.ca_file

    def _command(self):
        cmd = [self.python, SCRIPT, "--host", self.host, "--port", str(self.port),
               "--root", self.root, "--user", self.user]
        if self.tls:
            cmd += ["--certfile", self.ca.cert_file, "--keyfile", self.ca.key_file]
        return cmd

    def _env(self):
        env = dict(os.environ)
        env["FTP_SERVER_PASSWORD"] = self.password
        return env

    def _is_ready(self):
        return read_banner(self.host, self.port).startswith(b"220")

    @property
    def scheme(self):
        return "ftpes" if self.tls else "ftp"

    def url(self, path="backup", scheme=None):
        return f"{scheme or self.scheme}://{self.user}@{self.host}:{self.port}/{path.lstrip('/')}"

    def listdir(self, path=""):
        return sorted(os.listdir(os.path.join(self.root, path)))
