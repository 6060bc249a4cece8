"""Pure validation of the charm's configuration, one function per config group.

Every function takes the config dict (and what else it needs, explicitly) and returns a
list of problems: human-readable messages that name the key, say what is wrong and how
to fix it. An empty list means the group is valid. Nothing here does I/O.
"""

import base64
import binascii
import re
from collections import OrderedDict

import duplicity_helper

SSH_BACKENDS = ("sftp", "scp", "rsync")
NAMED_FREQUENCIES = ("hourly", "daily", "weekly", "monthly")
# Config keys whose values are secrets: never logged, never in status or spec files.
SECRET_KEYS = (
    "remote_password",
    "private_ssh_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "azure_connection_string",
    "encryption_passphrase",
)

_RETENTION = re.compile(r"^(\d+)([hdwmy])$")
_MAX_AGE = re.compile(r"^(\d+)([mhdw])$")
_DUP_INTERVAL = re.compile(r"^(\d+[smhDWMY])+$")
_KEY_ID = re.compile(r"^(0x)?[0-9A-Fa-f]{8,40}$")
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def split_list(value):
    """Comma- or whitespace-separated items, empty items dropped."""
    return [item for item in re.split(r"[,\s]+", value or "") if item]


def ssh_needed(config):
    """True when the backend reaches its server over SSH (rsync daemon URLs do not)."""
    backend = config.get("backend", "")
    if backend in ("sftp", "scp"):
        return True
    return backend == "rsync" and "::" not in (config.get("remote_backup_url") or "")


