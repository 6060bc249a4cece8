"""Build duplicity command lines, child environments and secret files from the charm config.

Pure functions of their arguments (design.md sections 3, 4 and 7): nothing here runs a
process, reads or writes a file, or looks at ``os.environ``. The hooks and the scheduled
runner call these builders and do the I/O themselves. Standard library only: the cron
runner imports this module with the system python3.

Every option with a value is written as ``--opt=value`` so that values starting with ``-``
(gpg/ssh options, exclude patterns) are never mistaken for options by optparse (0.8.x) or
argparse (2.x, 3.x). Secrets never appear in an argv or a URL: they travel in the child's
environment (``PASSPHRASE``, ``FTP_PASSWORD``, ``AWS_*``, ``AZURE_CONNECTION_STRING``) or in
root-only files (SSH key, known_hosts, CA, the env file).

Version differences handled here (checked against each version's option parser/backends):

* 0.8.x (optparse, ``duplicity/commandline.py``): the incremental command is
  ``incremental``; a single path is restored with ``--file-to-restore``; the ``s3://``
  scheme is the boto v2 backend and requires a host, so S3 uses ``boto3+s3://``
  (``s3://`` became boto3 in 0.8.23).
* 2.x (argparse, ``duplicity/cli_main.py``/``cli_data.py``): ``incr`` alias;
  ``--file-to-restore`` was renamed ``--path-to-restore`` in 2.0.0 and the old name is
  rejected; each command only accepts its own options (``--volsize`` only when backing up,
  selection options only for backup and verify).
* 3.x: ``--concurrency`` (parallel uploads) exists; earlier versions ignore the setting.
"""

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import duplicity_tuning
from duplicity_paths import CHARM_SECRET_FILE_PATTERNS, UnitPaths, unit_slug
from duplicity_secrets import (SCRUBBED_ENV, SCRUBBED_ENV_PREFIXES, SECRET_ENV, secret_env,
                               shown)

OPERATIONS = ('backup', 'collection-status', 'list-current-files', 'restore', 'verify',
              'remove-older-than', 'remove-all-but-n-full', 'remove-all-inc-of-but-n-full',
              'cleanup')
BACKENDS = ('file', 'sftp', 'scp', 'rsync', 'ftp', 'ftps', 's3', 'azure')

# duplicity reaches these through its paramiko backend (rsync over SSH runs OpenSSH)
PARAMIKO_BACKENDS = ('sftp', 'scp')
SSH_BACKENDS = PARAMIKO_BACKENDS + ('rsync',)
DESTRUCTIVE = ('remove-older-than', 'remove-all-but-n-full', 'remove-all-inc-of-but-n-full',
               'cleanup')
# Operations that take file selection options (2.x rejects them elsewhere).
SELECTION_OPERATIONS = ('backup', 'verify')

V_BOTO3_S3 = (0, 8, 23)        # s3:// is the boto3 backend from here on
V_PATH_TO_RESTORE = (2, 0)     # --file-to-restore renamed --path-to-restore, 'incr' alias
NETWORK_TIMEOUT = 120          # duplicity's --timeout: seconds a backend socket may stay silent

AES256_GPG_OPTION = '--cipher-algo=AES256'
TRUST_GPG_OPTION = '--trust-model=always'

_HOST_RE = re.compile(r'(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                      r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*'
                      r'|\[[0-9A-Fa-f:.]+\])\Z')
_BUCKET_RE = re.compile(r'[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z')
# duplicity's own check (backends/azurebackend.py _VALID_CONTAINER_NAME_RE)
_CONTAINER_RE = re.compile(r'[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]\Z')
_AWS_HOST_RE = re.compile(r'(^|\.)amazonaws\.com(\.cn)?\Z', re.I)
_KEY_TYPE_RE = re.compile(r'(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+|'
                          r'[a-z0-9-]+-cert-v01@openssh\.com)\Z')
# The one grammar of the duplicity intervals and times the charm hands on (full_if_older_than,
# the retention interval, the time parameters of the actions), used with re.fullmatch: ASCII
# digits only ([0-9], not \d: duplicity's int() would take other scripts' digits).
INTERVAL = r'([0-9]{1,9}[smhDWMY])+'
BACKUP_ID = r'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'   # list-backups' ids
TIME_PATTERNS = (
    r'now',
    r'[0-9]{1,12}',                                            # seconds since the epoch
    INTERVAL,                                                  # an interval before now
    r'[0-9]{4}-[0-9]{2}-[0-9]{2}',
    r'[0-9]{4}/[0-9]{2}/[0-9]{2}',
    r'[0-9]{2}/[0-9]{2}/[0-9]{4}',
    r'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})?',  # ISO
)
_PORT_RE = re.compile(r'[0-9]{1,5}\Z')
# User names each backend's consumer can carry (checked with fullmatch):
# - sftp, scp: paramiko takes the name as given; the charm percent-quotes it in the URL,
#   duplicity unquotes it. '@' is allowed (hosted SFTP logins such as name@example.com).
# - ftp, ftps: lftp reads "open -u 'user,password'" from duplicity's script: no quote or
#   comma (the charm allows neither), '@' is fine.
# - rsync: duplicity writes user@host for ssh/rsync (which split at an '@'), or sets USER
#   for the rsync daemon: no '@'.
# No name starts with '-' (it would read as an option) and none is longer than 64.
_USER_RE = {
    'ssh': re.compile(r'[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}\Z'),
    'rsync': re.compile(r'[A-Za-z0-9._][A-Za-z0-9._-]{0,63}\Z'),
}
_USER_GRAMMAR = {
    'ssh': "up to 64 letters, digits, '.', '_', '-' and '@', not starting with '-' or '@'",
    'rsync': "up to 64 letters, digits, '.', '_' and '-', not starting with '-' "
             "(rsync and ssh split user@host at the '@')",
}
# S3 region names: AWS's (lowercase letters, digits, hyphens); botocore's own check
# (utils.validate_region_name) allows upper case too, which only a non-AWS store can use.
_AWS_REGION_RE = re.compile(r'[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z')
_BOTO_REGION_RE = re.compile(r'[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\Z')
# Private key kinds an SSH backend can use (PEM label -> what it is).
PRIVATE_KEY_LABELS = ('OPENSSH PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY',
                      'DSA PRIVATE KEY', 'PRIVATE KEY')

