"""Bootstrap and config flags for the test-only layer:basic stand-in.

Unlike the real layer this module never runs pip: the test harness prepares
``../.venv`` (relative to the charm directory) before any hook runs, and
``bootstrap_charm_deps()`` only re-executes the hook under that interpreter.
Outside the harness (no ``CHARM_TEST_HARNESS=1`` in the environment) every hook
and action stops at once with a message saying this is a test-only build.
"""
import os
import subprocess
import sys

# tools/build_layers.py refuses a layers directory whose basic.py defines this name.
TEST_ONLY_STAND_IN = True
HARNESS_ENV = 'CHARM_TEST_HARNESS'
TEST_ONLY_MESSAGE = (
    'test-only build: this charm was built on the test-only stand-in for layer:basic '
    '(tests/layers/basic) and runs only under the project\'s test harness. '
    'Build the charm to deploy with `charmcraft pack` or `make charm` (see README.md).')


def refuse_outside_harness():
    """Stop the hook or action unless the test harness runs it."""
    if os.environ.get(HARNESS_ENV) == '1':
        return
    try:  # tell the operator in `juju status` too, when this is a real hook
        subprocess.run(['status-set', 'blocked', 'test-only build: see the unit log'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        pass
    sys.exit(TEST_ONLY_MESSAGE)


def _charm_dir():
    return os.environ.get('JUJU_CHARM_DIR') or os.environ.get('CHARM_DIR') \
        or os.getcwd()


def _venv_dir():
    return os.path.abspath(os.path.join(_charm_dir(), '..', '.venv'))


def _basic_option(name, default):
    """A basic option; the default when PyYAML is not importable yet."""
    try:
        from charms.layer import options
        value = options.get('basic', name)
    except ImportError:
        return default
    return default if value is None else value


def _in_venv(venv):
    return os.path.realpath(sys.prefix) == os.path.realpath(venv)


def reload_interpreter(python):
    """Replace this process by ``python`` running the same script."""
    os.execve(python, [python] + list(sys.argv), os.environ)


def activate_venv():
    """Re-run the current hook or action under ``../.venv/bin/python``.

    For actions::

        import sys
        sys.path.append('lib')
        from charms.layer.basic import activate_venv
        activate_venv()
    """
    refuse_outside_harness()
    venv = _venv_dir()
    if _basic_option('use_venv', True) and not _in_venv(venv):
        python = os.path.join(venv, 'bin', 'python')
        if not os.path.exists(python):
            raise RuntimeError(
                f'{python} does not exist: the layer:basic stand-in does not create '
                'virtualenvs, the test harness must prepare it')
        os.environ['PATH'] = os.pathsep.join(
            [os.path.join(venv, 'bin'), os.environ.get('PATH', '')])
        os.environ['VIRTUAL_ENV'] = venv
        reload_interpreter(python)
    from charms import layer
    layer.patch_options_interface()
    layer.import_layer_libs()


def _missing_packages(packages):
    missing = []
    for package in packages:
        proc = subprocess.run(
            ['dpkg-query', '-W', '-f=${Status}', package],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, check=False)
        if proc.returncode != 0 or 'ok installed' not in proc.stdout:
            missing.append(package)
    return missing


def apt_install(packages):
    """Install apt packages non-interactively."""
    if isinstance(packages, (str, bytes)):
        packages = [packages]
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.check_call(
        ['apt-get', '--option=Dpkg::Options::=--force-confold',
         '--assume-yes', 'install'] + list(packages), env=env)


def bootstrap_charm_deps():
    """Make the charm's dependencies importable for the rest of the hook."""
    charm_bin = os.path.join(_charm_dir(), 'bin')
    if charm_bin not in os.environ.get('PATH', '').split(os.pathsep):
        os.environ['PATH'] = os.pathsep.join(
            [os.environ.get('PATH', ''), charm_bin])
    activate_venv()  # re-execs under the venv; returns once inside it
    packages = _basic_option('packages', []) or []
    missing = _missing_packages(packages)
    if missing:
        apt_install(missing)


def init_config_states():
    """Set config.changed[.<key>], toggle config.set.<key>/config.default.<key>."""
    import yaml
    from charmhelpers.core import hookenv
    from charms.reactive import set_flag, toggle_flag
    config = hookenv.config()
    definitions = {}
    config_yaml = os.path.join(hookenv.charm_dir(), 'config.yaml')
    if os.path.exists(config_yaml):
        with open(config_yaml) as fp:
            definitions = (yaml.safe_load(fp) or {}).get('options') or {}
    for key, definition in definitions.items():
        default = (definition or {}).get('default')
        if config.changed(key):
            set_flag('config.changed')
            set_flag(f'config.changed.{key}')
        toggle_flag(f'config.set.{key}', config.get(key))
        toggle_flag(f'config.default.{key}',
                    config.get(key) == default)


def clear_config_states():
    """Clear the per-hook config flags and flush unitdata."""
    from charmhelpers.core import hookenv, unitdata
    from charms.reactive import clear_flag
    config = hookenv.config()
    clear_flag('config.changed')
    for key in config:
        clear_flag(f'config.changed.{key}')
        clear_flag(f'config.set.{key}')
        clear_flag(f'config.default.{key}')
    unitdata.kv().flush()
