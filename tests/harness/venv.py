"""The unit virtualenv (``<unit dir>/.venv``) that hooks run under.

One template venv is built per distinct wheelhouse (and cached on disk under
the cache directory across sessions, keyed by a digest of the requirements
and the wheelhouse content); each unit gets a copy. Copying is cheap
(hard links, ~0.1 s); the first build costs a pip install (offline from
tests/.wheels after `make wheels`: see wheels.py).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import wheels

BASE_REQUIREMENTS = ['charmhelpers', 'charms.reactive', 'croniter', 'Jinja2',
                     'PyYAML']

# charmhelpers.osplatform refuses to import on Debian; tell it this is Ubuntu.
# Note the capital U: get_platform() tests '"Ubuntu" in ...'.
DEBIAN_SHIM = (
    "import platform; "
    "platform.linux_distribution = getattr(platform, 'linux_distribution', "
    "lambda *a, **k: ('Ubuntu', '22.04', 'jammy'))\n")
# charmhelpers' lsb_release() (init_is_systemd, so every service() call, e.g. the NRPE
# restart) reads /etc/lsb-release, which Debian lacks: answer what the shim above says.
_LSB_SHIM = """
import importlib.util, os, sys
class _LsbShim:
    name = 'charmhelpers.core.host_factory.ubuntu'
    def find_spec(self, name, path=None, target=None):
        if name != self.name or os.path.exists('/etc/lsb-release'):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            module.lsb_release = lambda: {'DISTRIB_ID': 'Ubuntu', 'DISTRIB_RELEASE': '22.04',
                                          'DISTRIB_CODENAME': 'jammy',
                                          'DISTRIB_DESCRIPTION': 'Ubuntu 22.04'}
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, _LsbShim())
"""
DEBIAN_SHIM += "import sys; exec({!r}, {{}})\n".format(_LSB_SHIM)  # .pth: a line starting with import

DEFAULT_CACHE = Path(__file__).resolve().parents[1] / '.venvs'


def base_python():
    """The interpreter the venvs are made from: $HARNESS_BASE_PYTHON, else
    the system python3 (what Juju machines run hooks with)."""
    return os.environ.get('HARNESS_BASE_PYTHON') or (
        '/usr/bin/python3' if os.path.exists('/usr/bin/python3')
        else sys.executable)


def _wheelhouse_files(charm_dir):
    wheelhouse = Path(charm_dir) / 'wheelhouse' if charm_dir else None
    if not wheelhouse or not wheelhouse.is_dir():
        return []
    return sorted(p for p in wheelhouse.iterdir()
                  if p.is_file() and not p.name.startswith('.'))


def _digest(python, files, extra):
    digest = hashlib.sha256()
    digest.update(os.path.realpath(python).encode())
    digest.update(repr(BASE_REQUIREMENTS + list(extra)).encode())
    digest.update(DEBIAN_SHIM.encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _site_packages(venv):
    out = subprocess.check_output(
        [str(venv / 'bin' / 'python'), '-c',
         'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        universal_newlines=True)
    return Path(out.strip())


def template_venv(charm_dir=None, cache_dir=None, extra_requirements=(),
                  pip_args=()):
    """Return a ready template venv for ``charm_dir`` (built if missing)."""
    python = base_python()
    files = _wheelhouse_files(charm_dir)
    cache_dir = Path(cache_dir or os.environ.get('HARNESS_VENV_CACHE')
                     or DEFAULT_CACHE)
    venv = cache_dir / f'template-{_digest(python, files, extra_requirements)}'
    if (venv / '.complete').exists():
        return venv
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time per template: test processes started together (pytest-xdist
    # workers) wait for the first one's build instead of each running pip.
    with open(str(venv) + '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / '.complete').exists():
            return venv
        return _build_template(venv, python, files, extra_requirements, pip_args)


def _build_template(venv, python, files, extra_requirements, pip_args):
    if venv.exists():
        shutil.rmtree(venv)
    tmp = venv.with_name(venv.name + f'.tmp{os.getpid()}')
    if tmp.exists():
        shutil.rmtree(tmp)
    subprocess.run([python, '-m', 'venv', str(tmp)], check=True)
    pip = [str(tmp / 'bin' / 'python'), '-m', 'pip', 'install', '--quiet',
           '--disable-pip-version-check'] + list(pip_args)
    # Offline from the local wheel directory when it has every requirement (make wheels);
    # the charm's wheelhouse files are local anyway.
    env = dict(os.environ, **wheels.pip_env(BASE_REQUIREMENTS + list(extra_requirements)))
    subprocess.run(pip + BASE_REQUIREMENTS + list(extra_requirements),
                   env=env, check=True)
    if files:
        wheelhouse = files[0].parent
        subprocess.run(pip + ['--find-links', str(wheelhouse)]
                       + [str(f) for f in files], env=env, check=True)
    (_site_packages(tmp) / 'harness_debian_shim.pth').write_text(DEBIAN_SHIM)
    # Byte-compile once here, or every unit's first hook pays for it.
    subprocess.run([str(tmp / 'bin' / 'python'), '-m', 'compileall', '-q',
                    '-j', '0', str(_site_packages(tmp))],
                   stdout=subprocess.DEVNULL, check=False)
    (tmp / '.complete').write_text('ok\n')
    # The template is only used through copies; rename it into place so a
    # concurrent session never sees a half-built one.
    try:
        os.rename(tmp, venv)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (venv / '.complete').exists():
            raise
    return venv


def debian_shim_path(unit_dir, charm_dir):
    """A PYTHONPATH entry with the Debian shim as ``sitecustomize``, for a charm built on
    the real layer:basic on a machine without /etc/lsb-release; else None.

    The real layer:basic deletes and recreates ``../.venv`` on upgrade-charm, without the
    shim's .pth file: charmhelpers then refuses to import on Debian. Ubuntu needs none.
    """
    basic_py = Path(charm_dir) / 'lib' / 'charms' / 'layer' / 'basic.py'
    if os.path.exists('/etc/lsb-release') or not basic_py.exists() or \
            'TEST_ONLY_STAND_IN' in basic_py.read_text():
        return None
    shim_dir = Path(unit_dir) / 'debian-shim'
    shim_dir.mkdir(exist_ok=True)
    (shim_dir / 'sitecustomize.py').write_text(DEBIAN_SHIM)
    return str(shim_dir)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_venv(template, dest, hardlink=True):
    """Copy a template venv to ``dest`` (symlinks kept, so bin/python keeps
    pointing at the base interpreter; pyvenv.cfg is location independent).

    Files are hard-linked by default (~0.1 s instead of ~1 s): Python and pip
    replace files rather than writing into them, so the template stays
    intact. Pass hardlink=False for a test that edits venv files in place.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(str(template), str(dest), symlinks=True,
                    copy_function=_link_or_copy if hardlink
                    else shutil.copy2)
    (dest / '.complete').unlink()
    _retarget_scripts(dest)
    return dest


def _retarget_scripts(venv):
    """Point the copied venv's console scripts (bin/pip, ...) at its own bin/python.

    pip wrote them with the template's build path in their ``#!`` line: run from a unit's
    copy they would run (and pip would install into) another venv, or fail once that path
    is gone. The real layer:basic runs ../.venv/bin/pip in its bootstrap. A script is
    replaced, never written in place: it may be a hard link into the template.
    """
    bin_dir = Path(venv) / 'bin'
    shebang = '#!{}\n'.format(bin_dir / 'python').encode()
    for script in bin_dir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with open(script, 'rb') as fp:
            first = fp.readline()
            if not first.startswith(b'#!') or first == shebang or \
                    not first.rstrip().endswith((b'/bin/python', b'/bin/python3')):
                continue
            rest = fp.read()
        tmp = script.with_name(script.name + '.retarget')
        tmp.write_bytes(shebang + rest)
        tmp.chmod(script.stat().st_mode & 0o7777)
        os.replace(tmp, script)
