#!/usr/bin/env python3
"""The pinned layers of the deployable build (build-layers.txt).

    python3 tools/build_layers.py fetch DIR   # git clone each pinned layer into DIR/<name>
    python3 tools/build_layers.py check DIR   # DIR holds them (a CHARM_LAYERS_DIR you made)

`make charm` (tests/harness/build.py --deployable) and `charmcraft pack` (charmcraft.yaml)
both use it. It never hands out the test-only stand-in (tests/layers).

Standard library only, Python 3.8: charmcraft's ubuntu 20.04 build environment runs it.
"""
import collections
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PINS_FILE = os.path.join(ROOT, 'build-layers.txt')
STAND_IN_DIR = os.path.join(ROOT, 'tests', 'layers')
# The stand-in's charms/layer/basic.py defines this name; the real layer never does.
STAND_IN_MARK = 'TEST_ONLY_STAND_IN'

Pin = collections.namedtuple('Pin', 'name url commit')


class LayersError(Exception):
    pass


def read_pins(path=PINS_FILE):
    """The pins: one ``name url commit`` line per layer (``#`` starts a comment)."""
    pins = []
    with open(path) as fp:
        for number, line in enumerate(fp, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            if len(words) != 3 or not re.match(r'^[0-9a-f]{40}$', words[2]):
                raise LayersError('{}:{}: expected "name git-url commit" (a 40-hex commit), '
                                  'got {!r}'.format(path, number, line.strip()[:200]))
            pins.append(Pin(*words))
    return pins


def instructions(pins):
    """What to do when the build cannot fetch the layers itself."""
    lines = ['The deployable build needs these layers, pinned in build-layers.txt:']
    for pin in pins:
        lines.append('  layer:{:<8} {} commit {}'.format(pin.name, pin.url, pin.commit))
    lines.append('On a machine with access to github.com, fetch them into one directory, '
                 'say LAYERS:')
    for pin in pins:
        lines.append('  git clone {url} LAYERS/{name} && git -C LAYERS/{name} checkout {commit}'
                     .format(**pin._asdict()))
    lines.append('copy LAYERS to this machine and build with:')
    lines.append('  make charm CHARM_LAYERS_DIR=/absolute/path/to/LAYERS')
    lines.append('(never tests/layers: that is the test-only stand-in for layer:basic, '
                 'it cannot be deployed)')
    return '\n'.join(lines)


def _git(args):
    env = dict(os.environ, GIT_TERMINAL_PROMPT='0', LC_ALL='C')
    return subprocess.run(['git'] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False)


def head_commit(directory):
    """The commit checked out in ``directory`` when it is the top of a git checkout,
    else None."""
    if not os.path.exists(os.path.join(directory, '.git')):
        return None
    proc = _git(['-C', directory, 'rev-parse', '--verify', 'HEAD^{commit}'])
    return proc.stdout.strip() if proc.returncode == 0 else None


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else '(no output)'


def fetch(dest, pins=None):
    """Clone each pinned layer into ``dest/<name>`` and check out its commit; a checkout
    already at the pinned commit is kept (``dest`` is a cache the build owns). Raises
    LayersError with what to do when git cannot fetch them (no network)."""
    pins = read_pins() if pins is None else pins
    os.makedirs(dest, exist_ok=True)
    for pin in pins:
        target = os.path.join(dest, pin.name)
        if head_commit(target) == pin.commit:
            continue
        tmp = target + '.part'
        for stale in (tmp, target):
            if os.path.lexists(stale):
                shutil.rmtree(stale)
        proc = _git(['clone', '--quiet', '--no-checkout', pin.url, tmp])
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LayersError('cannot fetch layer:{}: git clone {} failed: {}\n\n{}'.format(
                pin.name, pin.url, _last_line(proc.stderr), instructions(pins)))
        proc = _git(['-C', tmp, 'checkout', '--quiet', '--detach', pin.commit])
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LayersError('{} has no commit {} (build-layers.txt): {}'.format(
                pin.url, pin.commit, _last_line(proc.stderr)))
        os.rename(tmp, target)
    return dest


def _is_stand_in(layer_dir):
    basic_py = os.path.join(layer_dir, 'lib', 'charms', 'layer', 'basic.py')
    try:
        with open(basic_py) as fp:
            return STAND_IN_MARK in fp.read()
    except OSError:
        return False


def check(layers_dir, pins=None):
    """Check a CHARM_LAYERS_DIR prepared by hand: refuses the test-only stand-in and a
    directory missing a pinned layer (LayersError); returns warnings for layers that are
    not git checkouts or are checked out at another commit than the pin (the build uses
    them anyway: that is how a new layer:basic is tried before moving the pin)."""
    pins = read_pins() if pins is None else pins
    if not os.path.isdir(layers_dir):
        raise LayersError('CHARM_LAYERS_DIR={} is not a directory\n\n{}'.format(
            layers_dir, instructions(pins)))
    if os.path.realpath(layers_dir) == os.path.realpath(STAND_IN_DIR) or \
            _is_stand_in(os.path.join(layers_dir, 'basic')) or \
            _is_stand_in(os.path.join(layers_dir, 'layer-basic')):
        raise LayersError('CHARM_LAYERS_DIR={} holds the test-only stand-in for layer:basic '
                          '(tests/layers): a charm built on it cannot be deployed\n\n{}'.format(
                              layers_dir, instructions(pins)))
    warnings = []
    for pin in pins:
        # charm build looks for <name>, then layer-<name>
        found = [os.path.join(layers_dir, d) for d in (pin.name, 'layer-' + pin.name)
                 if os.path.isdir(os.path.join(layers_dir, d))]
        if not found:
            raise LayersError('CHARM_LAYERS_DIR={} has no {}/ (layer:{})\n\n{}'.format(
                layers_dir, pin.name, pin.name, instructions(pins)))
        commit = head_commit(found[0])
        if commit is None:
            warnings.append('{} is not a git checkout: cannot check that it is {} at the '
                            'pinned commit {}'.format(found[0], pin.url, pin.commit))
        elif commit != pin.commit:
            warnings.append('{} is at commit {}, not at the pinned {} (build-layers.txt): '
                            'building with it anyway'.format(found[0], commit, pin.commit))
    return warnings


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=('fetch', 'check'))
    parser.add_argument('dir', help='the layers directory (CHARM_LAYERS_DIR)')
    args = parser.parse_args(argv)
    try:
        if args.command == 'fetch':
            fetch(args.dir)
        else:
            for warning in check(args.dir):
                print('warning: ' + warning, file=sys.stderr)
    except LayersError as err:
        print(err, file=sys.stderr)
        return 1
    print(args.dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
