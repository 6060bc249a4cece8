"""The local wheel directory (``make wheels``: tests/.wheels) that makes builds and unit
venvs work without network.

``tests/setup/download_wheels.py`` fills it with every wheel the test build (charm-tools'
wheelhouse step) and the unit venv template need, and writes ``manifest.json`` last,
listing the requirements it covers. While a directory with a manifest exists, the pip
runs of ``charm build`` and of the template venv build get ``PIP_NO_INDEX=1`` and
``PIP_FIND_LINKS=<dir>`` in their environment (never in this process's), provided every
requirement they will ask for is in the manifest; otherwise (no directory, a requirement
added since) they use the package index as before. Stdlib only.
"""
import json
import os
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parents[1] / '.wheels'
MANIFEST = 'manifest.json'
# What charm-tools' wheelhouse step installs into its build virtualenv before `pip wheel`
# when that virtualenv's Python is older than 3.12 (charmtools.utils.pin_setuptools_for_pep440).
CHARM_TOOLS_PINS = ['pip<23.1', 'setuptools<67']
# Its default wheelhouse constraint (WheelhouseTactic._default_cons).
CHARM_TOOLS_CONSTRAINTS = ['setuptools<82']


def wheels_dir(environ=None):
    """$HARNESS_WHEELS, else tests/.wheels; None when $HARNESS_WHEELS is set but empty
    (use the index)."""
    environ = os.environ if environ is None else environ
    value = environ.get('HARNESS_WHEELS')
    if value is None:
        return DEFAULT_DIR
    return Path(value) if value else None


def requirement_lines(text):
    """The lines of a requirements file without comments and blank lines."""
    lines = []
    for line in text.splitlines():
        line = line.split(' #', 1)[0].strip()
        if line and not line.startswith('#'):
            lines.append(line)
    return lines


def wheelhouse_requirements(layers=(), collections=()):
    """The requirement lines of the wheelhouse.txt of each layer directory in ``layers``
    and of each layer in the directories ``collections`` (a layers or interfaces dir)."""
    paths = [Path(d) / 'wheelhouse.txt' for d in layers]
    for top in collections:
        if Path(top).is_dir():
            paths += sorted(Path(top).glob('*/wheelhouse.txt'))
    found = []
    for path in paths:
        if path.is_file():
            found += requirement_lines(path.read_text())
    return found


def read_manifest(directory):
    try:
        with open(Path(directory) / MANIFEST) as fp:
            return json.load(fp)
    except (OSError, ValueError):
        return None


def write_manifest(directory, requirements):
    """Written last by the download: a directory without it is not used."""
    path = Path(directory) / MANIFEST
    tmp = path.with_name(MANIFEST + '.tmp')
    tmp.write_text(json.dumps({'requirements': sorted(set(requirements))}, indent=1) + '\n')
    os.replace(tmp, path)


def pip_env(requirements, environ=None):
    """Environment entries for a child pip that will resolve ``requirements``: offline
    from the wheel directory when it covers them all, else {} (the index)."""
    directory = wheels_dir(environ)
    if directory is None:
        return {}
    manifest = read_manifest(directory)
    if not manifest or not set(requirements) <= set(manifest.get('requirements', ())):
        return {}
    return {'PIP_NO_INDEX': '1', 'PIP_FIND_LINKS': str(directory)}
