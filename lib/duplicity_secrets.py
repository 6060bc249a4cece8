"""The charm's secrets: which config keys hold them, where they go, how they are kept out of text.

The one place that knows the secret config keys and the environment variables that carry
them to duplicity (``SECRET_ENV``); every other list (the keys ``public_config`` hides, the
variables the runner redacts, the variables never inherited from the caller) is derived from
it. Standard library only: the cron runner imports it with the system python3 (3.8).

- ``Secrets``: the secret values of one config, never shown (``repr`` hides them);
- ``secret_env(settings, secrets)``: the secret variables of the env file;
- ``secret_values`` / ``env_secret_values``: every secret string, from a config or from the
  env file, for redaction and leak checks;
- ``redact``: the one replacement of secret values in text;
- ``shown``: the one capped echo of a value that cannot be secret.
"""

import base64
import binascii
from collections import OrderedDict
from dataclasses import dataclass, fields

# config key -> the environment variables that carry its value to duplicity (private_ssh_key
# goes to a root-only file, never to the environment).
SECRET_ENV = OrderedDict([
    ("encryption_passphrase", ("PASSPHRASE",)),
    # Backend.get_password (duplicity/backend.py) reads FTP_PASSWORD up to 2.x; 3.x reads
    # BACKEND_PASSWORD first and warns that FTP_PASSWORD is deprecated. Both are set so the
    # same env file serves every version.
    ("remote_password", ("BACKEND_PASSWORD", "FTP_PASSWORD")),
    ("aws_access_key_id", ("AWS_ACCESS_KEY_ID",)),
    ("aws_secret_access_key", ("AWS_SECRET_ACCESS_KEY",)),
    ("azure_connection_string", ("AZURE_CONNECTION_STRING",)),
    ("private_ssh_key", ()),
])
# Config keys whose values are secrets: never logged, never in status or spec files.
SECRET_KEYS = tuple(SECRET_ENV)
SECRET_VARIABLES = tuple(var for variables in SECRET_ENV.values() for var in variables)
# Variables that must never leak from the caller into duplicity: the secret variables and
# what else would override the charm's choices (key material, ssh agent, rsync shell).
SCRUBBED_ENV = SECRET_VARIABLES + (
    "SIGN_PASSPHRASE", "RSYNC_PASSWORD", "RSYNC_RSH", "SSH_AUTH_SOCK", "SSH_AGENT_PID",
    "GNUPGHOME", "AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_KEY", "AZURE_SHARED_ACCESS_SIGNATURE",
    "BOTO_CONFIG", "BOTO_PATH")
SCRUBBED_ENV_PREFIXES = ("AWS_",)
# Backends that log in with remote_password.
PASSWORD_BACKENDS = ("sftp", "scp", "rsync", "ftp", "ftps")
# Secrets shorter than this cannot be kept out of messages: redact() replaces values of at
# least this length only (a shorter one would mangle every message it occurs in), so the
# validators refuse shorter passwords, passphrases and keys.
MIN_SECRET_LENGTH = 4
# Longest echo of a (non-secret) value in a message.
SHOWN_LIMIT = 40
# Parts of an Azure connection string that are secrets by themselves.
_AZURE_SECRET_PARTS = ("accountkey", "sharedaccesssignature")


def shown(value, limit=SHOWN_LIMIT):
    """repr(value) for a message, capped at ``limit`` characters (ending with '…').

    Only for values that cannot be secret; secrets and values that may carry one (URLs,
    keys, certificates) are described, never shown.
    """
    text = repr(value)
    if len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    return text


def redact(text, values):
    """text with every secret value (of at least MIN_SECRET_LENGTH) replaced by ``***``,
    longest first."""
    for value in sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH},
                        key=len, reverse=True):
        text = text.replace(value, "***")
    return text


