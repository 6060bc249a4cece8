"""Pure validation of the charm's configuration, one function per config group.

Every function takes the config dict (and what else it needs, explicitly) and returns a
list of problems: human-readable messages that name the key, say what is wrong and how
to fix it. An empty list means the group is valid. Nothing here does I/O.
"""

import re
import warnings
from collections import OrderedDict

import duplicity_cron
import duplicity_helper
import duplicity_secrets
from duplicity_secrets import shown
from duplicity_settings import (DEFAULT_RUN_TIMEOUT, MAX_RUN_TIMEOUT, DuplicitySettings, Schedule,
                                Settings)
import duplicity_tuning

NAMED_FREQUENCIES = ("hourly", "daily", "weekly", "monthly")
BACKUP_NAMED = ("manual",) + NAMED_FREQUENCIES    # what backup_frequency may name
DELETION_NAMED = ("hourly", "daily")               # what deletion_frequency may name

# whole values only (fullmatch), ASCII digits only: "30d\n" and "٣d" are refused
_RETENTION = re.compile(r"([0-9]+)([hdwmy])")
_MAX_AGE = re.compile(r"([0-9]+)([mhdw])")
_KEY_ID = re.compile(r"(0x)?[0-9A-Fa-f]{8,40}")  # used with fullmatch
_APT_SOURCE = re.compile(  # used with fullmatch
    r"distro|proposed|distro-proposed|ppa:[A-Za-z0-9.+_-]+/[A-Za-z0-9.+_-]+"
    r"|deb(-src)? (\[[!-~]+( [!-~]+)*\] )?https?://[!-~]+( [!-~]+)+"
    r"|https?://[!-~]+|cloud(-archive)?:[a-z0-9./-]+")
_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def split_list(value):
    """Comma- or whitespace-separated items, empty items dropped."""
    return [item for item in re.split(r"[,\s]+", value or "") if item]


def _text(config, key):
    """config[key] as a string ('' when unset or not a string)."""
    value = config.get(key)
    return value if isinstance(value, str) else ""


def _secret_problems(config, keys):
    """Set secrets too short to be kept out of messages (see MIN_SECRET_LENGTH)."""
    problems = []
    minimum = duplicity_secrets.MIN_SECRET_LENGTH
    for key in keys:
        value = config.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            problems.append("{} must be a string".format(key))
        elif len(value.strip()) < minimum:
            problems.append("{} is shorter than {} characters: too short to be kept out of logs "
                            "and messages; use a longer one".format(key, minimum))
    return problems


def _remote_problems(config, backend):
    """(Remote or None, problems) of remote_backup_url for backend."""
    url = _text(config, "remote_backup_url")
    if not url.strip():
        return None, ["remote_backup_url is not set: the {} backend needs a destination".format(
            backend)]
    try:
        return duplicity_helper.read_remote(backend, url), []
    except ValueError as err:
        return None, [str(err)]


def _credential_problems(config, backend):
    """The credentials each backend needs, and what its consumer can carry."""
    problems = []
    if backend in ("ftp", "ftps"):
        for key in ("remote_user", "remote_password"):
            if not config.get(key):
                problems.append("{} is not set: the {} backend needs it".format(key, backend))
        password = _text(config, "remote_password")
        if "'" in password or any(ord(c) < 32 or ord(c) == 127 for c in password):
            # duplicity hands it to lftp inside open -u 'user,password' in a script
            problems.append("remote_password contains a single quote or a control character, "
                            "which the {} backend (lftp) cannot carry".format(backend))
    if backend in duplicity_helper.PARAMIKO_BACKENDS and not config.get("remote_user"):
        problems.append("remote_user is not set: the {} backend needs it".format(backend))
    user = _text(config, "remote_user").strip()
    if user and backend in duplicity_secrets.PASSWORD_BACKENDS:
        problem = duplicity_helper.user_problem(backend, user)
        if problem:
            problems.append("remote_user " + problem)
    if backend == "s3":
        for key in ("aws_access_key_id", "aws_secret_access_key"):
            if not config.get(key):
                problems.append("{} is not set: the s3 backend needs it".format(key))
    if backend == "azure" and not config.get("azure_connection_string"):
        problems.append("azure_connection_string is not set: the azure backend needs it")
    return problems + _secret_problems(config, ("remote_password", "aws_access_key_id",
                                                "aws_secret_access_key",
                                                "azure_connection_string"))