URL_FORMATS = {
    'file': 'file:///path/to/dir',
    'sftp': 'host[:port]/dir (relative to the login directory) or host[:port]//absolute/dir',
    'scp': 'host[:port]/dir (relative to the login directory) or host[:port]//absolute/dir',
    'rsync': 'host[:port]//absolute/dir or host[:port]/dir-relative-to-home (over SSH), '
             'or host[:port]::module[/dir] (rsync daemon)',
    'ftp': 'host[:port]/dir',
    'ftps': 'host[:port]/dir (explicit TLS; port 990 means implicit TLS)',
    's3': 's3:///bucket[/prefix] or s3://endpoint-host[:port]/bucket[/prefix]',
    'azure': 'azure://container',
}
# Schemes a user may paste in front of the URL, per backend.
_ACCEPTED_SCHEMES = {
    'file': ('file',),
    'sftp': ('sftp', 'paramiko+sftp'),
    'scp': ('scp', 'paramiko+scp'),
    'rsync': ('rsync',),
    'ftp': ('ftp',),
    'ftps': ('ftpes', 'ftps'),
    's3': ('s3', 'boto3+s3'),
    'azure': ('azure',),
}
_CREDENTIAL_KEYS = {
    's3': 'aws_access_key_id/aws_secret_access_key',
    'azure': 'azure_connection_string',
}


@dataclass(frozen=True)
class Remote:
    """A validated remote_backup_url, independent of the duplicity version."""
    backend: str
    host: str = ''
    port: int = 0
    user: str = ''            # user given in the URL (user@host); remote_user wins
    path: str = ''            # file: absolute dir; ssh/ftp: '' , 'rel/dir' or '/abs/dir'
    module: str = ''          # rsync daemon module ('' = rsync over SSH)
    bucket: str = ''          # s3
    prefix: str = ''          # s3 key prefix, no leading/trailing '/'
    endpoint: str = ''        # s3 endpoint derived from a non-AWS host in the URL
    container: str = ''       # azure
    implicit_tls: bool = False  # ftps on port 990

    @property
    def uses_ssh(self):
        return self.backend in PARAMIKO_BACKENDS or (self.backend == 'rsync' and not self.module)


@dataclass(frozen=True)
class Context:
    unit: str                 # unit whose backups are addressed (source-unit for cross-unit restore)
    paths: UnitPaths          # THIS unit's paths (archive dir, tempdir, secrets)
    version: tuple            # installed duplicity version
    duplicity: str = 'duplicity'
    encrypt_key: str = ''     # fingerprint of the imported gpg_public_key ('' if none)
    gnupg_home: str = ''      # override GnuPG home; default paths.gnupg_home
    includes: tuple = ()      # absolute paths to back up
    excludes: tuple = ()      # user exclude patterns; the charm's own dirs are always excluded
    log_file: str = ''        # --log-file=<it> when set


@dataclass(frozen=True)
class SecretFile:
    path: str
    content: bytes = field(repr=False)
    mode: int = 0o600


# --------------------------------------------------------------------------- versions

def parse_version(text):
    """``duplicity 0.8.22`` / ``duplicity 3.2.1 September 28, 2026`` -> ``(0, 8, 22)`` / ``(3, 2, 1)``."""
    m = re.search(r'(?<![\d.])(\d+)\.(\d+)((?:\.\d+)*)', text or '')
    if not m:
        raise ValueError('cannot find a duplicity version in {!r}'.format((text or '')[:80]))
    parts = [m.group(1), m.group(2)] + [p for p in m.group(3).split('.') if p]
    return tuple(int(p) for p in parts)


def _v(version):
    return tuple(version or (0,))


# --------------------------------------------------------------------------- remote URL

def is_interval(value):
    """True for a duplicity interval (7D, 2W1D, 12h): the INTERVAL grammar."""
    return isinstance(value, str) and re.fullmatch(INTERVAL, value) is not None


def is_time(value):
    """True for a time duplicity understands, in the grammar the charm accepts (TIME_PATTERNS)."""
    return isinstance(value, str) and any(re.fullmatch(p, value) for p in TIME_PATTERNS)


def is_backup_id(value):
    """True for a backup-id as list-backups shows it (2026-11-27T02:00:00Z)."""
    return isinstance(value, str) and re.fullmatch(BACKUP_ID, value) is not None


def _url_error(backend, what):
    return ValueError('remote_backup_url: {}; expected for backend {}: {}'.format(
        what, backend, URL_FORMATS.get(backend, '?')))


def _split_scheme(backend, url):
    m = re.match(r'([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z', url, re.S)
    if not m:
        return '', url
    scheme = m.group(1).lower()
    if scheme not in _ACCEPTED_SCHEMES[backend]:
        raise _url_error(backend, 'scheme {}:// does not match backend {}'.format(
            shown(scheme)[1:-1], backend))
    return scheme, m.group(2)


def carries_credentials(text):
    """True when a URL (without its scheme) may carry ``user:password@``.

    Checked on the whole string before it is split at '/' or ':': a password may contain
    '/', ':' and '@' itself, so any ':' before the last '@' counts (a path containing '@'
    after a port is refused with it, which loses nothing).
    """
    at = text.rfind('@')
    return at > 0 and ':' in text[:at]


def user_problem(backend, user):
    """Why ``user`` cannot be carried to ``backend``'s server, or None.

    The grammar is that of what consumes the name (see _USER_RE). Never echoes the value:
    a mistyped password may land here.
    """
    kind = 'rsync' if backend == 'rsync' else 'ssh'
    if not isinstance(user, str) or not _USER_RE[kind].match(user):
        return 'is not a user name the {} backend can use ({})'.format(
            backend, _USER_GRAMMAR[kind])
    return None


def _reject_credentials(backend, authority):
    if '@' not in authority:
        return ''
    userinfo = authority.rsplit('@', 1)[0]
    keys = _CREDENTIAL_KEYS.get(backend, 'remote_user/remote_password')
    if ':' in userinfo:
        raise _url_error(backend, 'credentials must not be embedded in the URL (user:password@); '
                                  'set {} instead (nothing of the URL is shown)'.format(keys))
    if backend in _CREDENTIAL_KEYS or backend == 'file':
        raise _url_error(backend, 'no user@ part is allowed; set {} instead'.format(keys))
    problem = user_problem(backend, userinfo)
    if problem:
        raise _url_error(backend, 'the user name before @ ' + problem)
    return userinfo


def _host_port(backend, hostport, default_port=0):
    # Nothing of hostport is echoed: a password that lost its user:...@ lands here.
    if not hostport:
        raise _url_error(backend, 'the host is missing')
    m = re.match(r'(\[[^\]]*\]|[^:]*)(?::([^:]*))?\Z', hostport)
    if not m:
        raise _url_error(backend, 'cannot read host[:port] (an IPv6 address goes in [brackets])')
    host, port = m.group(1), m.group(2)
    if not host or not _HOST_RE.match(host):
        raise _url_error(backend, 'invalid host name (letters, digits, hyphens and dots, or an '
                                  'IP address; an IPv6 address in [brackets])')
    if port is None or port == '':
        if port == '':
            raise _url_error(backend, 'empty port after the host name')
        return host, default_port
    if not _PORT_RE.match(port) or not 0 < int(port) < 65536:
        raise _url_error(backend, 'invalid port (expected a number 1-65535)')
    return host, int(port)


