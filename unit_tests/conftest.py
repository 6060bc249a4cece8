"""Put the charm's lib/ on sys.path, as layer:basic does in the built charm, and tests/ (for
the one table of duplicity binaries, tests/servers/duplicity_versions.py)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, 'lib')
if LIB not in sys.path:
    sys.path.insert(0, LIB)
TESTS = os.path.join(ROOT, 'tests')
if TESTS not in sys.path:
    sys.path.append(TESTS)


def pytest_collection_modifyitems(config, items):
    """Mark every test under unit_tests/ ``unit``: make test runs them next to the tests
    marked ``exclusive`` (they deploy no unit and write nothing outside their tmp dirs)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker("unit")