def _s3_problems(config, backend, remote):
    """(endpoint in effect, region, problems) of s3_endpoint_url and s3_region_name."""
    problems = []
    endpoint = _text(config, "s3_endpoint_url").strip()
    if endpoint and not re.fullmatch(r"https?://[A-Za-z0-9.\[\]:-]+(/[^\s@?#]*)?", endpoint):
        # not shown: an endpoint URL may carry credentials (https://key:secret@host)
        problems.append("s3_endpoint_url is not an http(s) URL without credentials or query, "
                        "e.g. https://rgw.example.com")
    endpoint = endpoint or (remote.endpoint if remote is not None else "")
    region = _text(config, "s3_region_name").strip()
    if backend == "s3" and region:
        problem = duplicity_helper.region_problem(region, endpoint)
        if problem:
            problems.append("s3_region_name " + problem)
    return endpoint, region, problems


def _backend_group(config, unit=None):
    """(the backend group's DuplicitySettings fields, or None, problems)."""
    backend = config.get("backend", "")
    if not backend:
        return None, ["backend is not set: choose one of {} (juju config <app> backend=...)".format(
            ", ".join(duplicity_helper.BACKENDS))]
    if backend not in duplicity_helper.BACKENDS:
        return None, ["backend {} is not supported: use one of {}".format(
            shown(backend), ", ".join(duplicity_helper.BACKENDS))]
    remote, problems = _remote_problems(config, backend)
    problems += _credential_problems(config, backend)
    if backend == "azure" and remote is not None and unit:
        try:
            duplicity_helper.azure_container(remote, unit)
        except ValueError as err:
            problems.append(str(err))
    endpoint, region, s3_problems = _s3_problems(config, backend, remote)
    problems += s3_problems
    ca = _text(config, "ca_certificate")
    if ca and not _PEM_CERT.search(ca):
        problems.append("ca_certificate is not a PEM certificate "
                        "(-----BEGIN CERTIFICATE----- ...)")
    for key in ("volsize", "concurrency"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append("{} must be a whole number of at least 1, not {}".format(
                key, shown(value)))
    problems += filter(None, [duplicity_tuning.compression_problem(config.get("compression"))])
    problems += _run_timeout_problems(config.get("run_timeout"))
    if problems:
        return None, problems
    user = _text(config, "remote_user").strip() or remote.user
    return dict(backend=backend, remote=remote,
                user=user if backend in duplicity_secrets.PASSWORD_BACKENDS else "",
                password=bool(config.get("remote_password")), ca_certificate=bool(ca.strip()),
                s3_endpoint=endpoint, s3_region=region, volsize=config["volsize"],
                concurrency=config["concurrency"], run_timeout=_run_timeout(config),
                compression=duplicity_tuning.parse_compression(config.get("compression"))), []


def validate_backend(config, unit=None):
    return _backend_group(config, unit)[1]


def ssh_needed(config):
    """True when the backend reaches its server over SSH (Remote.uses_ssh; rsync daemon URLs
    do not). A URL that cannot be read counts as SSH for the backends that can use it, so
    the SSH material is checked along with the URL."""
    backend = config.get("backend", "")
    try:
        return duplicity_helper.read_remote(backend, _text(config, "remote_backup_url")).uses_ssh
    except ValueError:
        return backend in duplicity_helper.SSH_BACKENDS


def _ssh_group(config, remote=None):
    """(known_hosts lines, problems): SSH material, needed for sftp, scp and rsync over SSH."""
    if not (remote.uses_ssh if remote is not None else ssh_needed(config)):
        return (), []
    problems = []
    backend = config["backend"]
    key = _text(config, "private_ssh_key")
    if key.strip():
        problems.extend(_private_key_problems(key, backend))
    elif backend == "rsync":
        problems.append("private_ssh_key is not set: rsync over SSH needs key authentication "
                        "(base64 of the private key)")
    elif not config.get("remote_password"):
        problems.append("private_ssh_key or remote_password must be set for the {} backend".format(
            backend))
    hosts = _text(config, "known_host_key")
    if not hosts.strip():
        problems.append("known_host_key is not set: the {} backend verifies the server's host key; "
                        "give the output of ssh-keyscan -p PORT HOST".format(backend))
        return (), problems
    host, port = (remote.host, remote.port) if remote is not None else ("host", 22)
    try:  # validate_backend names a URL that cannot be read
        lines = tuple(duplicity_helper.known_hosts_lines(hosts, host, port))
    except ValueError as err:
        return (), problems + [str(err)]
    return lines, problems


def validate_ssh(config):
    """SSH material, needed for sftp, scp and rsync over SSH only."""
    try:
        remote = duplicity_helper.read_remote(config.get("backend", ""),
                                              _text(config, "remote_backup_url"))
    except ValueError:
        remote = None
    return _ssh_group(config, remote)[1]


def _private_key_problems(value, backend=""):
    try:  # the same function reads the key when its file is written
        duplicity_helper.decode_private_key(value, backend)
    except ValueError as err:
        return [str(err)]
    return []


def is_key_id(value):
    """True for a bare hex key id or fingerprint (what the upstream charm accepted)."""
    return bool(_KEY_ID.fullmatch(value or ""))


def encryption_mode(config):
    """'disabled', 'public-key', 'passphrase' or '' (nothing configured)."""
    if config.get("disable_encryption") in (True, "true", "True", 1):
        return "disabled"
    if _text(config, "gpg_public_key").strip():
        return "public-key"
    if config.get("encryption_passphrase"):
        return "passphrase"
    return ""


def validate_encryption(config):
    passphrase = config.get("encryption_passphrase", "")
    public_key = _text(config, "gpg_public_key").strip()
    disabled = encryption_mode(config) == "disabled"
    if disabled and (passphrase or public_key):
        return ["disable_encryption=true conflicts with encryption_passphrase/gpg_public_key: "
                "unset one of them"]
    if disabled:
        return []
    problems = _secret_problems(config, ("encryption_passphrase",))
    if public_key:
        if _KEY_ID.fullmatch(public_key):
            # upstream's form: imported from root's keyring when encryption is prepared, which
            # blocks the unit when that keyring does not hold the key
            return problems
        blocks = duplicity_helper.pem_blocks(public_key.replace("\r\n", "\n"))
        private = [n for n, kind in blocks if "PRIVATE" in kind.upper()]
        if private:  # never shown: report where, not what
            return problems + [
                "gpg_public_key: line {} starts a private key, not an ASCII-armoured public "
                "key: give the public key only (gpg --armor --export KEYID); the private key "
                "is not shown, treat it as exposed".format(private[0])]
        if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in public_key:
            return problems + ["gpg_public_key is not an ASCII-armoured public key "
                               "(-----BEGIN PGP PUBLIC KEY BLOCK-----)"]
        return problems
    if not passphrase:
        return ["no encryption configured: set encryption_passphrase or gpg_public_key, "
                "or disable_encryption=true"]
    return problems


def validate_cron(key, value, named):
    """Problems of one schedule value: one of ``named`` or a 5-field expression in the
    grammar of Debian's cron (duplicity_cron); whitespace is normalised first."""
    text, problem = duplicity_cron.frequency(value, named)
    if problem is None:
        return []
    if " " not in text and text.isalpha():
        return ["{} {} is not one of {} or a 5-field cron expression".format(
            key, duplicity_cron.shown(text), ", ".join(named))]
    return ["{} {}: {}".format(key, duplicity_cron.shown(text), problem)]


def validate_frequencies(config):
    """Problems of what the cron file is rendered from: backup_frequency, deletion_frequency
    and retention_period."""
    problems = []
    problems += validate_cron("backup_frequency", config.get("backup_frequency", ""),
                              BACKUP_NAMED)
    problems += validate_cron("deletion_frequency", config.get("deletion_frequency", ""),
                              DELETION_NAMED)
    retention = config.get("retention_period", "")
    m = _RETENTION.fullmatch(retention or "")
    if retention != "manual" and not m:
        problems.append("retention_period {} must be manual or a number and unit, e.g. 30d, "
                        "12h, 8w, 6m, 1y".format(duplicity_cron.shown(retention)))
    elif retention != "manual" and int(m.group(1)) < 1:
        problems.append("retention_period must be at least 1 {}".format(m.group(2)))
    return problems


_RETENTION_UNITS = {"h": "h", "d": "D", "w": "W", "m": "M", "y": "Y"}


def retention_interval(period):
    """A valid retention_period (30d, 12h, 8w, 6m, 1y) as a duplicity interval (30D, 12h, 8W,
    6M, 1Y); '' for manual."""
    m = _RETENTION.fullmatch(period)
    return m.group(1) + _RETENTION_UNITS[m.group(2)] if m else ""


def validate_schedule(config):
    problems = validate_frequencies(config)
    full = config.get("full_if_older_than", "")
    if full != "always" and not duplicity_helper.is_interval(full):
        problems.append("full_if_older_than {} must be always or a duplicity interval such as "
                        "7D, 2W, 1M".format(duplicity_cron.shown(full)))
    max_age = config.get("backup_max_age", "")
    m = _MAX_AGE.fullmatch(max_age or "")
    if max_age and (not m or not int(m.group(1))):
        problems.append("backup_max_age {} must be empty or a number and unit, e.g. 26h, 8d, "
                        "90m".format(duplicity_cron.shown(max_age)))
    return problems


def validate_sources(config, relation_paths=(), relation_problems=()):
    """What to back up: relation filesets + aux_backup_directory, minus exclude_paths."""
    problems = list(relation_problems)
    for path in split_list(_text(config, "aux_backup_directory")):
        if not path.startswith("/"):
            problems.append("aux_backup_directory has {}, which is not an absolute path".format(
                shown(path)))
        elif "\n" in path or ".." in path.split("/"):
            problems.append("aux_backup_directory has {}: use a plain absolute path".format(
                shown(path)))
    problems.extend(validate_exclude_paths(config))
    if not problems and not backup_paths(config, relation_paths):
        problems.append("nothing to back up: relate a principal over the backup relation or set "
                        "aux_backup_directory")
    return problems


def _glob_regex(glob):
    """The regular expression duplicity's globs mean: ** any path, * and ? within one
    component, [...] a character class ([!...] or [^...] negated; an unclosed [ is literal).

    Built the way duplicity builds it (globmatch.glob_to_regex in 0.8, 2.x and 3.x), so a
    class Python's re refuses (such as [z-a]) is refused here instead of crashing duplicity.
    """
    out, i, n = [], 0, len(glob)
    while i < n:
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = glob[i]
        i += 1
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + (1 if i < n and glob[i] in "!^" else 0)
            j += 1 if j < n and glob[j] == "]" else 0
            end = glob.find("]", j)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = glob[i:end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body[0] in "!^" else body) + "]")
                i = end + 1
        else:
            out.append(re.escape(c))
    with warnings.catch_warnings():  # "possible nested set" for [[...]: harmless, as in duplicity
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile("^" + "".join(out) + "($|/)", re.S)