def _clean_path(backend, path, what='path'):
    if any(c in path for c in '\n\r\t\0') or '\\' in path:
        raise _url_error(backend, 'the {} contains control characters or backslashes'.format(what))
    if "'" in path or '"' in path or ' ' in path:
        raise _url_error(backend, 'the {} must not contain quotes or spaces'.format(what))
    if '?' in path or '#' in path or '%' in path:
        raise _url_error(backend, 'the {} must not contain ?, # or %'.format(what))
    parts = [p for p in path.split('/') if p]
    if any(p in ('.', '..') for p in parts):
        raise _url_error(backend, 'the {} must not contain . or .. components'.format(what))
    return parts


# Remote directories of the host-based backends reach a shell on the backup server (the
# --rsync-path command, rsync's own remote arguments before rsync 3.2.4, the mkdir/scp/ls/rm
# commands of duplicity's scp mode), shlex.split of duplicity's rsync and lftp command lines,
# and lftp's command parser. Each layer quotes differently (or not at all), so the names are
# restricted to characters that need no quoting in any of them: no shell metacharacters, no
# ':' (rsync's host:path and module syntax), and no component starting with '-' (an option
# to mkdir, scp or rsync).
REMOTE_PATH_BACKENDS = ('sftp', 'scp', 'rsync', 'ftp', 'ftps')
REMOTE_NAME_CHARS = 'letters, digits and . _ - + , ='
_REMOTE_COMPONENT_RE = re.compile(r'[A-Za-z0-9._+,=][A-Za-z0-9._+,=-]*')


def remote_path_problem(path):
    """Why ``path`` (a remote directory, '/'-separated) is unsafe for a remote shell, or ''.

    The rule for every remote directory of the sftp, scp, rsync and ftp(s) backends, the
    unit-name suffix included. Only the offending characters are named, never the path.
    """
    parts = [p for p in str(path).split('/') if p]
    bad = []
    for part in parts:
        if _REMOTE_COMPONENT_RE.fullmatch(part):
            continue
        if part.startswith('-'):
            return 'a directory name must not start with "-" (it would be read as an option)'
        for c in part:
            if not _REMOTE_COMPONENT_RE.fullmatch('a' + c) and c not in bad:
                bad.append(c)
    if bad:
        shown = ' '.join(repr(c) if c.isprintable() else 'U+{:04X}'.format(ord(c))
                         for c in bad[:5])
        return ('the directory may only contain {} (a remote shell reads it); found {}'
                .format(REMOTE_NAME_CHARS, shown))
    return ''


def _check_remote_path(backend, path):
    """parse_remote's rule for the directory of a host-based backend (see remote_path_problem)."""
    if backend in REMOTE_PATH_BACKENDS:
        problem = remote_path_problem(path)
        if problem:
            raise _url_error(backend, problem)


def parse_remote(backend, url):
    """Validate ``remote_backup_url`` for ``backend``; return a :class:`Remote`.

    Raises ValueError naming ``remote_backup_url``, what is wrong and the expected format.
    """
    if backend not in BACKENDS:
        raise ValueError('backend: {} is not one of {}'.format(shown(backend), ', '.join(BACKENDS)))
    url = (url or '').strip()
    if not url:
        raise _url_error(backend, 'it is empty')
    if any(c.isspace() for c in url):
        raise _url_error(backend, 'it contains whitespace')
    scheme, rest = _split_scheme(backend, url)
    if carries_credentials(rest):
        raise _url_error(backend, 'credentials must not be embedded in the URL (user:password@); '
                                  'set {} instead (nothing of the URL is shown)'.format(
                                      _CREDENTIAL_KEYS.get(backend, 'remote_user/remote_password')))

    if backend == 'file':
        return _parse_file(scheme, rest)
    if backend == 's3':
        return _parse_s3(scheme, rest)
    if backend == 'azure':
        return _parse_azure(scheme, rest)
    return _parse_host(backend, rest)


def _parse_file(scheme, rest):
    backend = 'file'
    if scheme:
        if not rest.startswith('/'):
            raise _url_error(backend, 'file:// must be followed by an absolute path '
                                      '(three slashes: file:///dir)')
    elif not rest.startswith('/'):
        raise _url_error(backend, 'an absolute directory is required')
    _reject_credentials(backend, rest.split('/', 1)[0])
    parts = _clean_path(backend, rest)
    if not parts:
        raise _url_error(backend, 'the directory must not be /')
    return Remote(backend=backend, path='/' + '/'.join(parts))


def _parse_azure(scheme, rest):
    backend = 'azure'
    if not scheme:
        raise _url_error(backend, 'the azure:// scheme is required')
    _reject_credentials(backend, rest.split('/', 1)[0])
    container, _, prefix = rest.partition('/')
    if prefix.strip('/'):
        raise _url_error(backend, "duplicity's azure backend stores directly in the container "
                                  '(no /prefix); give only the container name')
    if not _CONTAINER_RE.match(container):
        raise _url_error(backend, 'invalid container name (3-63 lowercase letters, digits '
                                  'and single hyphens)')
    return Remote(backend=backend, container=container)


def _parse_host(backend, rest):
    """The host-based backends: sftp, scp, ftp, ftps, rsync."""
    if rest.startswith('/'):
        raise _url_error(backend, 'the host is missing')
    if backend == 'rsync':
        m = re.match(r'([^/]*?)::/?(.*)\Z', rest, re.S)
        if m:  # rsync daemon: host[:port]::module[/dir]
            user = _reject_credentials(backend, m.group(1))
            host, port = _host_port(backend, m.group(1).rsplit('@', 1)[-1])
            parts = _clean_path(backend, m.group(2))
            _check_remote_path(backend, m.group(2))
            if not parts:
                raise _url_error(backend, 'the rsync module is missing after ::')
            return Remote(backend=backend, host=host, port=port, user=user, module=parts[0],
                          path='/'.join(parts[1:]))
        if '::' in rest:
            raise _url_error(backend, 'misplaced :: (rsync daemon form is host::module/dir)')
    authority, slash, path = rest.partition('/')
    user = _reject_credentials(backend, authority)
    host, port = _host_port(backend, authority.rsplit('@', 1)[-1])
    absolute = path.startswith('/')
    parts = _clean_path(backend, path)
    _check_remote_path(backend, path)
    if backend == 'rsync' and not parts:
        raise _url_error(backend, 'a directory is required after the host')
    clean = '/'.join(parts)
    if absolute and clean:
        clean = '/' + clean
    if backend == 'ftps' and port == 990:
        # implicit TLS (duplicity's ftps://) only when the URL says port 990
        return Remote(backend=backend, host=host, port=port, user=user, path=clean,
                      implicit_tls=True)
    return Remote(backend=backend, host=host, port=port, user=user, path=clean)


