"""Shared pytest configuration for tests that run the built charm."""
from harness.fixtures import *
