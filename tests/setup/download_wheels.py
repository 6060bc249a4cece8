#!/usr/bin/env python3
"""Download every wheel the test build and the unit venvs need into tests/.wheels (``make
wheels``), so that ``make demo`` and the tests' charm builds then run without network.

- the unit venv template (tests/harness/venv.py): BASE_REQUIREMENTS, as wheels for the
  harness's base interpreter (``venv.base_python()``, /usr/bin/python3: PyYAML and
  MarkupSafe are binary wheels), built with that interpreter's own pip (a scratch venv);
- charm-tools' wheelhouse step (``charm build``): the pip and setuptools it pins in its
  build virtualenv, and every wheelhouse.txt of the charm, the example principal, the
  layers the test build uses and interfaces/, for the Python that runs charm-tools (this
  one: its virtualenv is made from it).

``pip wheel`` (not ``pip download``) so that a package published only as an sdist is a
wheel here, and installing it offline needs no build backend. The directory is replaced
as a whole; ``manifest.json`` (the requirements covered) is written last, and the harness
uses the directory only for requirements listed there.

Usage: download_wheels.py [DIR]   (default tests/.wheels; needs network)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
sys.path.insert(0, str(TESTS))

from harness import wheels  # noqa: E402
from harness.build import INTERFACES_DIR, harness_layers_dir  # noqa: E402
from harness.venv import BASE_REQUIREMENTS, base_python  # noqa: E402


def pip(python, *args):
    cmd = [str(python), '-m', 'pip', '--disable-pip-version-check', '--quiet'] + list(args)
    print('+ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def download(dest, scratch):
    # The unit venvs: wheels for the base interpreter, by its own pip (the one the
    # template's `python -m venv` gets).
    base_venv = scratch / 'base-venv'
    subprocess.run([base_python(), '-m', 'venv', str(base_venv)], check=True)
    pip(base_venv / 'bin' / 'python', 'wheel', '--wheel-dir', str(dest), *BASE_REQUIREMENTS)

    # charm build's wheelhouse step, for the Python charm-tools makes its virtualenv from.
    pip(sys.executable, 'download', '--dest', str(dest), *wheels.CHARM_TOOLS_PINS)
    requirements = wheels.wheelhouse_requirements(
        [REPO], [TESTS / 'charms', harness_layers_dir(), INTERFACES_DIR])
    if requirements:
        constraints = scratch / 'constraints.txt'
        constraints.write_text('\n'.join(wheels.CHARM_TOOLS_CONSTRAINTS) + '\n')
        reqs = scratch / 'wheelhouse.txt'
        reqs.write_text('\n'.join(requirements) + '\n')
        pip(sys.executable, 'wheel', '--wheel-dir', str(dest),
            '--constraint', str(constraints), '--requirement', str(reqs))
    return BASE_REQUIREMENTS + wheels.CHARM_TOOLS_PINS + requirements


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dir', nargs='?', default=str(wheels.DEFAULT_DIR),
                        help='the wheel directory (default: %(default)s)')
    args = parser.parse_args(argv)
    dest = Path(args.dir).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=dest.name + '.tmp-', dir=str(dest.parent)) as tmp:
        tmp = Path(tmp)
        staged = tmp / 'wheels'
        staged.mkdir()
        scratch = tmp / 'scratch'
        scratch.mkdir()
        covered = download(staged, scratch)
        wheels.write_manifest(staged, covered)
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(staged, dest)
    names = sorted(p.name for p in dest.iterdir() if p.name != wheels.MANIFEST)
    print('{}: {} wheels for {} requirements'.format(dest, len(names), len(set(covered))))
    for name in names:
        print('  ' + name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