MAX_PATTERN_LENGTH = 4096   # a longer pattern cannot name a path (PATH_MAX)


def exclude_pattern_problem(pattern):
    """Why duplicity would refuse one exclude pattern, or why it could never do what is
    meant, or '' when it is fine. The message shows at most 60 characters of the pattern.

    duplicity (0.8, 2.x, 3.x) backs up from / here and refuses, with a fatal error on every
    backup, a glob that cannot match anything under its base directory: globs must start
    with / or ** (``*.tmp`` must be written ``**/*.tmp``). It also refuses '//' inside a glob
    and crashes on a character class Python cannot compile. An optional ``ignorecase:``
    prefix makes the match case-insensitive.
    """
    shown = repr(pattern[:60]) + ("..." if len(pattern) > 60 else "")
    if len(pattern) > MAX_PATTERN_LENGTH:
        return "exclude_paths has a pattern longer than {} characters (PATH_MAX)".format(
            MAX_PATTERN_LENGTH)
    if any(not c.isprintable() for c in pattern):
        return "exclude_paths has a pattern with a control character"
    glob, variants = pattern, (pattern,)
    if glob.lower().startswith("ignorecase:"):
        glob = glob[len("ignorecase:"):]
        # what duplicity matches with: lower() in 0.8, casefold() from 2.x on
        variants = (glob.lower(), glob.casefold())
        glob = variants[0]
    if not glob.startswith(("/", "**")):
        return ("exclude_paths has {}: duplicity only takes patterns that start with / or ** "
                "(e.g. /srv/data/cache or **/*.tmp)".format(shown))
    if "//" in glob:
        return "exclude_paths has {}: '//' is not allowed inside a pattern".format(shown)
    if any(part in (".", "..") for part in glob.split("/")):
        return ("exclude_paths has {}: . and .. components never match (duplicity compares "
                "normalised paths)".format(shown))
    try:
        for variant in variants:
            body = variant[:-1] if variant.endswith("/") and variant != "/" else variant
            regex = _glob_regex(body)
            parts = body.split("/")
            for k in range(1, len(parts) if "[" in body else 0):  # duplicity compiles each
                _glob_regex("/".join(parts[:k]))                  # leading part too
    except re.error:
        return "exclude_paths has {}: a [...] character class is malformed".format(shown)
    if glob == "/" or regex.match("/"):
        return "exclude_paths has {}: it matches / and would exclude everything".format(shown)
    return ""