def _parse_s3(scheme, rest):
    backend = 's3'
    if not scheme:
        raise _url_error(backend, 'the s3:// scheme is required')
    authority, _, path = rest.partition('/')
    _reject_credentials(backend, authority)
    endpoint = ''
    if scheme == 'boto3+s3':
        # duplicity folds the host into the path for boto3+s3: boto3+s3://bucket/prefix
        parts = _clean_path(backend, rest)
    else:
        parts = _clean_path(backend, path)
        if authority:
            host, port = _host_port(backend, authority)
            if not _AWS_HOST_RE.search(host):
                endpoint = 'https://' + host + (':{}'.format(port) if port else '')
    if not parts:
        raise _url_error(backend, 'the bucket name is missing')
    bucket = parts[0]
    if not _BUCKET_RE.match(bucket) or '..' in bucket:
        raise _url_error(backend, 'invalid bucket name (3-63 lowercase letters, digits, '
                                  'dots and hyphens)')
    return Remote(backend=backend, bucket=bucket, prefix='/'.join(parts[1:]), endpoint=endpoint)


# --------------------------------------------------------------------------- upstream URLs

# The deprecated upstream charm's documented remote_backup_url forms (its config.yaml).
_LEGACY_S3_HOST = re.compile(r'^s3:(?!//)([^/]+)/(.*)$', re.S)   # s3:host[:port]/bucket[/prefix]
_LEGACY_S3_HTTP = re.compile(r'^s3\+http://(.*)$', re.S | re.I)  # s3+http://bucket[/prefix]
_LEGACY_AZURE = re.compile(r'^azure:///?$', re.I)                 # azure:// (no container)
# Marker for upstream's container-less azure form: its container was the unit's slug.
LEGACY_AZURE_URL = 'azure://'


def translate_legacy_url(backend, url):
    """(url, note): upstream's documented URL forms rewritten to today's, note saying how.

    ``s3:host[:port]/bucket[/prefix]`` -> ``s3://host[:port]/bucket[/prefix]``;
    ``s3+http://bucket[/prefix]`` -> ``s3:///bucket[/prefix]`` (AWS, over https);
    ``azure://`` (and ``azure:///``) -> :data:`LEGACY_AZURE_URL`, whose container is the unit's
    slug as upstream's was. Any other value is returned unchanged with an empty note.
    """
    url = (url or '').strip()
    if backend == 's3':
        m = _LEGACY_S3_HOST.match(url)
        if m:
            new = 's3://{}/{}'.format(m.group(1), m.group(2))
            return new, ('upstream form s3:host[:port]/bucket[/prefix] read as '
                         's3://host[:port]/bucket[/prefix]')
        m = _LEGACY_S3_HTTP.match(url)
        if m:
            new = 's3:///' + m.group(1).lstrip('/')
            return new, ('upstream form s3+http://bucket[/prefix] read as s3:///bucket[/prefix] '
                         '(AWS, over https)')
    if backend == 'azure' and _LEGACY_AZURE.match(url):
        return LEGACY_AZURE_URL, ('upstream form azure:// (no container) read as its container: '
                                  'the unit name with / replaced by -')
    return url, ''


def read_remote(backend, url):
    """The one entry point for ``remote_backup_url``: upstream forms translated, then parsed.

    Upstream's ``azure://`` gives a Remote with no container: :func:`target_url` then uses
    the unit's slug as the container, where upstream's backups are.
    """
    url, _ = translate_legacy_url(backend, url)
    if backend == 'azure' and url == LEGACY_AZURE_URL:
        return Remote(backend=backend)
    return parse_remote(backend, url)


# --------------------------------------------------------------------------- target URL

def _join(*parts):
    return '/'.join(p.strip('/') for p in parts if p.strip('/'))


def azure_container(remote, unit):
    """The Azure container of unit's backups: ``<container>-<unit slug>``, validated.

    Azure container names are 3-63 lowercase letters, digits and single hyphens; the
    unit suffix counts, so a long container name fails for units with long names.
    """
    # no container: upstream's azure:// form, whose container was the unit's slug
    container = '{}-{}'.format(remote.container, unit_slug(unit).lower()) if remote.container \
        else unit_slug(unit).lower()
    if not _CONTAINER_RE.match(container):
        raise ValueError('remote_backup_url: the azure container of unit {} would be {} ({} '
                         'characters: container + "-" + unit), not a valid Azure container name '
                         '(3-63 lowercase letters, digits and single hyphens); use a container '
                         'name of at most {} characters'.format(
                             unit, shown(container, 80), len(container),
                             max(3, 62 - len(unit_slug(unit)))))
    return container


def target_url(settings, ctx):
    """The duplicity URL of ctx.unit's backups: the remote plus ``/<unit slug>``."""
    remote = settings.remote
    slug = unit_slug(ctx.unit)
    b = remote.backend
    if b == 'file':
        return 'file://' + remote.path + '/' + slug
    if b == 's3':
        scheme = 'boto3+s3' if _v(ctx.version) < V_BOTO3_S3 else 's3'
        return '{}:///{}'.format(scheme, _join(remote.bucket, remote.prefix, slug))
    if b == 'azure':
        container = azure_container(remote, ctx.unit)
        return 'azure://' + container
    user = settings.user
    netloc = (quote(user, safe='') + '@' if user else '') + remote.host
    if remote.port:
        netloc += ':{}'.format(remote.port)
    if b == 'rsync' and remote.module:
        return 'rsync://{}::/{}'.format(netloc, _join(remote.module, remote.path, slug))
    scheme = {'sftp': 'sftp', 'scp': 'scp', 'rsync': 'rsync', 'ftp': 'ftp',
              'ftps': 'ftps' if remote.implicit_tls else 'ftpes'}[b]
    path = _join(remote.path, slug)
    if remote.path.startswith('/'):
        path = '/' + path  # absolute: host//abs/dir
    return '{}://{}/{}'.format(scheme, netloc, path)


# --------------------------------------------------------------------------- encryption

