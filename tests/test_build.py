"""The builds: charmcraft.yaml against charmcraft's own model, the pinned real layers of the
deployable build (tools/build_layers.py, tests/harness/build.py --deployable), and the
test-only stand-in for layer:basic refusing to run outside the harness."""
import copy
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness import build as harness_build
from harness.build import REPO_ROOT, BuildFailed, build_charm, deployable_layers_dir

import build_layers  # tools/build_layers.py (harness.build puts tools/ on sys.path)

BUILD_PY = REPO_ROOT / 'tests' / 'harness' / 'build.py'
STAND_IN = REPO_ROOT / 'tests' / 'layers'


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@t.invalid',
               GIT_COMMITTER_NAME='t', GIT_COMMITTER_EMAIL='t@t.invalid')
    return subprocess.run(['git'] + list(args), cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def layer_repo(tmp_path):
    """A git repository with two commits; returns (path, first commit, second commit)."""
    repo = tmp_path / 'layer-src'
    repo.mkdir()
    git('init', '-q', cwd=repo)
    (repo / 'layer.yaml').write_text('version: 1\n')
    git('add', '.', cwd=repo)
    git('commit', '-qm', 'one', cwd=repo)
    first = git('rev-parse', 'HEAD', cwd=repo)
    (repo / 'layer.yaml').write_text('version: 2\n')
    git('commit', '-qam', 'two', cwd=repo)
    return repo, first, git('rev-parse', 'HEAD', cwd=repo)


# charmcraft.yaml -------------------------------------------------------------------------

def load_project(project_dir):
    """charmcraft's own loader: charmcraft.yaml plus metadata/config/actions.yaml, validated
    by its pydantic project model (and craft-parts' part and plugin models)."""
    import charmcraft.parts
    from charmcraft.models.project import CharmcraftProject
    charmcraft.parts.setup_parts()  # registers the reactive plugin with craft-parts
    return CharmcraftProject.from_yaml_file(Path(project_dir) / 'charmcraft.yaml')


def test_charmcraft_yaml_is_a_valid_reactive_project_for_ubuntu_20_04_22_04_and_24_04():
    project = load_project(REPO_ROOT)
    assert type(project).__name__ == 'PlatformCharm'
    assert project.name == 'duplicity'
    # each platform builds on and for one release, and names the .charm file (design.md §1)
    assert {name: (platform.build_on, platform.build_for)
            for name, platform in project.platforms.items()} == {
        'ubuntu-{}-amd64'.format(release): (['ubuntu@{}:amd64'.format(release)],
                                            ['ubuntu@{}:amd64'.format(release)])
        for release in ('20.04', '22.04', '24.04')}
    part = project.parts['charm']
    assert part['plugin'] == 'reactive'
    env = {k: v for item in part['build-environment'] for k, v in item.items()}
    assert env['CHARM_INTERFACES_DIR'] == '$CRAFT_PART_BUILD/interfaces'
    # the pinned layers, fetched outside the charm source by the project's own script
    assert env['CHARM_LAYERS_DIR'] == '$CRAFT_PART_BUILD/../layers'
    assert part['override-build'].splitlines() == [
        'python3 tools/build_layers.py fetch "$CHARM_LAYERS_DIR"',
        'python3 tools/build_layers.py check "$CHARM_LAYERS_DIR"',
        'craftctl default']


def _mutate(path, value):
    def apply(data):
        *parents, key = path
        for parent in parents:
            data = data[parent]
        data[key] = value
    return apply


@pytest.mark.parametrize('mutation, expected', [
    (_mutate(['parts', 'charm', 'plugin'], 'reactiv'), "plugin not registered: 'reactiv'"),
    (_mutate(['parts', 'charm', 'build-snap'], ['charm']), "parts.build-snap"),
    (_mutate(['platforms', 'ubuntu-24.04-amd64'], {'build-on': ['ubunt@24.04:amd64'],
                                                  'build-for': ['ubunt@24.04:amd64']}),
     "base 'ubunt@24.04'"),
    (_mutate(['platforms', 'ubuntu-24.04-amd64', 'build-on'], ['ubuntu@22.04:amd64']),
     "platform 'ubuntu-24.04-amd64' has mismatched bases"),
    (_mutate(['platform'], {}), "field 'platform'"),
])
def test_charmcraft_model_rejects_a_broken_charmcraft_yaml(tmp_path, mutation, expected):
    from craft_application.errors import CraftValidationError
    data = yaml.safe_load((REPO_ROOT / 'charmcraft.yaml').read_text())
    broken = copy.deepcopy(data)
    mutation(broken)
    for name in ('metadata.yaml', 'config.yaml', 'actions.yaml'):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / 'charmcraft.yaml').write_text(yaml.safe_dump(broken))
    with pytest.raises(CraftValidationError) as err:
        load_project(tmp_path)
    assert expected in str(err.value)


