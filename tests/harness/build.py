"""``charm build`` of a charm layer from a staged copy of its source.

Two kinds of build:

- the test build (``build_charm``, the harness's ``build`` fixture): layer:basic is the
  test-only stand-in in ``tests/layers``, offline; its hooks run only under the harness.
  With ``HARNESS_REAL_LAYERS=1`` it uses the real layers in ``$CHARM_LAYERS_DIR`` instead;
- the deployable build (``--deployable``, ``make charm``): the real layer:basic and
  layer:options at the commits pinned in build-layers.txt (``tools/build_layers.py``),
  fetched into a cache, or from ``$CHARM_LAYERS_DIR``; never the stand-in; charm build
  (and its proof) must exit 0.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYERS_DIR = REPO_ROOT / 'tests' / 'layers'
INTERFACES_DIR = REPO_ROOT / 'interfaces'

_BUILD_CACHE = {}

sys.path.insert(0, str(REPO_ROOT / 'tools'))
import build_layers  # noqa: E402  (tools/build_layers.py)

try:
    from . import wheels
except ImportError:  # run as a script: python tests/harness/build.py
    sys.path.insert(0, str(REPO_ROOT / 'tests'))
    from harness import wheels


class BuildFailed(Exception):
    pass


def find_charm_build():
    """The charm-build command: $CHARM_BUILD, charm-build on PATH, next to
    this Python, or the scratch venv /tmp/tv."""
    env = os.environ.get('CHARM_BUILD')
    if env:
        return env
    found = shutil.which('charm-build')
    if found:
        return found
    candidates = [Path(sys.executable).parent / 'charm-build',
                  Path('/tmp/tv/bin/charm-build')]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise BuildFailed('charm-build not found: set $CHARM_BUILD or put '
                      'charm-tools on PATH')


# Never part of a charm source: caches, venvs, test data, builds. Pruned from the digest
# and from the staged copy charm build works on (it would otherwise walk gigabytes).
_SKIP = {'.git', '.benchmarks', '__pycache__', '.venv', 'build', '.tox', '.pytest_cache', '.ruff_cache',
         '.work', '.venvs', '.node', 'bench-results', 'node_modules'}
# Top-level directories of a charm source that the build never packs.
_SKIP_TOP = {'tests', 'unit_tests'}


def _walk(root):
    for dirpath, dirnames, filenames in os.walk(root):
        top = os.path.samefile(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in _SKIP and not (top and d in _SKIP_TOP))
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


def _tree_digest(*dirs):
    digest = hashlib.sha256()
    for root in dirs:
        root = str(root)
        if not os.path.exists(root):
            continue
        for path in _walk(root):
            digest.update(os.path.relpath(path, root).encode())
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                with open(path, 'rb') as f:
                    digest.update(f.read())
    return digest.hexdigest()


def _stage(src_dir, dest):
    """Copy the charm source (without caches and tests) to dest for charm build."""
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(directory, names):
        top = os.path.samefile(directory, src_dir)
        return [n for n in names if n in _SKIP or (top and n in _SKIP_TOP)]
    shutil.copytree(src_dir, dest, symlinks=True, ignore=ignore)
    return dest


def charm_name(src_dir):
    with open(Path(src_dir) / 'metadata.yaml') as fp:
        return yaml.safe_load(fp)['name']


def real_layers_requested(environ=None):
    """True when the harness is asked to build on the real layers ($HARNESS_REAL_LAYERS=1)."""
    environ = os.environ if environ is None else environ
    return environ.get('HARNESS_REAL_LAYERS', '') not in ('', '0')


def harness_layers_dir(environ=None):
    """The layers the test build uses: the stand-in (tests/layers), or with
    HARNESS_REAL_LAYERS=1 the real ones in $CHARM_LAYERS_DIR (checked like the
    deployable build's)."""
    environ = os.environ if environ is None else environ
    if not real_layers_requested(environ):
        return LAYERS_DIR
    layers = environ.get('CHARM_LAYERS_DIR')
    if not layers:
        raise BuildFailed('HARNESS_REAL_LAYERS=1 needs CHARM_LAYERS_DIR: a directory with '
                          'the real layers (make charm fetches them into build/layers)')
    try:
        for warning in build_layers.check(layers):
            print('warning: ' + warning, file=sys.stderr)
    except build_layers.LayersError as err:
        raise BuildFailed(str(err))
    return Path(layers)


def deployable_layers_dir(cache_dir, environ=None):
    """The real layers for the deployable build: $CHARM_LAYERS_DIR when set (the
    stand-in refused, other commits warned about), else the pinned commits
    fetched into ``cache_dir``. Never the stand-in; BuildFailed says what to do
    when the layers cannot be fetched."""
    environ = os.environ if environ is None else environ
    try:
        layers = environ.get('CHARM_LAYERS_DIR')
        if layers:
            for warning in build_layers.check(layers):
                print('warning: ' + warning, file=sys.stderr)
            return Path(layers)
        return Path(build_layers.fetch(str(cache_dir)))
    except build_layers.LayersError as err:
        raise BuildFailed(str(err))


def build_charm(src_dir, out_dir, charm_build=None, layers_dir=None,
                interfaces_dir=None, use_cache=True, strict=False):
    """Build the charm layer ``src_dir`` into ``out_dir``; returns the path of
    the built charm (``out_dir/<name>``).

    Layers come from ``layers_dir`` (default: ``harness_layers_dir()``, the
    test-only stand-in in tests/layers unless HARNESS_REAL_LAYERS=1) and
    interfaces from ``interfaces_dir`` (default the repo's ``interfaces/``).
    charm build exits 100 when proof warns: accepted unless ``strict``. A build
    of the same source tree into the same ``out_dir`` is reused within a session.

    charm build works on a staged copy of the source: it refuses an output
    directory inside the source tree (./build).
    """
    src_dir = Path(src_dir).resolve()
    out_dir = Path(out_dir).resolve()
    layers_dir = Path(layers_dir or harness_layers_dir()).resolve()
    interfaces_dir = Path(interfaces_dir or INTERFACES_DIR).resolve()
    key = (str(src_dir), str(out_dir), str(layers_dir), strict,
           _tree_digest(src_dir, layers_dir, interfaces_dir))
    if use_cache and key in _BUILD_CACHE and \
            Path(_BUILD_CACHE[key]).exists():
        return Path(_BUILD_CACHE[key])
    name = charm_name(src_dir)
    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ,
               CHARM_LAYERS_DIR=str(layers_dir),
               CHARM_INTERFACES_DIR=str(interfaces_dir),
               CHARM_CACHE_DIR=str(out_dir / '.charm-cache'))
    env.pop('CHARM_BUILD_DIR', None)
    charm_build = charm_build or find_charm_build()
    # charm-build runs `virtualenv`/`pip` for the wheelhouse from PATH: make
    # its own venv's bin dir come first.
    tool_bin = os.path.dirname(os.path.abspath(charm_build))
    env['PATH'] = os.pathsep.join([tool_bin, env.get('PATH', '')])
    # Its pip runs (the build venv's pins, `pip wheel` of every wheelhouse.txt): from the
    # local wheel directory, offline, when that has them all (make wheels).
    offline = wheels.pip_env(wheels.CHARM_TOOLS_PINS + wheels.wheelhouse_requirements(
        [src_dir], [layers_dir, interfaces_dir]))
    env.update(offline)
    staged = _stage(src_dir, out_dir / ('.src-' + name))
    cmd = [charm_build, '--build-dir', str(out_dir),
           '--cache-dir', str(out_dir / '.charm-cache'), '--no-report',
           '--hide-metrics', '--force', '--binary-wheels', str(staged)]
    proc = subprocess.run(cmd, env=env, cwd=str(staged),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    # charm build exits 100 when proof only warns, 200 on proof errors.
    if proc.returncode not in ((0,) if strict else (0, 100)) or \
            not (target / 'metadata.yaml').exists() or \
            not (target / 'hooks' / 'install').exists():
        raise BuildFailed('{} failed ({}{}):\n{}'.format(
            ' '.join(cmd), proc.returncode,
            ', pip offline: --no-index --find-links ' + offline['PIP_FIND_LINKS']
            if offline else '', proc.stdout))
    _BUILD_CACHE[key] = str(target)
    return target


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(
        description='charm build of a charm layer from a staged copy of its source. '
                    'Without --deployable: the test build (the test-only stand-in for '
                    'layer:basic, which runs only under tests/harness).')
    parser.add_argument('src', help='the charm layer (its directory)')
    parser.add_argument('out', help='output directory: the charm lands in OUT/<name>')
    parser.add_argument('--deployable', action='store_true',
                        help='the charm you deploy (make charm): the real layers pinned in '
                             'build-layers.txt, from $CHARM_LAYERS_DIR or fetched into '
                             'OUT/layers; charm build must exit 0 (no proof warnings)')
    args = parser.parse_args(argv)
    try:
        if args.deployable:
            layers = deployable_layers_dir(Path(args.out).resolve() / 'layers')
            target = build_charm(args.src, args.out, layers_dir=layers, strict=True)
        else:
            target = build_charm(args.src, args.out)
    except BuildFailed as err:
        print(err, file=sys.stderr)
        return 1
    print('built {}'.format(target))
    return 0


if __name__ == '__main__':
    sys.exit(main())