def validate_backend(config):
    problems = []
    backend = config.get("backend", "")
    url = config.get("remote_backup_url", "")
    if not backend:
        return ["backend is not set: choose one of {} (juju config <app> backend=...)".format(
            ", ".join(duplicity_helper.BACKENDS))]
    if backend not in duplicity_helper.BACKENDS:
        return ["backend {!r} is not supported: use one of {}".format(
            backend, ", ".join(duplicity_helper.BACKENDS))]
    if not url:
        problems.append("remote_backup_url is not set: the {} backend needs a destination".format(
            backend))
    else:
        try:
            duplicity_helper.parse_remote(backend, url)
        except ValueError as err:
            problems.append(str(err))
    if backend in ("ftp", "ftps"):
        for key in ("remote_user", "remote_password"):
            if not config.get(key):
                problems.append("{} is not set: the {} backend needs it".format(key, backend))
    if backend in ("sftp", "scp") and not config.get("remote_user"):
        problems.append("remote_user is not set: the {} backend needs it".format(backend))
    if backend == "s3":
        for key in ("aws_access_key_id", "aws_secret_access_key"):
            if not config.get(key):
                problems.append("{} is not set: the s3 backend needs it".format(key))
    if backend == "azure" and not config.get("azure_connection_string"):
        problems.append("azure_connection_string is not set: the azure backend needs it")
    endpoint = config.get("s3_endpoint_url", "")
    if endpoint and not re.match(r"^https?://[^/\s]+(/\S*)?$", endpoint):
        problems.append("s3_endpoint_url {!r} is not an http(s) URL, e.g. "
                        "https://rgw.example.com".format(endpoint))
    ca = config.get("ca_certificate", "")
    if ca and not _PEM_CERT.search(ca):
        problems.append("ca_certificate is not a PEM certificate "
                        "(-----BEGIN CERTIFICATE----- ...)")
    for key in ("volsize", "concurrency"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append("{} must be a whole number of at least 1, not {!r}".format(key, value))
    return problems


def validate_ssh(config):
    """SSH material, needed for sftp, scp and rsync over SSH only."""
    if not ssh_needed(config):
        return []
    problems = []
    backend = config["backend"]
    key = config.get("private_ssh_key", "")
    if key:
        problems.extend(_private_key_problems(key))
    elif backend == "rsync":
        problems.append("private_ssh_key is not set: rsync over SSH needs key authentication "
                        "(base64 of the private key)")
    elif not config.get("remote_password"):
        problems.append("private_ssh_key or remote_password must be set for the {} backend".format(
            backend))
    hosts = [line for line in (config.get("known_host_key") or "").splitlines() if line.strip()]
    if not hosts:
        problems.append("known_host_key is not set: the {} backend verifies the server's host key; "
                        "give the output of ssh-keyscan -p PORT HOST".format(backend))
    for line in hosts:
        if line.strip().startswith("#"):
            continue
        try:  # the same check as the writer of known_hosts (a bare key gets the host added)
            duplicity_helper.known_hosts_lines(line, "host", 22)
        except ValueError:
            problems.append("known_host_key has a line that is not a known_hosts entry "
                            "(host keytype base64-key): {!r}".format(line.strip()[:60]))
    return problems


def _private_key_problems(value):
    try:
        text = base64.b64decode("".join(value.split()), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ["private_ssh_key is not valid base64 (use: base64 -w0 KEYFILE)"]
    m = re.search(r"-----BEGIN (OPENSSH|RSA|EC|DSA)? ?PRIVATE KEY-----", text)
    if not m or "-----END " not in text[m.end():]:
        return ["private_ssh_key does not decode to a private key in OpenSSH or PEM format"]
    return []


def validate_encryption(config):
    passphrase = config.get("encryption_passphrase", "")
    public_key = (config.get("gpg_public_key") or "").strip()
    disabled = bool(config.get("disable_encryption"))
    if disabled and (passphrase or public_key):
        return ["disable_encryption=true conflicts with encryption_passphrase/gpg_public_key: "
                "unset one of them"]
    if disabled:
        return []
    if public_key:
        if _KEY_ID.match(public_key):
            return ["gpg_public_key holds a key id ({}); an ASCII-armoured public key is needed "
                    "(gpg --armor --export KEYID)".format(public_key)]
        if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in public_key:
            return ["gpg_public_key is not an ASCII-armoured public key "
                    "(-----BEGIN PGP PUBLIC KEY BLOCK-----)"]
        return []
    if not passphrase:
        return ["no encryption configured: set encryption_passphrase or gpg_public_key, "
                "or disable_encryption=true"]
    return []


def validate_cron(key, value, named):
    """Problems of one schedule value: a named frequency, 'manual' or a 5-field cron line."""
    if value in named:
        return []
    fields = (value or "").split()
    if len(fields) != 5:
        return ["{} {!r} is not one of {} or a 5-field cron expression".format(
            key, value, ", ".join(named))]
    from croniter import croniter  # imported here: the runner never validates schedules
    if not croniter.is_valid(value):
        return ["{} {!r} is not a valid cron expression".format(key, value)]
    return []


def validate_schedule(config):
    problems = []
    problems += validate_cron("backup_frequency", config.get("backup_frequency", ""),
                              ("manual",) + NAMED_FREQUENCIES)
    problems += validate_cron("deletion_frequency", config.get("deletion_frequency", ""),
                              ("hourly", "daily"))
    retention = config.get("retention_period", "")
    if retention != "manual" and not _RETENTION.match(retention or ""):
        problems.append("retention_period {!r} must be manual or a number and unit, e.g. 30d, "
                        "12h, 8w, 6m, 1y".format(retention))
    elif retention != "manual" and int(_RETENTION.match(retention).group(1)) < 1:
        problems.append("retention_period must be at least 1 {}".format(retention[-1]))
    full = config.get("full_if_older_than", "")
    if full != "always" and not _DUP_INTERVAL.match(full or ""):
        problems.append("full_if_older_than {!r} must be always or a duplicity interval such as "
                        "7D, 2W, 1M".format(full))
    max_age = config.get("backup_max_age", "")
    if max_age and (not _MAX_AGE.match(max_age) or not int(max_age[:-1])):
        problems.append("backup_max_age {!r} must be empty or a number and unit, e.g. 26h, 8d, "
                        "90m".format(max_age))
    return problems


def validate_sources(config, relation_paths=(), relation_problems=()):
    """What to back up: relation filesets + aux_backup_directory, minus exclude_paths."""
    problems = list(relation_problems)
    for path in split_list(config.get("aux_backup_directory", "")):
        if not path.startswith("/"):
            problems.append("aux_backup_directory has {!r}, which is not an absolute path".format(
                path))
        elif "\n" in path or ".." in path.split("/"):
            problems.append("aux_backup_directory has {!r}: use a plain absolute path".format(path))
    if not problems and not backup_paths(config, relation_paths):
        problems.append("nothing to back up: relate a principal over the backup relation or set "
                        "aux_backup_directory")
    return problems


def validate_sources_packages(config):
    """install_sources / install_keys, charmhelpers style YAML lists."""
    import yaml  # only hooks validate sources

    problems = []
    parsed = {}
    for key in ("install_sources", "install_keys"):
        text = config.get(key) or ""
        try:
            value = yaml.safe_load(text) if text.strip() else []
        except yaml.YAMLError:
            problems.append("{} is not valid YAML (a list, e.g. [ppa:owner/name])".format(key))
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, type(None))) for v in value):
            problems.append("{} must be a YAML list of strings".format(key))
            continue
        parsed[key] = value
    sources, keys = parsed.get("install_sources"), parsed.get("install_keys")
    if sources is not None and keys and len(keys) != len(sources):
        problems.append("install_keys must have one entry per install_sources entry "
                        "({} sources, {} keys)".format(len(sources), len(keys)))
    return problems