def test_metadata_series_are_the_charmcraft_platforms():
    metadata = yaml.safe_load((REPO_ROOT / 'metadata.yaml').read_text())
    platforms = yaml.safe_load((REPO_ROOT / 'charmcraft.yaml').read_text())['platforms']
    releases = {'focal': 'ubuntu@20.04', 'jammy': 'ubuntu@22.04', 'noble': 'ubuntu@24.04'}
    assert sorted(releases[s] + ':amd64' for s in metadata['series']) == sorted(
        platform['build-for'][0] for platform in platforms.values())


def test_metadata_license_and_icon_are_what_charm_proof_and_charmhub_want():
    metadata = yaml.safe_load((REPO_ROOT / 'metadata.yaml').read_text())
    assert len(metadata['summary']) < 72
    # no invented address: .invalid (RFC 6761) names no one
    assert all(m.endswith('.invalid>') for m in metadata['maintainers'])
    assert 'repo' not in yaml.safe_load((REPO_ROOT / 'layer.yaml').read_text())
    license_text = (REPO_ROOT / 'LICENSE').read_text()
    assert 'Apache License' in license_text and 'Version 2.0, January 2004' in license_text
    assert 'END OF TERMS AND CONDITIONS' in license_text
    assert 'License: Apache-2.0' in (REPO_ROOT / 'copyright').read_text()
    icon = ET.parse(str(REPO_ROOT / 'icon.svg')).getroot()
    assert icon.tag == '{http://www.w3.org/2000/svg}svg'
    assert icon.get('viewBox') == '0 0 100 100'


# pinned layers ---------------------------------------------------------------------------

def test_the_pins_are_canonical_layer_basic_and_layer_options_at_full_commits():
    pins = {pin.name: pin for pin in build_layers.read_pins()}
    assert sorted(pins) == ['basic', 'options']
    assert pins['basic'].url == 'https://github.com/canonical/layer-basic.git'
    assert pins['options'].url == 'https://github.com/juju-solutions/layer-options.git'
    assert all(len(pin.commit) == 40 for pin in pins.values())


@pytest.mark.parametrize('line', [
    'basic https://example.invalid/layer-basic.git',
    'basic https://example.invalid/layer-basic.git v1.0',
    'basic https://example.invalid/layer-basic.git 7852b11',
])
def test_a_pin_without_a_full_commit_is_refused(tmp_path, line):
    pins = tmp_path / 'pins.txt'
    pins.write_text('# comment\n' + line + '\n')
    with pytest.raises(build_layers.LayersError, match=r'pins.txt:2: expected'):
        build_layers.read_pins(str(pins))


def test_fetch_clones_each_layer_at_its_pinned_commit_and_keeps_a_checkout_already_there(
        tmp_path, layer_repo):
    repo, first, second = layer_repo
    dest = tmp_path / 'layers'
    pins = [build_layers.Pin('basic', 'file://{}'.format(repo), first)]
    build_layers.fetch(str(dest), pins)
    assert build_layers.head_commit(str(dest / 'basic')) == first
    assert (dest / 'basic' / 'layer.yaml').read_text() == 'version: 1\n'
    (dest / 'basic' / 'kept').write_text('x')
    build_layers.fetch(str(dest), pins)
    assert (dest / 'basic' / 'kept').exists()
    # a moved pin replaces the cached checkout
    build_layers.fetch(str(dest), [build_layers.Pin('basic', 'file://{}'.format(repo), second)])
    assert build_layers.head_commit(str(dest / 'basic')) == second
    assert not (dest / 'basic' / 'kept').exists()
    assert sorted(os.listdir(dest)) == ['basic']