def _encryption_args(settings, ctx):
    mode = settings.encryption
    if mode == 'disabled':
        return ['--no-encryption']
    if mode == 'public-key':
        if not ctx.encrypt_key:
            raise ValueError('gpg_public_key: no fingerprint of the imported key was given')
        if not re.fullmatch(r'(0x)?[0-9A-Fa-f]{8,40}', ctx.encrypt_key):
            raise ValueError('gpg_public_key: {!r} is not a key fingerprint'.format(ctx.encrypt_key))
        return ['--encrypt-key=' + ctx.encrypt_key, '--gpg-options=' + TRUST_GPG_OPTION]
    if mode == 'passphrase':
        return ['--gpg-options=' + AES256_GPG_OPTION]
    raise ValueError('encryption_passphrase: one of encryption_passphrase, gpg_public_key or '
                     'disable_encryption=true is required')


# --------------------------------------------------------------------------- argv

def ssh_options(paths, with_key=True):
    """OpenSSH-style -o options: our key, our known_hosts only, strict host key checking.

    duplicity's paramiko backend (sftp, scp) reads -oIdentityFile=, -oUserKnownHostsFile=
    and -oGlobalKnownHostsFile= from --ssh-options (backends/ssh_paramiko_backend.py) and
    fails on an unknown host key when nobody answers its prompt (stdin is /dev/null); the
    rsync backend passes them to ssh -e, where StrictHostKeyChecking=yes applies.
    """
    opts = []
    if with_key:
        # only when the file is written: paramiko does not skip a missing key file
        opts += ['-oIdentityFile=' + paths.ssh_key, '-oIdentitiesOnly=yes']
    opts += ['-oUserKnownHostsFile=' + paths.known_hosts,
            '-oGlobalKnownHostsFile=/dev/null',
            '-oStrictHostKeyChecking=yes']
    return opts


def _backend_args(settings, ctx):
    args = []
    remote = settings.remote
    if remote.uses_ssh:
        args += ['--ssh-options=' + o for o in ssh_options(ctx.paths, settings.ssh_key)]
        if remote.backend == 'rsync':
            args.append('--rsync-options=' + _rsync_mkdir_option(remote, ctx.unit))
    if remote.backend == 'ftps' and settings.ca_certificate:
        args.append('--ssl-cacert-file=' + ctx.paths.ca_file)
    if remote.backend == 's3':
        if settings.s3_endpoint:
            args.append('--s3-endpoint-url=' + settings.s3_endpoint)
        if settings.s3_region:
            args.append('--s3-region-name=' + settings.s3_region)
    return args


def region_problem(region, endpoint=''):
    """Why ``region`` is not an S3 region name botocore and the store accept, or None.

    AWS (no endpoint): lowercase letters, digits and hyphens (eu-west-1); a non-AWS
    endpoint may use any name botocore accepts (letters, digits, hyphens, at most 63).
    """
    if endpoint and _BOTO_REGION_RE.match(region):
        return None
    if not endpoint and _AWS_REGION_RE.match(region):
        return None
    return '{} is not a region name: {}, at most 63 characters, e.g. eu-west-1'.format(
        shown(region), 'letters, digits and hyphens' if endpoint
        else 'lowercase letters, digits and hyphens')


def _rsync_mkdir_option(remote, unit):
    """--rsync-path that creates the target directory before rsync starts on the server.

    rsync only creates the last directory level, and duplicity's first rsync call lists the
    target directory; ``mkdir -p`` via the remote shell works with any rsync version (unlike
    --mkpath, rsync >= 3.2.3 on both ends). The rsync backend splits its command line with
    shlex, and 2.x/3.x strip quotes at both ends of an --rsync-options value
    (cli_util.SplitOptionsAction), so spaces and ``&`` are backslash-escaped instead of quoted.
    Quoting the directory cannot work here: duplicity's shlex.split removes one layer of
    quotes before the remote shell sees the command. The directory is safe because it only
    has characters no shell interprets (remote_path_problem, checked by parse_remote for
    the URL and by unit_slug for the unit suffix, and again here).
    """
    directory = _join(remote.path, unit_slug(unit))
    problem = remote_path_problem(directory)
    if problem:  # parse_remote and unit_slug already refuse these: never reaches a shell
        raise ValueError('remote_backup_url: ' + problem)
    if remote.path.startswith('/'):
        directory = '/' + directory
    return r'--rsync-path=mkdir\ -p\ --\ {}\ \&\&\ rsync'.format(directory)


def always_excluded(paths, gnupg_home=''):
    """What no backup may carry, as duplicity exclude patterns (design.md section 3).

    Every duplicity unit's state, secrets, cache and log directories on the machine (not
    only this unit's), a temporary GnuPG home outside them, and the files in every charm
    directory where charmhelpers keeps config values and unit data
    (duplicity_paths.CHARM_SECRET_FILE_PATTERNS).
    """
    own = list(paths.machine_dirs()) + list(paths.own_dirs()) + [paths.restore_dir]
    if gnupg_home:
        own.append(gnupg_home)
    # a directory inside another excluded one needs no pattern of its own
    dirs = []
    for d in own:
        if d not in dirs and not any(d != o and d.startswith(o.rstrip('/') + '/') for o in own):
            dirs.append(d)
    return dirs + list(CHARM_SECRET_FILE_PATTERNS)


def selection_args(ctx):
    """Excludes first (always_excluded, then the user's patterns), includes, then **.

    duplicity applies the first selection option that matches a path, so nothing a user
    includes can bring back what is always excluded.
    """
    own = always_excluded(ctx.paths, ctx.gnupg_home)
    args = []
    seen = set()
    for pattern in own + list(ctx.excludes):
        if pattern and pattern not in seen:
            seen.add(pattern)
            args.append('--exclude=' + pattern)
    if not ctx.includes:
        raise ValueError('aux_backup_directory: no paths to back up (declare a fileset over the '
                         'backup relation or set aux_backup_directory)')
    for path in ctx.includes:
        if not path.startswith('/'):
            raise ValueError('aux_backup_directory: {!r} is not an absolute path'.format(path))
        args.append('--include=' + path)
    args.append('--exclude=**')
    return args


def _check_time(value, what='time'):
    """A time the caller checked (is_time): a guard, never a second grammar."""
    value = str(value)
    if not is_time(value):
        raise ValueError('{}: {} is not a duplicity time (e.g. now, 3D, 2W, '
                         '2024-01-31T12:00:00Z)'.format(what, shown(value)))
    return value


def _check_count(count):
    try:
        n = int(count)
    except (TypeError, ValueError):
        n = 0
    if isinstance(count, bool) or n < 1 or str(count).strip() != str(n):
        raise ValueError('count: {!r} must be an integer >= 1'.format(count))
    return str(n)


def restore_path(path):
    """Path inside the backup as list-current-files prints it (relative to /), or ''."""
    if path is None:
        return ''
    p = str(path).strip()
    if any(c in p for c in '\n\r\0'):
        raise ValueError('path: {!r} contains control characters'.format(p))
    parts = [x for x in p.split('/') if x]
    if any(x in ('.', '..') for x in parts):
        raise ValueError('path: {!r} must not contain . or .. components'.format(p))
    return '/'.join(parts)


