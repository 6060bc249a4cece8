"""Hook-side work of the duplicity charm: packages, files, schedules, status.

Handlers in reactive/duplicity.py call these functions with explicit inputs. File writes
are atomic (``.new`` written with its final mode, compared, renamed) and happen only when
the content changed.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from charmhelpers.core import hookenv, templating
from charmhelpers import fetch

import duplicity_config
import duplicity_cron
import duplicity_helper
import duplicity_process
import duplicity_records
import duplicity_runner
import duplicity_secrets
import duplicity_tuning
from duplicity_paths import UnitPaths
from duplicity_records import RunnerSpec
from duplicity_settings import Settings

BASE_PACKAGES = ["duplicity", "gnupg"]
BACKEND_PACKAGES = {
    "file": [],
    "sftp": ["python3-paramiko"],
    "scp": ["python3-paramiko"],
    "rsync": ["rsync", "openssh-client"],
    "ftp": ["lftp"],
    "ftps": ["lftp", "ca-certificates"],
    "s3": ["python3-boto3"],
    "azure": ["python3-azure-storage"],
}
# What the deprecated upstream charm left on the machine (removed on upgrade-charm).
UPSTREAM_CRON_FILES = ("/etc/cron.d/periodic_backup", "/etc/cron.d/periodic_deletion")
UPSTREAM_FILES = ("/var/run/periodic_backup.error", "/var/run/periodic_deletion.error",
                  "/var/run/periodic_backup.pid", "/var/run/periodic_deletion.pid",
                  "/root/.ssh/duplicity_id_rsa",  # a copy of its private SSH key
                  "/usr/local/lib/nagios/plugins/check_backup_status.py",
                  "/usr/local/lib/nagios/plugins/check_deletion_status.py")
UPSTREAM_NRPE_CHECKS = ("backups", "deletions")
UPSTREAM_LOG_DIR = "/var/log/duplicity"
ROOT_GNUPG_HOME = "/root/.gnupg"  # where upstream's --encrypt-key=<key id> found the key
# The reactive flags upstream's code sets (src/reactive/duplicity.py, its actions, and the
# layers it included: apt, nagios, interface:juju-info). duplicity.installed is ours too.
UPSTREAM_FLAGS = (
    "duplicity.invalid_backend", "duplicity.invalid_aws_creds", "duplicity.invalid_azure_creds",
    "duplicity.invalid_rsync_key", "duplicity.invalid_secure_backend_opts",
    "duplicity.invalid_remote_backup_url", "duplicity.invalid_backup_frequency",
    "duplicity.invalid_retention_period", "duplicity.invalid_deletion_frequency",
    "duplicity.invalid_encryption_method", "duplicity.invalid_private_ssh_key",
    "duplicity.create_backup_cron", "duplicity.remove_backup_cron",
    "duplicity.create_deletion_cron", "duplicity.remove_deletion_cron",
    "duplicity.failed_backup",
    "nrpe-external-master.initial-config", "nrpe-external-master.configured",
)
UPSTREAM_FLAG_PREFIXES = ("duplicity.invalid_", "duplicity.create_", "duplicity.remove_",
                          "nrpe-external-master.", "general-info.", "apt.")
# Every duplicity.* flag this charm sets: any other duplicity.* flag is upstream's.
OWN_FLAG_PREFIXES = ("duplicity.installed", "duplicity.install-failed", "duplicity.valid.",
                     "duplicity.ssh-configured", "duplicity.encryption-ready", "duplicity.ready",
                     "duplicity.stopped")
PROXY_KEYS = (("JUJU_CHARM_HTTP_PROXY", "http_proxy"), ("JUJU_CHARM_HTTPS_PROXY", "https_proxy"),
              ("JUJU_CHARM_NO_PROXY", "no_proxy"))


def unit_paths():
    return UnitPaths.for_unit(hookenv.local_unit())


# ---------------------------------------------------------------- files

def write_atomic(path, content, mode=0o600):
    """Write bytes or str to path atomically with mode; return True if it changed."""
    if isinstance(content, str):
        content = content.encode()
    try:
        with open(path, "rb") as f:
            if f.read() == content and (os.stat(path).st_mode & 0o777) == mode:
                return False
    except OSError:
        pass
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, content)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return True


def remove(path):
    """Remove a file or a directory tree; True if there was one.

    Entries that vanish while the tree is removed (a daemon's socket) are not errors;
    anything else that keeps the tree from going is raised.
    """
    if os.path.isdir(path) and not os.path.islink(path):
        def vanished_ok(function, name, exc_info):
            if not issubclass(exc_info[0], FileNotFoundError):
                raise exc_info[1]
        shutil.rmtree(path, onerror=vanished_ok)
        if os.path.lexists(path):  # something was created in it meanwhile: once more
            shutil.rmtree(path)
        return True
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def ensure_dirs(paths):
    for path, mode in ((os.path.dirname(paths.state_dir), 0o755), (paths.state_dir, 0o700),
                       (paths.secrets_dir, 0o700), (paths.gnupg_home, 0o700),
                       (paths.ssh_home, 0o700),
                       (paths.restore_dir, 0o700),
                       (os.path.dirname(paths.cache_dir), 0o755), (paths.cache_dir, 0o700),
                       (paths.archive_dir, 0o700), (paths.temp_dir, 0o700),
                       (paths.status_dir, 0o755), (paths.log_dir, 0o755)):
        os.makedirs(path, mode=mode, exist_ok=True)
        os.chmod(path, mode)
    write_atomic(os.path.join(paths.gnupg_home, duplicity_process.AGENT_CONF_NAME),
                 duplicity_process.AGENT_CONF)
    dot_ssh = os.path.join(paths.ssh_home, ".ssh")  # ~/.ssh of duplicity_helper.home_dir
    if not os.path.islink(dot_ssh):
        remove(dot_ssh)
        os.symlink(os.path.relpath(paths.ssh_dir, paths.ssh_home), dot_ssh)
    if not os.path.exists(paths.log_file):
        os.close(os.open(paths.log_file, os.O_WRONLY | os.O_CREAT, 0o600))


# ---------------------------------------------------------------- packages

def packages_for(config):
    return BASE_PACKAGES + BACKEND_PACKAGES.get(config.get("backend"), [])


def missing_packages(packages):
    """The packages dpkg does not have installed.

    One ``dpkg-query`` for all of them (charmhelpers' dpkg_list); filter_installed_packages
    runs apt-cache and dpkg-query once per package, ~0.5 s each, in every hook that checks.
    """
    installed = {name.split(":")[0] for name in fetch.apt_cache().dpkg_list(packages)}
    return [package for package in packages if package not in installed]


def install_packages(config):
    """Configure install_sources and install what the backend needs; return problems."""
    try:
        # only validated sources reach charmhelpers: it logs an unknown source whole, and a
        # source line may carry credentials (evaluate reports the problem)
        if (config.get("install_sources") or "").strip() and \
                not duplicity_config.validate_sources_packages(config):
            fetch.configure_sources(update=True)
        missing = missing_packages(packages_for(config))
        if missing:
            hookenv.log("installing {}".format(" ".join(missing)))
            fetch.apt_install(missing, fatal=True)
    except Exception as err:  # apt or add-apt-repository: report, never fail the hook
        hookenv.log("package installation failed: {}".format(_error_detail(err, config)),
                    hookenv.ERROR)
        return ["installing {} failed (check install_sources/install_keys): {}".format(
            " ".join(packages_for(config)), type(err).__name__)]
    return []


def _error_detail(err, config):
    """str(err) capped, or only its type when it quotes install_sources/install_keys (a
    failed add-apt-repository shows its source line, which may carry credentials)."""
    text = str(err)
    words = " ".join(str(config.get(key) or "") for key in ("install_sources", "install_keys"))
    if any(len(word) >= 8 and word in text for word in words.split()):
        return "{} (details omitted: they quote install_sources/install_keys)".format(
            type(err).__name__)
    return duplicity_config.cap_message(text, 500)


def detect_duplicity(known=None):
    """(absolute path, version tuple, cache record) of the duplicity on PATH.

    ``known`` is the record a previous call returned: the version is asked again only when
    the binary changed (path, size or mtime), not in every hook.
    """
    path = shutil.which("duplicity")
    if not path:
        raise ValueError("duplicity is not installed")
    st = os.stat(os.path.realpath(path))
    stamp = [path, st.st_size, st.st_mtime_ns]
    if known and known.get("stamp") == stamp:
        return path, tuple(known["version"]), known
    out = subprocess.run([path, "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120)
    version = duplicity_helper.parse_version(out.stdout.decode(errors="replace"))
    return path, version, {"stamp": stamp, "version": list(version)}


# What detect_duplicity raises when duplicity is missing or cannot run.
DETECT_ERRORS = (ValueError, OSError, subprocess.SubprocessError)


def installed_duplicity():
    """(path, version) of the installed duplicity: detect_duplicity, its record cached in
    unitdata (the version is asked once per binary). Raises DETECT_ERRORS."""
    path, version, record = detect_duplicity(_kv().get(KV_BINARY))
    _kv().set(KV_BINARY, record)
    return path, version


def installed_version():
    """The installed duplicity's version, or None before it is installed or when it cannot
    run (configure reports why)."""
    try:
        return installed_duplicity()[1]
    except DETECT_ERRORS:
        return None


# ---------------------------------------------------------------- secrets

def write_secret_files(settings, secrets, paths):
    """SSH key, known_hosts and CA file; remove those the settings no longer need."""
    ensure_dirs(paths)
    os.makedirs(paths.ssh_dir, mode=0o700, exist_ok=True)
    wanted = {secret.path: secret
              for secret in duplicity_helper.secret_files(settings, secrets, paths)}
    changed = False
    for path in (paths.ssh_key, paths.known_hosts, paths.ca_file):
        if path in wanted:
            changed |= write_atomic(path, wanted[path].content, wanted[path].mode)
        else:
            changed |= remove(path)
    return changed


def key_id(value):
    """The hex key id (without 0x) when value is a bare key id, as upstream accepted; else ''."""
    value = (value or "").strip()
    if duplicity_config.is_key_id(value):
        return value[2:] if value.lower().startswith("0x") else value
    return ""


def export_from_root_keyring(keyid, homedir=None):
    """The armoured public key keyid from root's keyring; raises ValueError when it is not there.

    Upstream passed a key id to --encrypt-key and expected the key in root's keyring.
    """
    homedir = homedir or ROOT_GNUPG_HOME
    needed = ("gpg_public_key holds a key id ({}) that root's keyring ({}) does not hold: an "
              "ASCII-armoured public key is needed (gpg --armor --export KEYID)").format(
                  keyid[:40], homedir)
    if not os.path.isdir(homedir):
        raise ValueError(needed)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": homedir}
    exported = subprocess.run(["gpg", "--homedir", homedir, "--batch", "--no-auto-key-locate",
                               "--armor", "--export-options", "export-clean", "--export",
                               "0x" + keyid], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    if exported.returncode != 0 or b"BEGIN PGP PUBLIC KEY BLOCK" not in exported.stdout:
        raise ValueError(needed)
    return exported.stdout.decode()


def import_public_key(config, paths, root_homedir=None):
    """Import gpg_public_key into the unit's GnuPG home; return its fingerprint.

    A bare key id (upstream's form) is exported from root's keyring first. Raises ValueError
    with a message naming gpg_public_key when gpg cannot use it.
    """
    key = (config.get("gpg_public_key") or "").strip()
    ensure_dirs(paths)
    if not key:
        return ""
    keyid = key_id(key)
    if keyid:
        key = export_from_root_keyring(keyid, root_homedir)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": paths.gnupg_home,
           "GNUPGHOME": paths.gnupg_home}
    show = subprocess.run(["gpg", "--batch", "--with-colons", "--import-options", "show-only",
                           "--import"], input=key.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env)
    fingerprints = [line.split(":")[9] for line in show.stdout.decode().splitlines()
                    if line.startswith("fpr:")]
    if show.returncode != 0 or not fingerprints:
        raise ValueError("gpg_public_key could not be read by gpg: paste the whole output of "
                         "gpg --armor --export KEYID")
    if "sec:" in show.stdout.decode():
        raise ValueError("gpg_public_key holds a private key: give the public key only")
    if keyid and sum(line.startswith("pub:") for line in show.stdout.decode().splitlines()) != 1:
        raise ValueError("gpg_public_key {} matches more than one key in root's keyring: give "
                         "the ASCII-armoured public key".format(keyid[:40]))
    imported = subprocess.run(["gpg", "--batch", "--import"], input=key.encode(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if imported.returncode != 0:
        raise ValueError("gpg_public_key could not be imported by gpg")
    return fingerprints[0]


# ---------------------------------------------------------------- spec for the runner

def proxy_env():
    env = {}
    for juju_key, key in PROXY_KEYS:
        value = os.environ.get(juju_key)
        if value:
            env[key] = value
            env[key.upper()] = value
    return env


def read_runner_spec(spec_file):
    """The RunnerSpec the hooks wrote last, or None (none yet, or unreadable)."""
    try:
        with open(spec_file) as f:
            return RunnerSpec.from_json(f.read())
    except (OSError, ValueError, TypeError):
        return None


def with_auto_compression(settings, spec_file):
    """``settings`` with compression=auto's choice (duplicity_tuning.auto_compression: the
    previous spec's while the selection is the same, else a new sample, logged)."""
    auto, line = duplicity_tuning.auto_compression(
        settings.duplicity.compression, settings.includes, settings.excludes,
        read_runner_spec(spec_file))
    if line:
        hookenv.log(line)
    if not auto:
        return settings
    return dataclasses.replace(settings, duplicity=dataclasses.replace(
        settings.duplicity, compression_auto=auto))


def runner_spec(settings, *, unit, duplicity, version, fingerprint, hooks):
    """The RunnerSpec of these settings: their non-secret duplicity part, explicitly."""
    return RunnerSpec(unit=unit, settings=settings.duplicity, duplicity=duplicity,
                      version=tuple(version), encrypt_key=fingerprint,
                      includes=settings.includes, excludes=settings.excludes,
                      hooks={kind: tuple(scripts) for kind, scripts in hooks.items()},
                      proxy_env=proxy_env(), path_env=os.environ.get("PATH", ""))


def render_runtime(settings, secrets, paths, spec):
    """Write spec.json (no secrets) and the secret environment file, the one writer of
    each; True if either changed."""
    ensure_dirs(paths)
    env = duplicity_helper.env_vars(settings.duplicity, secrets, paths)
    changed = write_atomic(paths.env_file, json.dumps(env, sort_keys=True), 0o600)
    changed |= write_atomic(paths.spec_file, spec.to_json(), 0o600)
    if changed:
        ctx = duplicity_helper.Context(unit=spec.unit, paths=paths, version=spec.version)
        for note in duplicity_helper.notes(settings.duplicity, ctx):
            hookenv.log(note)
    return changed


# ---------------------------------------------------------------- schedules

def _spread(unit):
    return int(hashlib.sha256(unit.encode()).hexdigest(), 16)


def cron_fields(frequency, unit, after=0):
    """5 cron fields for a frequency; named ones are spread deterministically per unit.

    The unit name's SHA-256 picks the minute (hourly), minute and hour (daily), plus the
    weekday (weekly) or day of month 1-28 (monthly). ``after`` (minutes, under an hour)
    moves the time later, carried into the hour (and past midnight for daily): the retention
    run of a unit is placed ``after`` minutes behind the backup's slot. A cron expression
    (parsed when the settings were: duplicity_settings.Schedule) is returned with one space
    between fields.
    """
    h = _spread(unit)
    minute_of_day = ((h // 60) % 24) * 60 + h % 60 + after
    minute, hour = minute_of_day % 60, (minute_of_day // 60) % 24
    if frequency == "hourly":
        return "{} * * * *".format(minute)
    if frequency == "daily":
        return "{} {} * * *".format(minute, hour)
    if frequency == "weekly":
        return "{} {} * * {}".format(minute, hour, (h // 1440) % 7)
    if frequency == "monthly":
        return "{} {} {} * *".format(minute, hour, (h // 10080) % 28 + 1)
    return duplicity_cron.normalise(frequency)


RETENTION_DELAY = 30  # minutes from a unit's backup slot to its retention run


def schedule_entries(schedule, unit):
    """The unit's cron entries: [(when, [operations])], each entry's operations run one
    after the other from one cron line.

    The retention run never starts before the backup it follows:
    - same backup_frequency and deletion_frequency (e.g. both daily): one line runs the
      backup, then the retention run, whatever the backup's outcome;
    - named frequencies that differ (e.g. weekly backups, daily retention): the retention
      run is RETENTION_DELAY minutes after the backup's slot, in its own period (an hourly
      retention at the backup's minute + 30, a daily one at its time of day + 30);
    - a cron expression on either side: the times the operator gave (with a named
      deletion_frequency: the backup's slot + 30 minutes); the runner's lock keeps a
      backup and a retention run apart.
    ``schedule`` is a parsed duplicity_settings.Schedule.
    """
    backup, deletion, retention = schedule.backup, schedule.deletion, schedule.retention
    entries = []
    if backup != "manual":
        backup_when = cron_fields(backup, unit)
        if retention and cron_fields(deletion, unit) == backup_when:
            return [(backup_when, ["backup", "retention"])]
        entries.append((backup_when, ["backup"]))
    if retention:
        after = RETENTION_DELAY if deletion in duplicity_cron.NAMED else 0
        entries.append((cron_fields(deletion, unit, after), ["retention"]))
    return entries


# Debian's cron drops the whole file ("command too long") when a command has more characters
MAX_COMMAND = 998


def schedule_lines(schedule, unit, runner, spec, log):
    """(when, command) of each cron line: the runner called directly with the system python3,
    operations of one entry one after the other. A combined line that cron would find too
    long is split: the retention run then goes RETENTION_DELAY minutes after the backup."""
    def command(operations):
        return "; ".join("/usr/bin/python3 {} --spec {} {} >>{} 2>&1".format(
            runner, spec, operation, log) for operation in operations)
    lines = []
    for when, operations in schedule_entries(schedule, unit):
        if len(operations) > 1 and len(command(operations)) > MAX_COMMAND:
            after = RETENTION_DELAY if schedule.deletion in duplicity_cron.NAMED else 0
            lines += [(when, command(["backup"])),
                      (cron_fields(schedule.deletion, unit, after), command(["retention"]))]
        else:
            lines.append((when, command(operations)))
    return lines


def render_schedule(config, paths, charm_dir):
    """Write the unit's cron file, or remove it when nothing is scheduled or the schedule
    does not validate (a handler may run on a flag set before this hook's config changed:
    nothing cron would refuse is ever written, and rendering never raises)."""
    schedule, problems = duplicity_config.parse_frequencies(config)
    if problems:
        return remove(paths.cron_file)
    runner = os.path.join(charm_dir, "lib", "duplicity_runner.py")
    entries = [{"when": when, "command": command} for when, command in schedule_lines(
        schedule, paths.unit, runner, paths.spec_file, paths.log_file)]
    if not entries:
        return remove(paths.cron_file)
    text = templating.render("duplicity.cron", None, {"unit": paths.unit, "entries": entries},
                             templates_dir=os.path.join(charm_dir, "templates"))
    changed = write_atomic(paths.cron_file, text, 0o644)
    logrotate = templating.render("duplicity.logrotate", None, {"log": paths.log_file},
                                  templates_dir=os.path.join(charm_dir, "templates"))
    changed |= write_atomic(paths.logrotate_file, logrotate, 0o644)
    return changed


def remove_schedule(paths):
    return remove(paths.cron_file)


# ---------------------------------------------------------------- upgrade and removal

def upstream_flags(flags):
    """The flags among ``flags`` that only the upstream charm sets (cleared on upgrade)."""
    return sorted(flag for flag in flags
                  if flag in UPSTREAM_FLAGS or flag.startswith(UPSTREAM_FLAG_PREFIXES) or (
                      flag.startswith("duplicity.") and not flag.startswith(OWN_FLAG_PREFIXES)))


def _upstream_cron(path, unit):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return False
    # its template runs <charm_dir>/scripts/periodic_*.py for the unit through Juju's run tool
    return any(word in text for word in ("periodic_backup.py", "periodic_deletion.py",
                                         "duplicity", unit))


def remove_upstream_leftovers(unit):
    """Remove what the deprecated upstream charm installed: its cron files, error and pid
    files, SSH key copy, NRPE checks and plugins; return the paths and checks removed."""
    removed = [path for path in UPSTREAM_CRON_FILES if _upstream_cron(path, unit) and remove(path)]
    removed += [path for path in UPSTREAM_FILES if remove(path)]
    try:  # its cron log directory, when nothing else was put there
        os.rmdir(UPSTREAM_LOG_DIR)
        removed.append(UPSTREAM_LOG_DIR)
    except OSError:
        pass
    import duplicity_nrpe
    removed += ["NRPE check " + name for name in duplicity_nrpe.remove_checks(
        UPSTREAM_NRPE_CHECKS)]
    return removed


def remove_unit_files(paths):
    """stop/remove: schedules, secrets, caches, state (never the backups).

    The unit's log stays: it is the only record left of which backup sets the unit wrote
    and why runs failed, wanted when its backups are restored elsewhere; it holds no
    secrets, is root-only, and nothing writes to it any more (a unit deployed again under
    the same name appends to it, and its logrotate file comes back).
    """
    for path in (paths.cron_file, paths.logrotate_file, paths.state_dir, paths.cache_dir,
                 paths.status_file):
        remove(path)


# ---------------------------------------------------------------- outcome and status

def read_outcome(paths):
    """The unit's StatusRecord (duplicity_records); empty when missing or unreadable."""
    try:
        return duplicity_records.StatusRecord.read(paths.status_file)
    except (OSError, ValueError):
        return duplicity_records.StatusRecord()


# ---------------------------------------------------------------- handler entry points
# Each takes the config explicitly and records its problems (for assess_status) in unitdata.

# The config groups, one duplicity.valid.<group> flag each: validate_all's groups.
GROUPS = duplicity_config.GROUPS
# The unit's state in unitdata: every key the charm reads or writes there.
KV_RESULTS = "duplicity.validation"            # {group: [problems]} of the last evaluate
KV_RUNTIME = "duplicity.runtime-problems"      # {kind: [problems]} found while acting
KV_LEGACY_URL = "duplicity.legacy-url"         # the last note on an upstream URL form
KV_IMPORTED_KEY = "duplicity.imported-key"     # the gpg_public_key last imported
KV_FINGERPRINT = "duplicity.fingerprint"       # its fingerprint
KV_BINARY = "duplicity.binary"                 # detect_duplicity's cache record

# This hook's parses of the config and the backup relation (a hook is one process).
_PARSED = {}


def _kv():
    from charmhelpers.core import unitdata
    return unitdata.kv()


def parse(config, endpoint):
    """(Settings, problems by group, hooks) of config and the backup relation, parsed once
    per hook whatever the number of handlers that ask."""
    declared, problems, hooks = relation_spec(endpoint)
    version = installed_version()
    key = json.dumps([dict(config), declared, problems, version], sort_keys=True, default=str)
    if key not in _PARSED:
        _PARSED[key] = Settings.parse(config, declared, problems, unit=hookenv.local_unit(),
                                      version=version)
    settings, results = _PARSED[key]
    return settings, results, hooks


def set_runtime_problems(kind, problems):
    current = dict(_kv().get(KV_RUNTIME) or {})
    if problems:
        current[kind] = list(problems)
    else:
        current.pop(kind, None)
    _kv().set(KV_RUNTIME, current)


def install(config):
    ensure_dirs(unit_paths())
    problems = install_packages(config)
    hookenv.log("install: directories in place; packages {}: {}".format(
        " ".join(packages_for(config)), "failed" if problems else "installed"), hookenv.DEBUG)
    set_runtime_problems("install", problems)
    return not problems


UPSTREAM_ARCHIVE_ROOT = "/root/.cache/duplicity"  # duplicity's default --archive-dir for root


def upstream_target_url(config, unit):
    """The URL upstream handed duplicity for this unit: ``<backend>://`` + the configured URL
    without that prefix + ``/<unit slug>``, with ``user[:password]@`` for ssh/ftp backends."""
    backend = (config.get("backend") or "").lower()
    rest = (config.get("remote_backup_url") or "").replace(backend + "://", "")
    if backend in ("rsync", "scp", "ftp", "sftp") and config.get("remote_user"):
        userinfo = config["remote_user"]
        if config.get("remote_password"):
            userinfo += ":" + config["remote_password"]
        rest = userinfo + "@" + rest
    return "{}://{}/{}".format(backend, rest, unit.replace("/", "-"))


def adopt_upstream_archive(config, paths):
    """Move upstream's local duplicity metadata for this unit's target into this unit's archive.

    Upstream ran duplicity with its default archive dir, named by the md5 of the target URL.
    Without that metadata, duplicity would fetch and decrypt the remote manifests before the
    first backup: impossible with public-key encryption (the unit holds no private key).
    Returns True if there was one.
    """
    name = hashlib.md5(upstream_target_url(config, paths.unit).encode()).hexdigest()
    source = os.path.join(UPSTREAM_ARCHIVE_ROOT, name)
    if not os.path.isdir(source) or os.path.islink(source):
        return False
    target = os.path.join(paths.archive_dir, paths.slug)
    os.makedirs(target, mode=0o700, exist_ok=True)
    for entry in os.listdir(source):
        src = os.path.join(source, entry)
        if os.path.isfile(src) and not os.path.islink(src) and not os.path.exists(
                os.path.join(target, entry)):
            with open(src, "rb") as f:
                write_atomic(os.path.join(target, entry), f.read(), 0o600)
    remove(source)
    return True


def upgrade_from_upstream(flags, config):
    """upgrade-charm: the upstream charm's flags to clear; its files removed, first backup full.

    A unit switched from the upstream charm is recognised by its flags, its leftovers, or by
    the absence of this charm's validation record (written in every hook since install).
    """
    stale = upstream_flags(flags)
    removed = remove_upstream_leftovers(hookenv.local_unit())
    if stale or removed or _kv().get(KV_RESULTS) is None:
        paths = unit_paths()
        ensure_dirs(paths)
        write_atomic(os.path.join(paths.state_dir, "force-full"), "upstream charm replaced\n")
        if adopt_upstream_archive(config, paths):
            removed.append("its duplicity archive (moved into this unit's)")
        hookenv.log("upgrade from the upstream duplicity charm: cleared its flags ({}), removed "
                    "{}; the next backup is full".format(", ".join(stale) or "none",
                                                         ", ".join(removed) or "nothing"))
    return stale


# backup-integrator (canonical/backup-operators) writes the scripts it names to
# /opt/backup-integrator-charm/<unit>/scripts/<config option>, and only on its leader's machine.
INTEGRATOR_SCRIPT = re.compile(r"^/opt/backup-integrator-charm/[a-z][a-z0-9-]*-[0-9]+/scripts/"
                               r"(run-[a-z-]+)$")


def integrator_script(path, hook_unit):
    """A backup-integrator script path mapped to its unit on this machine (else unchanged)."""
    match = INTEGRATOR_SCRIPT.match(path)
    if not match or not hook_unit:
        return path
    return "/opt/backup-integrator-charm/{}/scripts/{}".format(hook_unit.replace("/", "-"),
                                                              match.group(1))


def _executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def relation_spec(endpoint):
    """(paths, problems, hooks) declared over the backup relation.

    hooks maps each run-* kind to the script paths on this machine. A script that is missing
    or not executable here is a problem now (the unit blocks), and fails the operation at run
    time too. A requirer whose backup-integrator scripts are not on this machine (it writes
    them on its leader's machine only) is left out instead: the other requirers' paths are
    still backed up, and the status names the cause (a runtime problem).
    """
    if endpoint is None:
        set_runtime_problems("backup-integrator", [])
        return [], [], {}
    merge = sys.modules[type(endpoint).__module__].merge_specs
    kept, left_out, units = [], [], {}
    for entry in endpoint.requirer_data():
        one = merge([entry])
        if not one.sources:
            continue
        label = one.sources[0]
        units[label] = entry.unit
        missing = [hook.path for entries in one.hooks.values() for hook in entries
                   if INTEGRATOR_SCRIPT.match(hook.path)
                   and not _executable(integrator_script(hook.path, entry.unit))]
        if missing:
            left_out.append("{}: backup-integrator writes its scripts on its leader's machine "
                            "only, and {} is not on this machine: its fileset is not backed up "
                            "here".format(label, integrator_script(missing[0], entry.unit)))
        else:
            kept.append(entry)
    set_runtime_problems("backup-integrator", left_out)
    spec = merge(kept)
    problems = list(spec.problems)
    hooks = {}
    for kind, entries in sorted(spec.hooks.items()):
        hooks[kind] = [integrator_script(hook.path, units.get(hook.source)) for hook in entries]
        for hook, path in zip(entries, hooks[kind]):
            if not _executable(path):
                problems.append("{}: {} script {} is not an executable file on this "
                                "machine".format(hook.source, kind,
                                                 duplicity_config.shown(path, 120)))
    return list(spec.paths), problems, hooks


def log_relation_mappings(endpoint):
    for mapping in endpoint.spec().mappings:
        hookenv.log("{}: {} {} maps to {} on this machine".format(
            mapping.source, mapping.key, mapping.declared, mapping.path))


def log_legacy_url(config):
    """Log once (each time it changes) how an upstream remote_backup_url form is read."""
    _, note = duplicity_helper.translate_legacy_url(config.get("backend") or "",
                                                   config.get("remote_backup_url") or "")
    if note != (_kv().get(KV_LEGACY_URL) or ""):
        _kv().set(KV_LEGACY_URL, note)
        if note:
            hookenv.log("remote_backup_url: {}".format(note))


def evaluate(config, endpoint):
    log_legacy_url(config)
    _, results, _ = parse(config, endpoint)
    _kv().set(KV_RESULTS, results)
    return results


def write_ssh_material(config, endpoint=None):
    """Write the secret files the backend needs; True when SSH material is in place.

    Validation dry-runs the same builders, so this does not fail on config; should it,
    the unit blocks with the message (naming the key) instead of the hook failing.
    """
    settings, results, _ = parse(config, endpoint)
    if results["backend"] or results["ssh"]:  # a flag set before this hook's config changed
        return False
    try:
        write_secret_files(settings, duplicity_secrets.Secrets.from_config(config), unit_paths())
    except ValueError as err:
        set_runtime_problems("secret-files", [str(err)])
        return False
    set_runtime_problems("secret-files", [])
    return settings.uses_ssh


def remove_ssh_material():
    paths = unit_paths()
    set_runtime_problems("secret-files", [])
    for path in (paths.ssh_dir, paths.ca_file):
        remove(path)


def prepare_encryption(config):
    """Import gpg_public_key when it changed; True when encryption is usable."""
    paths = unit_paths()
    key = (config.get("gpg_public_key") or "").strip()
    if key and _kv().get(KV_IMPORTED_KEY) == key and os.path.exists(
            os.path.join(paths.gnupg_home, "pubring.kbx")):
        return True
    try:
        fingerprint = import_public_key(config, paths)
    except ValueError as err:
        set_runtime_problems("encryption", [str(err)])
        return False
    set_runtime_problems("encryption", [])
    _kv().set(KV_FINGERPRINT, fingerprint)
    _kv().set(KV_IMPORTED_KEY, key)
    if fingerprint:
        hookenv.log("gpg_public_key imported: backups are encrypted to {}".format(fingerprint))
    return True


def configure(config, endpoint):
    paths = unit_paths()
    settings, results, hooks = parse(config, endpoint)
    if any(results.values()):  # a flag set before this hook's config changed
        return False
    try:
        duplicity, version = installed_duplicity()
    except DETECT_ERRORS as err:
        set_runtime_problems("duplicity", ["cannot run duplicity: {}".format(err)])
        return False
    set_runtime_problems("duplicity", [])
    settings = with_auto_compression(settings, paths.spec_file)
    spec = runner_spec(settings, unit=paths.unit, duplicity=duplicity, version=version,
                       fingerprint=_kv().get(KV_FINGERPRINT) or "", hooks=hooks)
    if render_runtime(settings, duplicity_secrets.Secrets.from_config(config), paths, spec):
        hookenv.log("runner spec updated: duplicity {} at {}, {} paths".format(
            ".".join(map(str, version)), duplicity, len(settings.includes)))
    return True


def unconfigure():
    paths = unit_paths()
    remove_schedule(paths)
    remove(paths.spec_file)
    remove(paths.env_file)


def render_schedule_for(config):
    paths = unit_paths()
    if render_schedule(config, paths, hookenv.charm_dir()):
        hookenv.log("schedule updated: {}".format(paths.cron_file))


def assess_status():
    """The one place the unit's status is set, once per hook, at its end."""
    paths = unit_paths()
    runtime_by_kind = dict(_kv().get(KV_RUNTIME) or {})
    # the credentials' source first: the other groups' problems may follow from it
    results = dict([("credentials", runtime_by_kind.pop("credentials", []))] +
                   list((_kv().get(KV_RESULTS) or {}).items()))
    runtime = [p for ps in runtime_by_kind.values() for p in ps]
    outcome = read_outcome(paths)
    try:
        state, message = duplicity_config.status_message(
            results, runtime, outcome.backup, outcome.last_success,
            config=hookenv.config(), retention=outcome.retention)
        if state == "active" and _kv().get("duplicity.credentials-shown"):
            message += "; " + _kv().get("duplicity.credentials-shown")
    except Exception as err:  # a bug must not fail every hook: block and say where to look
        hookenv.log("deriving the status failed: {}".format(type(err).__name__), hookenv.ERROR)
        state, message = "blocked", "the status could not be derived (internal error, see " \
                                    "juju debug-log)"
    hookenv.status_set(state, duplicity_config.cap_message(message))


def publish_outcome(endpoint):
    backup = read_outcome(unit_paths()).backup
    if backup and endpoint is not None:
        endpoint.publish_status(backup.finished, "ok" if backup.status == "ok" else "failed",
                                backup.type)


def update_nrpe_checks(config):
    """NRPE checks while related to nrpe-external-master; removed otherwise."""
    import duplicity_nrpe
    duplicity_nrpe.update(config, unit_paths())


def stop():
    paths = unit_paths()
    duplicity_runner.stop_gpg_agent(paths.gnupg_home)
    remove_unit_files(paths)
    try:
        import duplicity_nrpe
        duplicity_nrpe.remove(paths)
    except ImportError:
        pass