def test_fetch_of_a_commit_the_repository_lacks_names_repository_and_commit(tmp_path, layer_repo):
    repo, _first, _second = layer_repo
    missing = 'f' * 40
    with pytest.raises(build_layers.LayersError) as err:
        build_layers.fetch(str(tmp_path / 'layers'),
                           [build_layers.Pin('basic', 'file://{}'.format(repo), missing)])
    assert 'has no commit {}'.format(missing) in str(err.value)
    assert not (tmp_path / 'layers' / 'basic').exists()


def test_deployable_build_offline_without_charm_layers_dir_says_exactly_what_to_do(
        tmp_path, monkeypatch):
    pins = [build_layers.Pin('basic', 'http://127.0.0.1:9/canonical/layer-basic.git', 'a' * 40),
            build_layers.Pin('options', 'http://127.0.0.1:9/layer-options.git', 'b' * 40)]
    monkeypatch.setattr(build_layers, 'read_pins', lambda path=None: pins)
    with pytest.raises(BuildFailed) as err:
        deployable_layers_dir(tmp_path / 'cache', environ={})
    message = str(err.value)
    assert message.startswith('cannot fetch layer:basic: git clone '
                              'http://127.0.0.1:9/canonical/layer-basic.git failed: ')
    for pin in pins:
        assert 'git clone {url} LAYERS/{name} && git -C LAYERS/{name} checkout {commit}'.format(
            **pin._asdict()) in message
    assert 'make charm CHARM_LAYERS_DIR=/absolute/path/to/LAYERS' in message
    assert 'never tests/layers' in message
    assert not (tmp_path / 'cache' / 'basic').exists()


def _layers_at(tmp_path, repo, commits):
    layers = tmp_path / 'given'
    for name, commit in commits.items():
        git('clone', '-q', str(repo), str(layers / name))
        git('checkout', '-q', commit, cwd=layers / name)
    return layers


def test_check_accepts_layers_at_the_pinned_commits_without_a_warning(tmp_path, layer_repo):
    repo, first, _second = layer_repo
    layers = _layers_at(tmp_path, repo, {'basic': first, 'layer-options': first})
    pins = [build_layers.Pin('basic', 'u', first), build_layers.Pin('options', 'u', first)]
    assert build_layers.check(str(layers), pins) == []


def test_check_warns_about_a_layer_at_another_commit_or_not_in_git(tmp_path, layer_repo):
    repo, first, second = layer_repo
    layers = _layers_at(tmp_path, repo, {'basic': second})
    (layers / 'options').mkdir()
    pins = [build_layers.Pin('basic', 'u', first), build_layers.Pin('options', 'u', first)]
    assert build_layers.check(str(layers), pins) == [
        '{} is at commit {}, not at the pinned {} (build-layers.txt): building with it '
        'anyway'.format(layers / 'basic', second, first),
        '{} is not a git checkout: cannot check that it is u at the pinned commit {}'.format(
            layers / 'options', first)]


def _copy_of_stand_in(tmp_path):
    copied = tmp_path / 'copied'
    shutil.copytree(str(STAND_IN), str(copied))
    (copied / 'options').mkdir()
    return copied


@pytest.mark.parametrize('make_dir, expected', [
    (lambda tmp: STAND_IN, 'holds the test-only stand-in for layer:basic'),
    (_copy_of_stand_in, 'holds the test-only stand-in for layer:basic'),
    (lambda tmp: tmp / 'nowhere', 'is not a directory'),
    (lambda tmp: (tmp / 'basic').mkdir() or tmp, 'has no options/ (layer:options)'),
])
def test_check_refuses_the_stand_in_and_incomplete_layer_dirs(tmp_path, make_dir, expected):
    layers = make_dir(tmp_path)
    with pytest.raises(build_layers.LayersError) as err:
        build_layers.check(str(layers))
    assert expected in str(err.value)
    assert 'make charm CHARM_LAYERS_DIR=' in str(err.value)


def test_make_charm_refuses_charm_layers_dir_pointing_at_the_stand_in(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(BUILD_PY), '--deployable', '.', str(out)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True,
                          env=dict(os.environ, CHARM_LAYERS_DIR=str(STAND_IN)))
    assert proc.returncode == 1
    assert 'holds the test-only stand-in for layer:basic' in proc.stderr
    assert not (out / 'duplicity').exists()


