"""Offline ``charm build`` of a charm layer, cached per test session."""
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


def build_charm(src_dir, out_dir, charm_build=None, layers_dir=None,
                interfaces_dir=None, use_cache=True, layer_index=False):
    """Build the charm layer ``src_dir`` into ``out_dir``; returns the path of
    the built charm (``out_dir/<name>``).

    Offline: layers come from ``layers_dir`` (default ``tests/layers``, our
    layer:basic stand-in) and interfaces from ``interfaces_dir`` (default
    the repo's ``interfaces/``). With ``layer_index``, layers not found
    locally (layer:basic) come from the layer index instead (needs the
    internet). A build of the same source tree into the same ``out_dir`` is
    reused within a session.

    charm build works on a staged copy of the source: it refuses an output
    directory inside the source tree (./build).
    """
    src_dir = Path(src_dir).resolve()
    out_dir = Path(out_dir).resolve()
    layers_dir = Path(layers_dir or LAYERS_DIR).resolve()
    interfaces_dir = Path(interfaces_dir or INTERFACES_DIR).resolve()
    key = (str(src_dir), str(out_dir), layer_index,
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
    if layer_index:
        env.pop('CHARM_LAYERS_DIR')
    charm_build = charm_build or find_charm_build()
    # charm-build runs `virtualenv`/`pip` for the wheelhouse from PATH: make
    # its own venv's bin dir come first.
    tool_bin = os.path.dirname(os.path.abspath(charm_build))
    env['PATH'] = os.pathsep.join([tool_bin, env.get('PATH', '')])
    staged = _stage(src_dir, out_dir / ('.src-' + name))
    cmd = [charm_build, '--build-dir', str(out_dir),
           '--cache-dir', str(out_dir / '.charm-cache'), '--no-report',
           '--hide-metrics', '--force', '--binary-wheels', str(staged)]
    proc = subprocess.run(cmd, env=env, cwd=str(staged),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    # charm build exits 100 when proof only warns, 200 on proof errors.
    if proc.returncode not in (0, 100) or \
            not (target / 'metadata.yaml').exists() or \
            not (target / 'hooks' / 'install').exists():
        raise BuildFailed('{} failed ({}):\n{}'.format(
            ' '.join(cmd), proc.returncode, proc.stdout))
    _BUILD_CACHE[key] = str(target)
    return target


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(
        description='charm build of a charm layer from a staged copy of its source '
                    '(make build, make charm)')
    parser.add_argument('src', help='the charm layer (its directory)')
    parser.add_argument('out', help='output directory: the charm lands in OUT/<name>')
    parser.add_argument('--layer-index', action='store_true',
                        help='layer:basic from the layer index (needs the internet), '
                             'not the offline stand-in in tests/layers')
    args = parser.parse_args(argv)
    try:
        target = build_charm(args.src, args.out, layer_index=args.layer_index)
    except BuildFailed as err:
        print(err, file=sys.stderr)
        return 1
    print('built {}'.format(target))
    return 0


if __name__ == '__main__':
    sys.exit(main())