def restore_destination(target, path=None):
    """The directory or file duplicity restores to: ``target/<path>`` (``target`` without path).

    duplicity writes the selected path AS its target argument, while the design recreates
    ``path`` as ``target/<path>``. duplicity does not create missing parents of that
    destination (0.8, 2.1 and 3.x all fail with ENOENT and still exit 0), so the caller must
    ``os.makedirs(os.path.dirname(restore_destination(...)))`` first and check afterwards
    that the destination exists.
    """
    if not target or not str(target).startswith('/'):
        raise ValueError('target: {!r} must be an absolute directory'.format(target))
    return posixpath.normpath(posixpath.join(str(target), restore_path(path)))


def _common_args(settings, ctx):
    """The options every operation takes: this unit's cache, name, temp dir, log, encryption
    and backend options."""
    common = ['--archive-dir=' + ctx.paths.archive_dir,
              '--name=' + unit_slug(ctx.unit),
              '--tempdir=' + ctx.paths.temp_dir,
              '--verbosity=notice',
              '--timeout={}'.format(NETWORK_TIMEOUT)]
    if ctx.log_file:
        common.append('--log-file=' + ctx.log_file)
    return common + _encryption_args(settings, ctx) + _backend_args(settings, ctx)


def _backup_args(settings, ctx, full):
    """The backup command: full, or incremental (``incr`` from 2.0 on)."""
    if backup_type(settings, full) == 'full':
        return ['full']
    return ['incremental' if _v(ctx.version) < V_PATH_TO_RESTORE else 'incr']


def _backup_options(settings, ctx, full):
    """The options only a backup takes (2.x refuses them elsewhere)."""
    options = ['--volsize={}'.format(settings.volsize)]
    if backup_type(settings, full) == 'incremental':
        options.append('--full-if-older-than=' + settings.full_if_older_than)
    options += duplicity_tuning.concurrency_args(settings.concurrency, ctx.version)
    options += duplicity_tuning.compression_args(settings.compression,
                                                 settings.encryption != 'disabled', ctx.version,
                                                 settings.compression_auto)
    return options


def backup_type(settings, full=False):
    """'full' or 'incremental': what a backup with these settings asks duplicity for."""
    return 'full' if full or settings.full_if_older_than == 'always' else 'incremental'


def build_argv(operation, settings, ctx, *, full=False, time=None, path=None, target=None,
               count=None, compare_data=False):
    """The duplicity argv (a list, never a shell string) for one operation.

    ``settings`` is a parsed DuplicitySettings (duplicity_settings): nothing is validated or
    parsed again here, and it holds no secret value.
    """
    if operation not in OPERATIONS:
        raise ValueError('unknown operation {!r}'.format(operation))
    version = _v(ctx.version)
    url = target_url(settings, ctx)
    common = _common_args(settings, ctx)
    if operation == 'backup':
        argv = _backup_args(settings, ctx, full) + common + _backup_options(settings, ctx, full)
        argv += selection_args(ctx)
        argv += ['/', url]
    elif operation == 'collection-status':
        argv = ['collection-status'] + common + [url]
    elif operation == 'list-current-files':
        argv = ['list-current-files'] + common
        if time:
            argv.append('--restore-time=' + _check_time(time))
        argv.append(url)
    elif operation == 'restore':
        if not target or not str(target).startswith('/'):
            raise ValueError('target: {!r} must be an absolute directory'.format(target))
        argv = ['restore'] + common
        if time:
            argv.append('--restore-time=' + _check_time(time))
        rel = restore_path(path)
        if rel:
            opt = '--file-to-restore=' if version < V_PATH_TO_RESTORE else '--path-to-restore='
            argv.append(opt + rel)
        argv += [url, restore_destination(target, rel)]
    elif operation == 'verify':
        argv = ['verify'] + common
        if compare_data:
            argv.append('--compare-data')
        if time:
            argv.append('--restore-time=' + _check_time(time))
        argv += selection_args(ctx)
        argv += [url, '/']
    elif operation == 'remove-older-than':
        if time is None or str(time).strip() == '':
            raise ValueError('time: required for remove-older-than')
        argv = ['remove-older-than', _check_time(time)] + common + ['--force', url]
    elif operation in ('remove-all-but-n-full', 'remove-all-inc-of-but-n-full'):
        argv = [operation, _check_count(count)] + common + ['--force', url]
    else:  # cleanup
        argv = ['cleanup'] + common + ['--force', url]
    return [ctx.duplicity] + argv


def notes(settings, ctx):
    """Settings that the installed duplicity or the chosen backend ignores (for logging)."""
    out = []
    version = _v(ctx.version)
    out += duplicity_tuning.notes(settings.compression, settings.encryption != 'disabled',
                                  settings.concurrency, version)
    if settings.ca_certificate and settings.backend not in ('ftps', 's3'):
        out.append('ca_certificate ignored: only used by the ftps and s3 backends')
    if settings.backend == 'rsync' and settings.password and settings.remote.uses_ssh:
        out.append('remote_password ignored for rsync over SSH (key authentication only)')
    if settings.encryption == 'public-key' and settings.passphrase:
        out.append('encryption_passphrase is not used to encrypt (gpg_public_key takes precedence); '
                   'it is passed as the private key passphrase when restoring')
    return out


# --------------------------------------------------------------------------- environment

def env_vars(settings, secrets, paths, gnupg_home=''):
    """The variables the charm sets for duplicity (secrets included): what the env file holds.

    The secret variables come from duplicity_secrets (its one map of config key to
    variable); the others are settings: GnuPG home, CA bundle, S3 checksum behaviour.
    """
    env = {'GNUPGHOME': gnupg_home or paths.gnupg_home}
    env.update(secret_env(settings.backend, settings.encryption, secrets))
    if settings.backend == 's3':
        if settings.ca_certificate:
            env['AWS_CA_BUNDLE'] = paths.ca_file
        if settings.s3_endpoint:
            env['AWS_REQUEST_CHECKSUM_CALCULATION'] = 'when_required'
            env['AWS_RESPONSE_CHECKSUM_VALIDATION'] = 'when_required'
    return env


def merge_env(base_env, variables, gnupg_home=''):
    """base_env without anything that could override the charm's choices, plus variables."""
    env = {k: v for k, v in base_env.items()
           if k not in SCRUBBED_ENV and not k.startswith(SCRUBBED_ENV_PREFIXES)}
    env.update(variables)
    if gnupg_home:
        env['GNUPGHOME'] = gnupg_home
    return env