def test_harness_builds_on_the_stand_in_unless_real_layers_are_asked_for(tmp_path):
    assert harness_build.harness_layers_dir({}) == STAND_IN
    assert harness_build.harness_layers_dir({'HARNESS_REAL_LAYERS': '0'}) == STAND_IN
    with pytest.raises(BuildFailed, match='HARNESS_REAL_LAYERS=1 needs CHARM_LAYERS_DIR'):
        harness_build.harness_layers_dir({'HARNESS_REAL_LAYERS': '1'})
    with pytest.raises(BuildFailed, match='test-only stand-in'):
        harness_build.harness_layers_dir({'HARNESS_REAL_LAYERS': '1',
                                          'CHARM_LAYERS_DIR': str(STAND_IN)})


def _real_layers():
    layers = os.environ.get('CHARM_LAYERS_DIR')
    if not layers:
        pytest.skip('set CHARM_LAYERS_DIR to a directory with the real layer:basic and '
                    'layer:options (see HACKING.md, "Building") to build on them')
    return layers


def test_deployable_build_on_the_real_layers_exits_0_with_nothing_from_proof(tmp_path):
    layers = _real_layers()
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(BUILD_PY), '--deployable', '.', str(out)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True,
                          env=dict(os.environ, CHARM_LAYERS_DIR=layers,
                                   PATH=os.path.dirname(sys.executable) + ':'
                                   + os.environ.get('PATH', '')))
    # --deployable accepts charm build's exit code 0 only (100: proof warnings)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    charm = out / 'duplicity'
    assert 'TEST_ONLY_STAND_IN' not in (charm / 'lib' / 'charms' / 'layer' / 'basic.py').read_text()
    assert (charm / 'icon.svg').exists() and (charm / 'LICENSE').exists()
    assert 'the duplicity charm contributors' in (charm / 'copyright').read_text()
    assert (charm / 'copyright.layer-basic').exists()
    assert (charm / 'hooks' / 'relations' / 'backup' / 'provides.py').exists()
    assert not (charm / 'tools').exists() and not (charm / 'interfaces').exists()


# the stand-in outside the harness ----------------------------------------------------------

TINY = {
    'metadata.yaml': """
        name: tiny
        summary: A tiny charm on the stand-in
        maintainers: [t <t@t.invalid>]
        description: tiny
        subordinate: false
        """,
    'layer.yaml': "includes: ['layer:basic']\n",
    'reactive/tiny.py': """
        from charms.reactive import when_not, set_flag
        from charmhelpers.core import hookenv

        @when_not('tiny.installed')
        def install():
            hookenv.status_set('active', 'ran')
            set_flag('tiny.installed')
        """,
}


def test_stand_in_build_stops_outside_the_harness_with_a_test_only_message(tmp_path):
    src = tmp_path / 'src'
    for name, text in TINY.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(textwrap.dedent(text).lstrip())
    built = build_charm(src, tmp_path / 'out', layers_dir=STAND_IN)
    unit = tmp_path / 'unit'
    shutil.copytree(str(built), str(unit / 'charm'), symlinks=True)
    # a ../.venv like the harness makes: the stand-in would run in it, and still refuses
    (unit / '.venv' / 'bin').mkdir(parents=True)
    (unit / '.venv' / 'bin' / 'python').symlink_to(sys.executable)
    tools = tmp_path / 'tools'
    tools.mkdir()
    (tools / 'status-set').write_text('#!/bin/sh\necho "$@" >> {}\n'.format(tmp_path / 'status'))
    (tools / 'status-set').chmod(0o755)
    env = {'PATH': '{}:/usr/bin:/bin'.format(tools), 'LANG': 'C.UTF-8',
           'JUJU_CHARM_DIR': str(unit / 'charm'), 'JUJU_UNIT_NAME': 'tiny/0',
           'JUJU_HOOK_NAME': 'install'}
    proc = subprocess.run([str(unit / 'charm' / 'hooks' / 'install')], cwd=str(unit / 'charm'),
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith('test-only build: this charm was built on the test-only '
                                  'stand-in for layer:basic')
    assert '`charmcraft pack` or `make charm`' in proc.stderr
    assert (tmp_path / 'status').read_text() == 'blocked test-only build: see the unit log\n'
    assert not (unit / 'charm' / '.unit-state.db').exists()