def validate_exclude_paths(config):
    """exclude_paths: comma/whitespace-separated duplicity globs, checked as duplicity reads
    them (exclude_pattern_problem); the first few problems are reported."""
    problems = []
    for pattern in split_list(config.get("exclude_paths", "")):
        problem = exclude_pattern_problem(pattern)
        if problem and problem not in problems:
            problems.append(problem)
    if len(problems) > 3:
        problems = problems[:3] + ["exclude_paths has {} more invalid patterns".format(
            len(problems) - 3)]
    return problems


def validate_sources_packages(config):
    """install_sources / install_keys, charmhelpers style YAML lists."""
    import yaml  # only hooks validate sources

    problems = []
    parsed = {}
    for key in ("install_sources", "install_keys"):
        text = _text(config, key)
        try:
            value = yaml.safe_load(text) if text.strip() else []
        except Exception:  # YAMLError, and ValueError/RecursionError from odd scalars
            # never shown: a source line may carry credentials (deb https://user:pw@...)
            problems.append("{} is not valid YAML (a list, e.g. [ppa:owner/name])".format(key))
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, type(None))) for v in value):
            problems.append("{} must be a YAML list of strings".format(key))
            continue
        parsed[key] = value
    for n, source in enumerate(parsed.get("install_sources") or [], 1):
        # what charmhelpers' add_source knows; anything else it logs whole ("Unknown
        # source: ..."), and a source line may carry credentials: never shown here either
        if source is not None and not _APT_SOURCE.fullmatch(source.strip()):
            problems.append("install_sources entry {} is not an apt source the charm can add "
                            "(ppa:owner/name, a one-line deb http(s)://mirror suite components, "
                            "cloud:..., distro or proposed)".format(n))
    for n, key in enumerate(parsed.get("install_keys") or [], 1):
        text = (key or "").strip()
        blocks = duplicity_helper.pem_blocks(text)
        if any("PRIVATE" in kind.upper() for _, kind in blocks):
            problems.append("install_keys entry {} holds a private key: give the public key "
                            "(it is not shown; treat it as exposed)".format(n))
        elif text and not _KEY_ID.fullmatch(text) and not (
                "-----BEGIN PGP PUBLIC KEY BLOCK-----" in text and
                "-----END PGP PUBLIC KEY BLOCK-----" in text):
            problems.append("install_keys entry {} is neither a key id nor an ASCII-armoured "
                            "public key (gpg --armor --export KEYID)".format(n))
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