# Before 0.8.20, duplicity's paramiko backend (sftp, scp) ignores -oUserKnownHostsFile= and
# reads host keys from ~/.ssh/known_hosts (and /etc/ssh/ssh_known_hosts) only.
USER_KNOWN_HOSTS_OPTION_SINCE = (0, 8, 20)


# What duplicity gained after focal's 0.8.11: (config key, what, its option, first version).
S3_OPTIONS_SINCE = (
    ('s3_endpoint_url', "an S3 endpoint other than AWS's (s3_endpoint_url or the host in "
                        "remote_backup_url)", '--s3-endpoint-url', (0, 8, 15)),
    ('s3_region_name', 's3_region_name', '--s3-region-name', (0, 8, 15)),
)


def version_problems(settings, version):
    """What the installed duplicity (``version``) cannot do of these settings, each naming
    its config key: every run would fail on an option it does not know."""
    if settings.backend != 's3':
        return []
    values = {'s3_endpoint_url': settings.s3_endpoint, 's3_region_name': settings.s3_region}
    return ['{}: {} needs duplicity {} or later ({}); this unit has {}'.format(
        key, what, '.'.join(map(str, since)), option, '.'.join(map(str, version)))
        for key, what, option, since in S3_OPTIONS_SINCE
        if values[key] and _v(version) < since]


def home_dir(settings, ctx):
    """HOME of one duplicity run, or '' for the runner's own (/root): for sftp and scp
    before 0.8.20, paths.ssh_home, whose ~/.ssh/known_hosts is the unit's known_hosts
    (duplicity_charm.ensure_dirs links ~/.ssh to paths.ssh_dir)."""
    if (settings.remote.backend in PARAMIKO_BACKENDS
            and _v(ctx.version) < USER_KNOWN_HOSTS_OPTION_SINCE):
        return ctx.paths.ssh_home
    return ''


def run_env(settings, base_env, variables, gnupg_home='', home=''):
    """The environment of one duplicity run: merge_env, with PASSPHRASE empty where the
    passphrase can only do harm. Encrypting to a public key, the passphrase is for a private
    key (private-key-file, a GnuPG home of its own); with it set and the unit's
    public-key-only home, duplicity 2.x and 3.x try to decrypt the remote manifest before an
    incremental and fail ("No secret key"). Empty, not unset: without PASSPHRASE a restore
    there prompts for one instead of failing to decrypt."""
    env = merge_env(base_env, variables, gnupg_home)
    if home:
        env['HOME'] = home
    if settings.encryption == 'public-key' and not gnupg_home:
        for name in SECRET_ENV['encryption_passphrase']:
            env[name] = ''
    return env


def build_env(settings, secrets, ctx, base_env):
    """The child environment for duplicity: base_env (scrubbed) + secrets and settings."""
    return run_env(settings, base_env, env_vars(settings, secrets, ctx.paths, ctx.gnupg_home),
                   ctx.gnupg_home, home_dir(settings, ctx))


# --------------------------------------------------------------------------- secret files

def pem_blocks(text):
    """[(line number, label)] of the -----BEGIN <label>----- lines in text."""
    return [(n, m.group(1)) for n, line in enumerate(text.split('\n'), 1)
            for m in [re.match(r'\s*-----BEGIN ([A-Za-z0-9 ]{1,60})-----', line)] if m]


def _openssh_cipher(blob):
    """The cipher name in an ``openssh-key-v1`` blob (b'none': not encrypted); None if damaged."""
    magic = b'openssh-key-v1\0'
    if not blob.startswith(magic) or len(blob) < len(magic) + 4:
        return None
    size = int.from_bytes(blob[len(magic):len(magic) + 4], 'big')
    cipher = blob[len(magic) + 4:len(magic) + 4 + size]
    return cipher if len(cipher) == size else None


def _key_text(value):
    """private_ssh_key's base64 decoded to the key's text (ValueError naming the key)."""
    text = ''.join(str(value or '').split())
    if not text:
        raise ValueError('private_ssh_key: it is empty')
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError('private_ssh_key: not valid base64 (give the key file base64-encoded, '
                         'e.g. base64 -w0 ~/.ssh/id_ed25519)') from None
    try:
        decoded = raw.decode('ascii')
    except UnicodeDecodeError:
        raise ValueError('private_ssh_key: the decoded value is not a text private key') from None
    decoded = decoded.replace('\r\n', '\n').strip()
    if decoded.startswith('PuTTY-User-Key-File'):
        raise ValueError('private_ssh_key: a PuTTY key (.ppk); export it in OpenSSH format '
                         '(puttygen KEY.ppk -O private-openssh -o KEY)')
    return decoded


def decode_private_key(value, backend=''):
    """private_ssh_key (base64 of an OpenSSH or PEM key) -> key bytes with a final newline.

    The one check of private_ssh_key: the validator and the secret-file writer both call
    it. Accepted: one unencrypted key, ``OPENSSH``, ``RSA``, ``EC`` or ``DSA PRIVATE KEY``,
    and for rsync over SSH (the OpenSSH client) also PKCS#8 ``PRIVATE KEY``, which
    duplicity's sftp/scp backend (paramiko) cannot read. A passphrase-protected key is
    refused: rsync runs ssh in batch mode (no prompt) and paramiko would take
    remote_password as the key's passphrase, so it could not be used. Messages describe
    the value, never show any of it.
    """
    decoded = _key_text(value)
    blocks = pem_blocks(decoded)
    if len(blocks) > 1:
        raise ValueError('private_ssh_key: the decoded value holds {} PEM blocks; give one '
                         'private key'.format(len(blocks)))
    m = re.fullmatch(r'-----BEGIN ([A-Z0-9 ]{1,60})-----\n(.*?)\n?-----END ([A-Z0-9 ]{1,60})-----',
                     decoded, re.S)
    if not m:
        raise ValueError('private_ssh_key: the decoded value is not an OpenSSH or PEM private key '
                         '(expected -----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE '
                         'KEY----- and nothing else)')
    label, body, end = m.groups()
    if label != end:
        raise ValueError('private_ssh_key: its BEGIN and END lines do not match (a truncated '
                         'paste, or two keys?)')
    lines = [line.strip() for line in body.split('\n') if line.strip()]
    headers = [line for line in lines if ':' in line]
    if label == 'ENCRYPTED PRIVATE KEY' or any(h.replace(' ', '') == 'Proc-Type:4,ENCRYPTED'
                                               for h in headers):
        raise _encrypted_key_error()
    if label not in PRIVATE_KEY_LABELS:
        raise ValueError('private_ssh_key: the decoded value is a {} block, not an SSH private key '
                         '(OpenSSH or PEM: {})'.format(label, ', '.join(PRIVATE_KEY_LABELS)))
    if label == 'PRIVATE KEY' and backend in PARAMIKO_BACKENDS:
        raise ValueError('private_ssh_key: a PKCS#8 key (BEGIN PRIVATE KEY), which the {} '
                         "backend (paramiko) cannot read; convert it: ssh-keygen -p -N '' -f "
                         'KEYFILE rewrites it in OpenSSH format'.format(backend))
    try:
        blob = base64.b64decode(''.join(line for line in lines if ':' not in line),
                                validate=True)
    except (binascii.Error, ValueError):
        blob = b''
    if not blob:
        raise ValueError('private_ssh_key: the key body is not base64 (a damaged paste?)')
    if label == 'OPENSSH PRIVATE KEY':
        cipher = _openssh_cipher(blob)
        if cipher is None:
            raise ValueError('private_ssh_key: the key body is not an OpenSSH private key '
                             '(a damaged paste?)')
        if cipher != b'none':
            raise _encrypted_key_error()
    return (decoded + '\n').encode('ascii')