def backup_paths(config, relation_paths=()):
    """The sorted, deduplicated absolute paths to back up."""
    paths = set(relation_paths)
    paths.update(p for p in split_list(config.get("aux_backup_directory", ""))
                 if p.startswith("/"))
    return sorted({p.rstrip("/") or "/" for p in paths})


def validate_all(config, relation_paths=(), relation_problems=()):
    """Every group, in the order their problems are reported."""
    return OrderedDict([
        ("backend", validate_backend(config)),
        ("ssh", validate_ssh(config)),
        ("encryption", validate_encryption(config)),
        ("schedule", validate_schedule(config)),
        ("sources", validate_sources(config, relation_paths, relation_problems)),
        ("packages", validate_sources_packages(config)),
    ])


_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DERIVED_MAX_AGE = {"hourly": 3 * 3600, "daily": 26 * 3600, "weekly": 8 * 86400,
                    "monthly": 32 * 86400}


def max_age_seconds(config):
    """How old the last successful backup may be before monitoring warns; None: no limit.

    backup_max_age when set; otherwise derived from backup_frequency: a period plus slack
    (hourly 3h, daily 26h, weekly 8d, monthly 32d, a cron expression: twice its longest gap
    in the next few runs), none for manual.
    """
    value = config.get("backup_max_age") or ""
    m = _MAX_AGE.match(value)
    if m:
        return int(m.group(1)) * _SECONDS[m.group(2)]
    frequency = config.get("backup_frequency", "manual")
    if frequency in _DERIVED_MAX_AGE:
        return _DERIVED_MAX_AGE[frequency]
    if frequency == "manual" or validate_cron("backup_frequency", frequency, ()):
        return None
    import datetime
    from croniter import croniter
    it = croniter(frequency, datetime.datetime(2026, 1, 1))
    times = [it.get_next(float) for _ in range(8)]
    gap = max(b - a for a, b in zip(times, times[1:]))
    return int(2 * gap)


def _age(stamp, now):
    import datetime
    try:
        then = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None
    return (now - then).total_seconds()


def status_message(results, runtime_problems=(), last_backup=None, last_success=None,
                   config=None, retention=None, now=None):
    """(workload status, message) from validation results and recorded outcomes.

    The single place the unit's status is derived from: blocked on any config or runtime
    problem, blocked when the last backup failed (an operator must look), active otherwise,
    with a warning when the last backup was partial (files duplicity could not read) or the
    last success is older than the allowed age.
    """
    import datetime
    problems = [p for group in results.values() for p in group] + list(runtime_problems)
    if problems:
        return "blocked", "; ".join(problems)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if last_backup and last_backup.get("status") not in ("ok", "partial"):
        return "blocked", "last backup failed at {}: {}".format(
            last_backup.get("time", "?"), last_backup.get("error") or "see the log")[:400]
    notes = []
    if retention and retention.get("status") == "failed":
        notes.append("retention run failed at {}: {}".format(retention.get("time"),
                                                             retention.get("error")))
    if last_backup and last_backup.get("status") == "partial":
        # a set was written, but without the files duplicity could not read: warn, not ok
        message = "WARNING: last backup {} ({}) is partial: {}".format(
            last_backup.get("backup-id"), last_backup.get("type"),
            last_backup.get("warning") or "some files could not be read")
    elif not last_success:
        message = "ready; no backup yet"
    else:
        message = "last backup ok {} ({})".format(last_success.get("backup-id"),
                                                   last_success.get("type"))
        limit = max_age_seconds(config or {})
        age = _age(last_success.get("end") or last_success.get("time"), now)
        if limit and age is not None and age > limit:
            notes.append("WARNING: no successful backup for {}h".format(int(age // 3600)))
    return "active", "; ".join([message] + notes)[:400]