# Which group a config key belongs to, to file a builder's error ("key: ...") under it.
KEY_GROUPS = OrderedDict([
    ("backend", ("backend", "remote_backup_url", "remote_user", "remote_password",
                 "aws_access_key_id", "aws_secret_access_key", "azure_connection_string",
                 "s3_endpoint_url", "s3_region_name", "ca_certificate", "volsize",
                 "concurrency", "compression", "run_timeout")),
    ("ssh", ("private_ssh_key", "known_host_key")),
    ("encryption", ("encryption_passphrase", "gpg_public_key", "disable_encryption")),
    ("schedule", ("backup_frequency", "deletion_frequency", "retention_period",
                  "full_if_older_than", "backup_max_age")),
    ("sources", ("aux_backup_directory", "exclude_paths")),
    ("packages", ("install_sources", "install_keys")),
])
# The groups, in the order their problems are reported: the duplicity.valid.<group> flags.
GROUPS = tuple(KEY_GROUPS)
# Versions whose command lines the dry run builds: 0.8 (focal, jammy), 2.x (noble), 3.x.
DRY_RUN_VERSIONS = ((0, 8, 11), (0, 8, 22), (2, 1, 4), (3, 0, 2))
DRY_RUN_OPERATIONS = (
    ("backup", {}), ("backup", {"full": True}), ("collection-status", {}),
    ("list-current-files", {"time": "3D"}), ("verify", {"compare_data": True}),
    ("restore", {"target": "/srv/restore", "time": "3D", "path": "etc/hosts"}),
    ("remove-older-than", {"time": "30D"}), ("remove-all-but-n-full", {"count": 2}),
    ("remove-all-inc-of-but-n-full", {"count": 2}), ("cleanup", {}),
)
# An argv longer than this may not start (execve's E2BIG: ARG_MAX is shared with the
# environment; one argument is at most 128 KiB).
MAX_ARGV_BYTES = 256 * 1024
DRY_RUN_UNIT = "duplicity/0"


