"""Make the server fixtures available to tests/servers/test_servers.py."""

from .fixtures import *  # noqa: F401,F403
