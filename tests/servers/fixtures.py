"""pytest fixtures for the loopback test servers and the duplicity versions.

Import them into a conftest.py:  ``from tests.servers.fixtures import *  # noqa``
(or list this module in ``pytest_plugins``). Every server fixture is function-scoped,
keeps its state under a pytest tmp dir and is stopped at teardown, also on failure.
"""

import pytest

from .azurite import AzuriteServer, azurite_binary
from .duplicity_versions import CANDIDATES, duplicity_path
from .ftp import FtpServer
from .s3 import S3Server
from .ssh import SshServer

__all__ = [
    "ssh_server", "ftp_server", "ftps_server", "s3_server", "azurite_server",
    "duplicity_binary", "DUPLICITY_VERSION_IDS",
]

DUPLICITY_VERSION_IDS = list(CANDIDATES)  # ["dup3", "dup21", "dup08"]


@pytest.fixture
def ssh_server(tmp_path_factory):
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def ftp_server(tmp_path_factory):
    pytest.importorskip("pyftpdlib")
    with FtpServer(tmp_path_factory.mktemp("ftpd")) as server:
        yield server


@pytest.fixture
def ftps_server(tmp_path_factory):
    pytest.importorskip("pyftpdlib")
    pytest.importorskip("OpenSSL")
    with FtpServer(tmp_path_factory.mktemp("ftpsd"), tls=True) as server:
        yield server


@pytest.fixture
def s3_server(tmp_path_factory):
    pytest.importorskip("moto.server")
    with S3Server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def azurite_server(tmp_path_factory):
    if not azurite_binary():
        pytest.skip("azurite-blob not installed (tests/setup/install-system.sh)")
    with AzuriteServer(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(params=DUPLICITY_VERSION_IDS)
def duplicity_binary(request):
    """(version_id, path) for each installed duplicity; skips versions not installed."""
    path = duplicity_path(request.param)
    if path is None:
        pytest.skip(f"duplicity {request.param} not installed "
                    "(tests/setup/install-duplicity-versions.sh)")
    return request.param, path