def _group_of(message):
    key = message.split(":", 1)[0].split()[0] if message else ""
    for group, keys in KEY_GROUPS.items():
        if key in keys:
            return group, key
    return None, key


def _argv_too_long(argv):
    size = sum(len(arg.encode("utf-8", "surrogateescape")) + 1 for arg in argv)
    if size <= MAX_ARGV_BYTES:
        return None
    return ("sources", "aux_backup_directory, the backup relation's filesets and exclude_paths "
                       "make a duplicity command line of {} KiB, too long to run; declare fewer, "
                       "broader paths".format(size // 1024))


def dry_run(settings, secrets, unit=None):
    """[(group, problem)]: what building every command line, environment and secret file
    of these settings raises, for a representative context of each duplicity version.

    Anything that validates must build: a builder's error here blocks the unit now instead
    of failing a backup later. Pure: the paths are under a scratch root, nothing is written.
    """
    from duplicity_paths import UnitPaths

    unit = unit or DRY_RUN_UNIT
    paths = UnitPaths.for_unit(unit, root="/nonexistent/charm-duplicity-dry-run")
    dup = settings.duplicity
    encrypt_key = "0" * 40 if dup.encryption == "public-key" else ""
    try:
        for version in DRY_RUN_VERSIONS:
            ctx = duplicity_helper.Context(unit=unit, paths=paths, version=version,
                                           duplicity="/usr/bin/duplicity",
                                           encrypt_key=encrypt_key,
                                           includes=settings.includes or ("/",),
                                           excludes=settings.excludes, log_file=paths.log_file)
            for operation, params in DRY_RUN_OPERATIONS:
                too_long = _argv_too_long(duplicity_helper.build_argv(operation, dup, ctx,
                                                                      **params))
                if too_long:
                    return [too_long]
            duplicity_helper.build_env(dup, secrets, ctx, {})
        duplicity_helper.secret_files(settings, secrets, paths)
    except ValueError as err:
        message = str(err)
        group, key = _group_of(message)
        if group is None:
            return [("backend", "the configuration cannot be turned into a duplicity command: "
                     + message)]
        return [(group, message)]
    return []


def _guarded(name, function, *args):
    """function(*args), or (None, a problem saying the group could not be checked): never
    raises. function returns (parsed value, problems)."""
    try:
        return function(*args)
    except Exception as err:  # a bug must block the unit, not fail the hook
        return None, ["the {} settings could not be checked ({}: internal error, see juju "
                      "debug-log)".format(name, type(err).__name__)]


def _encryption_group(config):
    problems = validate_encryption(config)
    return (None if problems else encryption_mode(config)), problems


def parse_frequencies(config):
    """(Schedule or None, problems) of backup_frequency, deletion_frequency and
    retention_period: what the cron file is rendered from."""
    problems = validate_frequencies(config)
    if problems:
        return None, problems
    return Schedule(
        backup=duplicity_cron.frequency(config.get("backup_frequency", ""), BACKUP_NAMED)[0],
        deletion=duplicity_cron.frequency(config.get("deletion_frequency", ""),
                                          DELETION_NAMED)[0],
        retention=config.get("retention_period") != "manual"), []


def _schedule_group(config):
    problems = validate_schedule(config)
    if problems:
        return None, problems
    return dict(schedule=parse_frequencies(config)[0],
                full_if_older_than=config.get("full_if_older_than"),
                retention=retention_interval(config.get("retention_period"))), []


def _sources_group(config, relation_paths, relation_problems):
    problems = validate_sources(config, relation_paths, relation_problems)
    if problems:
        return None, problems
    return dict(includes=tuple(backup_paths(config, relation_paths)),
                excludes=tuple(split_list(_text(config, "exclude_paths")))), []


def _packages_group(config):
    return None, validate_sources_packages(config)


def _run_timeout_problems(value):
    if value is None:   # not in the config (older charm revisions' configs): the default
        return []
    if not isinstance(value, int) or isinstance(value, bool):
        return ["run_timeout must be a whole number of seconds, not {}".format(shown(value))]
    if value > MAX_RUN_TIMEOUT:
        return ["run_timeout must be at most {} seconds (21 days), not {}".format(
            MAX_RUN_TIMEOUT, shown(value))]
    return []


def _run_timeout(config):
    """run_timeout, valid (_run_timeout_problems): 0 or less, or none, is the default."""
    value = config.get("run_timeout")
    return value if value is not None and value > 0 else DEFAULT_RUN_TIMEOUT


def _ca_pem(config):
    return _text(config, "ca_certificate").strip().replace("\r\n", "\n") + "\n"


def _parse_groups(config, relation_paths, relation_problems, unit):
    """{group: (parsed value, problems)} for every group of GROUPS, in its order."""
    parsed = OrderedDict()
    parsers = {
        "backend": lambda: _backend_group(config, unit),
        "ssh": lambda: _ssh_group(config, (parsed["backend"][0] or {}).get("remote")),
        "encryption": lambda: _encryption_group(config),
        "schedule": lambda: _schedule_group(config),
        "sources": lambda: _sources_group(config, relation_paths, relation_problems),
        "packages": lambda: _packages_group(config),
    }
    for group in GROUPS:
        parsed[group] = _guarded(group, parsers[group])
    return parsed


def _settings_of(cls, config, parsed):
    """The Settings of the parsed groups (a part is None where its group has problems)."""
    backend, ssh, encryption, schedule, sources = (
        parsed[group][0] for group in ("backend", "ssh", "encryption", "schedule", "sources"))
    duplicity = None
    if backend is not None:
        extra = dict(encryption=encryption or "",
                     ssh_key=bool(_text(config, "private_ssh_key").strip()),
                     passphrase=bool(config.get("encryption_passphrase")))
        if schedule is not None:
            extra.update(full_if_older_than=schedule["full_if_older_than"],
                         retention=schedule["retention"])
        duplicity = DuplicitySettings(**dict(backend, **extra))
    return cls(duplicity=duplicity, known_hosts=ssh or (),
               ca_pem=_ca_pem(config) if backend and backend["ca_certificate"] else "",
               gpg_public_key=_text(config, "gpg_public_key").strip(),
               schedule=schedule["schedule"] if schedule else None,
               **(sources or {}))


def parse_settings(cls, config, relation_paths=(), relation_problems=(), unit=None,
                   version=None):
    """(Settings, problems by group): Settings.parse's work (see duplicity_settings).

    When the groups the builders read are valid, the builders are dry-run (see dry_run) and
    their errors are filed under the group of the key they name, unless that group already
    reports a problem naming the key. With ``version`` (the installed duplicity's), what it
    cannot do is filed the same way (duplicity_helper.version_problems).
    """
    parsed = _parse_groups(config, relation_paths, relation_problems, unit)
    results = OrderedDict((group, list(problems)) for group, (_, problems) in parsed.items())
    settings = _guarded("settings", lambda: (_settings_of(cls, config, parsed), []))[0]
    if settings is None:
        results["backend"].append("the settings could not be assembled (internal error, see "
                                  "juju debug-log)")
        return cls(), results
    if not any(results[group] for group in ("backend", "ssh", "encryption")):
        dry = _guarded("build", lambda: (dry_run(
            settings, duplicity_secrets.Secrets.from_config(config), unit), []))
        for group, problem in dry[0] or [("backend", p) for p in dry[1]]:
            key = _group_of(problem)[1]
            if not any(key in known for known in results[group]):
                results[group].append(problem)
    if version and settings.duplicity is not None:
        for problem in duplicity_helper.version_problems(settings.duplicity, version):
            results[_group_of(problem)[0] or "backend"].append(problem)
    return settings, results


def validate_all(config, relation_paths=(), relation_problems=(), unit=None):
    """Every group's problems, in the order they are reported (Settings.parse's problems)."""
    return Settings.parse(config, relation_paths, relation_problems, unit)[1]


_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DERIVED_MAX_AGE = {"hourly": 3 * 3600, "daily": 26 * 3600, "weekly": 8 * 86400,
                    "monthly": 32 * 86400}


def max_age_seconds(config):
    """How old the last successful backup may be before monitoring warns; None: no limit.

    backup_max_age when set; otherwise derived from backup_frequency: a period plus slack
    (hourly 3h, daily 26h, weekly 8d, monthly 32d, a cron expression: twice its longest gap
    in the next few runs), none for manual. Never raises: a value that does not validate,
    or whose runs croniter cannot compute, has no limit.
    """
    value = config.get("backup_max_age") or ""
    m = _MAX_AGE.fullmatch(value) if isinstance(value, str) else None
    if m and int(m.group(1)):
        return int(m.group(1)) * _SECONDS[m.group(2)]
    frequency = duplicity_cron.normalise(config.get("backup_frequency", "manual"))
    if frequency in _DERIVED_MAX_AGE:
        return _DERIVED_MAX_AGE[frequency]
    try:
        schedule = duplicity_cron.parse(frequency)
    except duplicity_cron.CronError:
        return None
    import datetime
    from croniter import croniter
    expression, day_or = duplicity_cron.croniter_args(schedule)
    try:
        it = croniter(expression, datetime.datetime(2026, 1, 1), day_or=day_or)
        times = [it.get_next(float) for _ in range(8)]
    except (ValueError, KeyError, OverflowError):  # croniter's errors are ValueErrors
        return None
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


# The longest status message the unit sets (Juju shows it in juju status; status-set
# takes it as one argument, which a huge relation value once made fail).
STATUS_MESSAGE_MAX = 400


def cap_message(message, limit=STATUS_MESSAGE_MAX):
    """message cut to at most limit characters, ending with '…' when cut."""
    message = " ".join(str(message).split())  # one line: no newline reaches juju status
    if len(message) > limit:
        message = message[:limit - 1] + "\u2026"
    return message


def join_problems(problems, limit=STATUS_MESSAGE_MAX):
    """'; '-joined problems, as many as fit in limit, then how many more there are."""
    shown_problems = []
    for n, problem in enumerate(problems):
        more = len(problems) - n
        candidate = "; ".join(shown_problems + [problem])
        rest = "; and {} more".format(more - 1) if more > 1 else ""
        if shown_problems and len(candidate + rest) > limit:
            return cap_message("; ".join(shown_problems) + "; and {} more".format(more), limit)
        shown_problems.append(problem)
    return cap_message("; ".join(shown_problems), limit)


def status_message(*args, **kwargs):
    """(workload status, message) from validation results and recorded outcomes.

    The message is capped (STATUS_MESSAGE_MAX): the one place every status message passes.
    """
    state, message = _status_message(*args, **kwargs)
    return state, cap_message(message)


def _status_message(results, runtime_problems=(), last_backup=None, last_success=None,
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
        return "blocked", join_problems(problems)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if last_backup and last_backup.failed:
        return "blocked", "last backup failed at {}: {}".format(
            last_backup.time or "?", last_backup.error or "see the log")[:400]
    notes = []
    if retention and retention.status == "failed":
        notes.append("retention run failed at {}: {}".format(retention.time, retention.error))
    if last_backup and last_backup.partial:
        # a set was written, but without the files duplicity could not read: warn, not ok
        message = "WARNING: last backup {} ({}) is partial: {}".format(
            last_backup.backup_id, last_backup.type,
            last_backup.warning or "some files could not be read")
    elif not last_success:
        message = "ready; no backup yet"
    else:
        message = "last backup ok {} ({})".format(last_success.backup_id, last_success.type)
        limit = max_age_seconds(config or {})
        age = _age(last_success.finished, now)
        if limit and age is not None and age > limit:
            notes.append("WARNING: no successful backup for {}h".format(int(age // 3600)))
    return "active", "; ".join([message] + notes)[:400]