def _encrypted_key_error():
    return ValueError("private_ssh_key: the key is passphrase-protected, which the charm cannot "
                      "unlock (rsync runs ssh without a prompt; remote_password is the login's); "
                      "give an unencrypted copy: ssh-keygen -p -N '' -f COPY_OF_KEYFILE")


def _line_numbers(numbers):
    """'line 3', 'lines 1, 4', 'lines 1-27', 'lines 1, 3, 5, 7, 9 and 4 more'."""
    if len(numbers) == 1:
        return 'line {}'.format(numbers[0])
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return 'lines {}-{}'.format(numbers[0], numbers[-1])
    shown_numbers = ', '.join(str(n) for n in numbers[:5])
    more = len(numbers) - 5
    return 'lines {}{}'.format(shown_numbers, ' and {} more'.format(more) if more > 0 else '')


def _ssh_strings(blob):
    """blob as SSH wire-format strings, or None when it is not exactly a sequence of them.

    A plain public key blob is one (type, then mpints or strings): a truncated or padded
    paste is not. Certificates carry integers too: only their first string is returned.
    """
    out, offset = [], 0
    while offset < len(blob):
        if len(blob) - offset < 4:
            return None
        size = int.from_bytes(blob[offset:offset + 4], 'big')
        value = blob[offset + 4:offset + 4 + size]
        if len(value) != size:
            return out[:1] if out and out[0].endswith(b'-cert-v01@openssh.com') else None
        out.append(value)
        offset += 4 + size
        if out[0].endswith(b'-cert-v01@openssh.com'):
            return out
    return out


_HOST_PATTERN_RE = re.compile(r'[A-Za-z0-9.:*?!\[\]_,|/+=-]+\Z')


def _known_hosts_entry(line, host, port):
    """One known_hosts line normalised for host:port, or None when it is not one."""
    if any(ord(c) < 32 and not c.isspace() for c in line):
        return None
    fields = line.split()
    marker = []
    if fields[0].startswith('@'):
        if fields[0] not in ('@cert-authority', '@revoked'):
            return None
        marker, fields = [fields[0]], fields[1:]
    if fields and _KEY_TYPE_RE.match(fields[0]):
        fields = [host] + fields
    if len(fields) < 3 or not _HOST_PATTERN_RE.match(fields[0]) or \
            not _KEY_TYPE_RE.match(fields[1]) or not re.fullmatch(r'[A-Za-z0-9+/]+={0,2}', fields[2]):
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    strings = _ssh_strings(blob)
    if not strings or strings[0] != fields[1].encode('ascii') or \
            (len(strings) < 2 and not fields[1].endswith('-cert-v01@openssh.com')):
        return None  # a damaged key, or one of another type than the line says
    if port != 22:
        pats = []
        for pat in fields[0].split(','):
            if pat.startswith(('[', '|', '!')):
                pats.append(pat)
            else:
                pats.append('[{}]:{}'.format(pat, port))
        fields[0] = ','.join(pats)
    return ' '.join(marker + fields)


def known_hosts_lines(text, host, port):
    """Normalise the known_host_key lines for host:port.

    The one check of known_host_key: the validator and the secret-file writer both call it.
    A line with only a key (``ssh-ed25519 AAAA...``) gets the host prepended; for a port
    other than 22 plain host patterns become ``[host]:port`` (how OpenSSH and paramiko
    look up non-standard ports). Hashed (``|1|``) and bracketed patterns are kept. A key's
    base64 must decode to a key of the type the line names. Messages give line numbers
    and kinds, never content (a private key pasted here must not reach the status).
    """
    port = port or 22
    lines = str(text or '').replace('\r\n', '\n').replace('\r', '\n').split('\n')
    for number, kind in pem_blocks('\n'.join(lines)):
        if 'PRIVATE' in kind.upper():
            raise ValueError('known_host_key: {} starts a private key: never paste a private key '
                             'here (it is not shown; treat it as exposed); give the server\'s '
                             'public host key lines (ssh-keyscan -p PORT HOST)'.format(
                                 _line_numbers([number])))
        raise ValueError('known_host_key: {} starts a PEM block (-----BEGIN ...), not a '
                         'known_hosts line; give the output of ssh-keyscan -p PORT HOST'.format(
                             _line_numbers([number])))
    out, bad = [], []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        entry = _known_hosts_entry(line, host, port)
        if entry is None:
            bad.append(number)
        else:
            out.append(entry)
    if bad:
        raise ValueError('known_host_key: {} {} ([host] key-type base64-key, as printed by '
                         'ssh-keyscan -p PORT HOST; the key must decode to its key type)'.format(
                             _line_numbers(bad), 'is not a known_hosts entry' if len(bad) == 1
                             else 'are not known_hosts entries'))
    if not out:
        raise ValueError('known_host_key: no known_hosts line given (required for SSH backends; '
                         'run ssh-keyscan -p PORT HOST)')
    return out


def secret_files(settings, secrets, paths):
    """Root-only files to write (SSH key, known_hosts, CA), in content order.

    ``settings`` is a parsed Settings (duplicity_settings): its known_hosts lines and CA
    certificate were checked when it was parsed; the key is read with the same function
    that checked it. The env file has one writer of its own (duplicity_charm.render_runtime,
    from env_vars).
    """
    files = []
    remote = settings.duplicity.remote
    if remote.uses_ssh:
        if settings.duplicity.ssh_key:
            files.append(SecretFile(paths.ssh_key, decode_private_key(secrets.private_ssh_key,
                                                                      remote.backend)))
        files.append(SecretFile(paths.known_hosts,
                                ('\n'.join(settings.known_hosts) + '\n').encode('utf-8')))
    if settings.ca_pem and remote.backend in ('ftps', 's3'):
        files.append(SecretFile(paths.ca_file, settings.ca_pem.encode('ascii', 'replace')))
    return files
