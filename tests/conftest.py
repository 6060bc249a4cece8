"""Shared pytest configuration for the tests that run the built charm."""
from harness.fixtures import *  # the local Juju agent harness
from servers.fixtures import *  # loopback sshd, FTP/FTPS, moto S3, Azurite