@dataclass(frozen=True)
class Secrets:
    """The secret values of a config, as duplicity gets them ('' when unset).

    ``repr`` never shows a value. Only the hooks hold one: the runner reads the env file.
    """
    encryption_passphrase: str = ""     # as given (a passphrase may end in a space)
    remote_password: str = ""           # as given
    aws_access_key_id: str = ""         # stripped
    aws_secret_access_key: str = ""     # stripped
    azure_connection_string: str = ""   # stripped
    private_ssh_key: str = ""           # the config value (base64), as given

    def __repr__(self):
        return "Secrets({})".format(", ".join(
            "{}={}".format(f.name, "<set>" if getattr(self, f.name) else "''")
            for f in fields(self)))

    @classmethod
    def from_config(cls, config):
        def text(key, strip):
            value = config.get(key)
            if not isinstance(value, str):
                return ""
            return value.strip() if strip else value
        return cls(encryption_passphrase=text("encryption_passphrase", False),
                   remote_password=text("remote_password", False),
                   aws_access_key_id=text("aws_access_key_id", True),
                   aws_secret_access_key=text("aws_secret_access_key", True),
                   azure_connection_string=text("azure_connection_string", True),
                   private_ssh_key=text("private_ssh_key", False))


def secret_env(backend, encryption, secrets):
    """The secret variables of duplicity's environment (what the env file carries besides the
    non-secret settings), for ``backend`` and the encryption mode (duplicity_settings)."""
    wanted = {
        # public-key: backups need no passphrase (dup_main.get_passphrase); restore, verify
        # and list decrypt with the private key and would prompt without PASSPHRASE: give
        # the key's passphrase if there is one, else the empty string.
        "encryption_passphrase": encryption in ("passphrase", "public-key"),
        "remote_password": backend in PASSWORD_BACKENDS and bool(secrets.remote_password),
        "aws_access_key_id": backend == "s3" and bool(secrets.aws_access_key_id),
        "aws_secret_access_key": backend == "s3" and bool(secrets.aws_secret_access_key),
        "azure_connection_string": backend == "azure" and bool(secrets.azure_connection_string),
    }
    env = {}
    for key, variables in SECRET_ENV.items():
        if wanted.get(key):
            for variable in variables:
                env[variable] = getattr(secrets, key)
    return env


def _azure_parts(connection_string):
    out = []
    for part in (connection_string or "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() in _AZURE_SECRET_PARTS and value.strip():
            out.append(value.strip())
    return out


def _key_material(value):
    """The body of a (leniently decoded) private_ssh_key: a key the checks refuse is still a
    secret."""
    try:
        decoded = base64.b64decode("".join(value.split()) + "===").decode("ascii", "replace")
    except (binascii.Error, ValueError):
        decoded = ""
    body = [ln.strip() for ln in decoded.splitlines()
            if ln.strip() and not ln.strip().startswith("-----") and ":" not in ln]
    if not body:
        return []
    return ["".join(body)] + [ln for ln in body if len(ln) >= 16]


def _unique_longest_first(values):
    seen, out = set(), []
    for value in sorted(values, key=len, reverse=True):
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def secret_values(config):
    """Every secret string in config (for redaction and leak checks), longest first: each
    SECRET_KEYS value (and its stripped form), decoded key material, the secret parts of the
    Azure connection string."""
    values = []
    for key in SECRET_KEYS:
        value = config.get(key)
        if isinstance(value, str) and value.strip():
            values.append(value)
            if value.strip() != value:
                values.append(value.strip())
    key = config.get("private_ssh_key")
    if isinstance(key, str) and key.strip():
        values.extend(_key_material(key))
    conn = config.get("azure_connection_string")
    values.extend(_azure_parts(conn if isinstance(conn, str) else ""))
    return _unique_longest_first(values)


def env_secret_values(env):
    """Every secret value in an environment (the runner's env file), for redaction."""
    values = [env[var] for var in SECRET_VARIABLES if isinstance(env.get(var), str) and env[var]]
    values.extend(_azure_parts(env.get("AZURE_CONNECTION_STRING") or ""))
    return _unique_longest_first(values)
