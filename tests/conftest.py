"""Shared pytest configuration for the tests that run the built charm."""
import pytest

from harness import machinelock

from harness.fixtures import *  # the local Juju agent harness
from servers.fixtures import *  # loopback sshd, FTP/FTPS, moto S3, Azurite


# The files that take longest, longest first (from the last CI run's --durations, summed per
# file; the two passes of make test each keep the ones they select). make test runs xdist
# with --no-loadscope-reorder, so its workers take whole files in this order: the long ones
# start first and short files fill the end of a pass, where a worker left with a long file
# while the other has nothing to do would make the pass longer. Files not named here follow,
# those with more tests first (pytest-xdist's own order).
LONGEST_FIRST = [
    "tests/e2e/test_schedule.py",  # exclusive: cron minutes
    "tests/servers/test_servers.py",  # every duplicity version against every server
    "tests/e2e/test_backends.py",
    "tests/e2e/test_actions.py",
    "tests/e2e/test_lifecycle.py",  # four duplicity versions; upstream switches (exclusive)
    "tests/e2e/test_credentials.py",  # secrets and s3 providers: five deployments
    "tests/e2e/test_backup_relation.py",
    "tests/e2e/test_secrets.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_encryption.py",
    "tests/e2e/test_failure_reports.py",
    "tests/e2e/test_compression.py",
    "tests/test_demo.py",
    "tests/e2e/test_restore_safety.py",
    "tests/test_harness.py",
    "tests/e2e/test_schedule_grammar.py",  # exclusive
    "unit_tests/test_duplicity_helper_real.py",  # real duplicity, every version
    "unit_tests/test_duplicity_config_exclude_paths.py",  # real duplicity, every version
]


def pytest_collection_modifyitems(items):
    """Order the files as LONGEST_FIRST says; the tests of a file keep their order."""
    files = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    order = sorted(files, key=lambda path: (rank.get(path, len(rank)), -len(files[path])))
    items[:] = [item for path in order for item in files[path]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Hold the machine's test lock (harness/machinelock.py) around each end-to-end test,
    from its setup to its teardown: shared for the tests that deploy units and may share the
    machine, alone for those marked ``exclusive``. make test never makes them wait (its
    passes keep them apart); any other way of running the suite (-n 4, two checkouts at
    once) waits instead of letting two such tests break each other. Unit tests take none."""
    if item.get_closest_marker("unit"):
        return (yield)
    with machinelock.held(exclusive=item.get_closest_marker("exclusive") is not None):
        return (yield)
