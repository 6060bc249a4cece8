"""Loopback test servers for duplicity's backends (see fixtures.py for pytest fixtures).

Each server is a context manager: it picks a free high port on 127.0.0.1, keeps its
state under the directory it is given, waits until it answers, and stops on exit
(also when the test failed). ``stop()``/``start()`` simulate an outage on the same port.
"""

from ._base import LOOPBACK, ServerError, ServerProcess, free_port
from .azurite import AzuriteServer, azurite_binary
from .ftp import FtpServer
from .s3 import S3Server
from .ssh import SshServer, ensure_user
from .tls import TestCA

__all__ = [
    "LOOPBACK", "ServerError", "ServerProcess", "free_port",
    "AzuriteServer", "azurite_binary", "FtpServer", "S3Server", "SshServer",
    "ensure_user", "TestCA",
]
