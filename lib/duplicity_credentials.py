"""Where the credentials come from: the config, a Juju user secret, the s3-credentials relation.

Pure functions (standard library only) except ``read_secret``, which runs the ``secret-get``
hook tool. The hook side reads the secret and the relation once per hook and calls
``resolve``; the rest of the charm then sees an ordinary config dict (validation, builders,
spec and environment file are unchanged).

Precedence, highest first (README, "Credentials"):

1. the ``s3-credentials`` relation, while related and ``backend`` is ``s3``: bucket and path
   (as ``remote_backup_url``), endpoint, region, CA chain and keys;
2. the Juju user secret named by ``credentials_secret``: the credential keys it holds;
3. the charm config.

A key set in more than one place is logged by name (never its value). Every problem names
``credentials_secret`` or ``s3-credentials`` and the command that fixes it; a value that may
be secret is never echoed.
"""

import json
import re
import subprocess
from collections import namedtuple

# The config keys a user secret may supply. Juju secret keys are lowercase letters, digits
# and single hyphens (no underscores), so the secret names them with "-" for "_".
CREDENTIAL_KEYS = (
    "remote_user",
    "remote_password",
    "private_ssh_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "azure_connection_string",
    "encryption_passphrase",
)
# Juju's grammar of a secret's key (juju/core/secrets: at least 3 characters)
_SECRET_KEY = re.compile(r"[a-z](?:-?[a-z0-9]){2,}")
# secret:<20-character xid>, or secret://<model uuid>/<xid> (both as juju prints them)
_SECRET_URI = re.compile(r"secret:(?://[0-9a-f-]{36}/)?[0-9a-v]{20}")
# juju add-secret's key suffixes (#base64, #file) are resolved by the client: never seen here

USER_SECRETS_SINCE = (3, 3)

SecretRead = namedtuple("SecretRead", "content error")  # one of them is None
Resolved = namedtuple("Resolved", "config notes problems sources")



def version_tuple(text):
    return tuple(int(p) for p in re.findall(r"[0-9]+", text or "")[:3])


def secret_key_of(config_key):
    """aws_access_key_id -> aws-access-key-id (the name in the Juju secret)."""
    return config_key.replace("_", "-")


SECRET_NAMES = {secret_key_of(k): k for k in CREDENTIAL_KEYS}


def valid_secret_uri(value):
    return bool(_SECRET_URI.fullmatch(value or ""))


def secret_get_argv(uri, refresh=False):
    """``secret-get`` for the whole content, as JSON. ``--refresh`` moves this unit to the
    latest revision (secret-changed, or a new URI); without it Juju returns the revision
    the unit tracks, so a hook renders what the last secret-changed chose."""
    return ["secret-get", uri, "--format=json"] + (["--refresh"] if refresh else [])


def read_secret(uri, refresh=False, run=subprocess.run):
    """SecretRead from ``secret-get``; never raises and never carries the content in error."""
    try:
        proc = run(secret_get_argv(uri, refresh), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, universal_newlines=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        return SecretRead(None, "cannot run secret-get: {}".format(type(err).__name__))
    if proc.returncode != 0:
        return SecretRead(None, (proc.stderr or "").strip()[:200] or
                          "secret-get exited {}".format(proc.returncode))
    try:
        content = json.loads(proc.stdout)
    except ValueError:
        return SecretRead(None, "secret-get printed no JSON")
    if not isinstance(content, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in content.items()):
        return SecretRead(None, "secret-get printed no map of strings")
    return SecretRead(content, None)


def secret_problem(uri, app, error):
    """The operator's next step for a secret-get failure (stderr of real Juju: 'ERROR
    secret "..." not found', 'ERROR permission denied')."""
    text = (error or "").lower()
    if "permission denied" in text:
        return ("credentials_secret: this application may not read {uri}: run "
                "`juju grant-secret {uri} {app}`".format(uri=uri, app=app))
    if "not found" in text:
        return ("credentials_secret: secret {uri} not found: check the URI with "
                "`juju secrets` (juju add-secret prints it)".format(uri=uri))
    return "credentials_secret: cannot read {}: secret-get failed (see juju debug-log)".format(
        uri)


def secret_values(content):
    """(config values, problems) from a secret's content: dashed keys -> config keys."""
    values, unknown = {}, []
    for key in sorted(content):
        name = SECRET_NAMES.get(key)
        if name is None and key in CREDENTIAL_KEYS:
            name = key  # not a key Juju accepts, but unambiguous
        if name is None:
            # a key name is not secret, but it may be garbage: show it only when valid
            unknown.append(key if _SECRET_KEY.fullmatch(key) and len(key) <= 40 else "(invalid)")
            continue
        values[name] = content[key]
    problems = []
    if unknown:
        problems.append("credentials_secret: unknown key(s) {}: use {} (`juju update-secret "
                        "<uri> ...`)".format(", ".join(unknown), ", ".join(sorted(SECRET_NAMES))))
    return values, problems


# ------------------------------------------------------------------------- s3-credentials
# (the relation data is parsed by the interface layer, interfaces/s3/requires.py: parse)

def s3_config(s3):
    """The config keys an S3 from the relation sets."""
    url = "s3:///" + s3.bucket + ("/" + s3.path if s3.path else "")
    values = {"remote_backup_url": url, "aws_access_key_id": s3.access_key,
              "aws_secret_access_key": s3.secret_key}
    if s3.endpoint:
        values["s3_endpoint_url"] = s3.endpoint.rstrip("/")
    if s3.region:
        values["s3_region_name"] = s3.region
    if s3.ca:
        values["ca_certificate"] = s3.ca
    return values


# ------------------------------------------------------------------------------- resolve

def resolve(config, secret=None, s3=None, s3_related=False, s3_lost=False,
            juju_version="", app="duplicity"):
    """Resolved(config, notes, problems, sources) for this hook.

    - ``secret``: SecretRead of ``credentials_secret`` (None when it is not set or was not
      read, e.g. on Juju < 3.3);
    - ``s3``: ``parse_s3``'s (S3 or None, problems) while related, else None;
    - ``s3_related``: the relation exists; ``s3_lost``: it supplied the s3 backend and was
      removed (blocked until it is back, or the operator changes backend or
      remote_backup_url);
    - ``sources``: {config key: "config" | "secret" | "s3-credentials"} of credential keys.
    """
    effective = dict(config)
    notes, problems = [], []
    sources = {k: "config" for k in CREDENTIAL_KEYS if config.get(k)}
    uri = (config.get("credentials_secret") or "").strip()
    if uri:
        if version_tuple(juju_version) < USER_SECRETS_SINCE:
            problems.append("credentials_secret: user secrets need Juju 3.3 or later (this is "
                            "{}): upgrade the model, or unset credentials_secret".format(
                                ".".join(map(str, version_tuple(juju_version))) or "?"))
        elif not valid_secret_uri(uri):
            problems.append("credentials_secret: not a secret URI: give the secret:<id> that "
                            "`juju add-secret` printed")
        elif secret is None or secret.error:
            problems.append(secret_problem(uri, app, secret.error if secret else ""))
        else:
            values, bad = secret_values(secret.content)
            problems.extend(bad)
            for key, value in sorted(values.items()):
                if config.get(key):
                    notes.append("{} is set in both the config and credentials_secret: the "
                                 "secret's value is used".format(key))
                effective[key] = value
                sources[key] = "secret"
    backend = (config.get("backend") or "").strip().lower()
    if backend == "s3" and s3 is not None:
        parsed, bad = s3
        problems.extend(bad)
        if parsed is not None:
            notes.extend(parsed.notes)
            for key, value in sorted(s3_config(parsed).items()):
                if effective.get(key) and effective.get(key) != value:
                    notes.append("{} is set in the {} and by the s3-credentials relation: the "
                                 "relation's value is used".format(
                                     key, "secret" if sources.get(key) == "secret" else "config"))
                effective[key] = value
                if key in CREDENTIAL_KEYS:
                    sources[key] = "s3-credentials"
    elif backend == "s3" and s3_lost and not s3_related:
        problems.append("s3-credentials: the relation that supplied the S3 bucket and keys was "
                        "removed; backups stopped, existing backups untouched: relate an s3 "
                        "provider again (`juju integrate {} s3-integrator`) or set "
                        "remote_backup_url and the aws_* keys".format(app))
    elif backend != "s3" and s3 is not None and s3[0] is not None:
        notes.append("s3-credentials is related but backend is {!r}: set backend=s3 to back up "
                     "to its bucket".format(backend[:20]))
    return Resolved(effective, notes, problems, sources)


# ------------------------------------------------------------------------- hook side

KV_SECRET = "duplicity.credentials-secret"      # the URI last read (refresh when it changes)
KV_S3_SUPPLIED = "duplicity.s3-supplied"        # the config's remote_backup_url then, or None
KV_NOTES = "duplicity.credentials-notes"        # notes last logged
KV_SHOWN = "duplicity.credentials-shown"        # where the credentials come from, for the status


def _secret_id(uri):
    return (uri or "").rstrip("/").rsplit("/", 1)[-1].split(":")[-1]


def load(config, endpoint, env, kv, app, log=None, read=read_secret):
    """Resolved for this hook: reads ``credentials_secret`` (``--refresh`` in its
    secret-changed and when the URI changed) and the s3-credentials endpoint (an
    ``S3Requires``, or None); keeps in ``kv`` (charmhelpers unitdata) what it must remember;
    logs changed notes with ``log(text)``. Never raises on what it reads."""
    hook = env.get("JUJU_HOOK_NAME", "")
    changed_id = _secret_id(env.get("JUJU_SECRET_ID")) if hook == "secret-changed" else None
    juju_version = env.get("JUJU_VERSION", "")
    uri = (config.get("credentials_secret") or "").strip()
    secret = None
    if uri and valid_secret_uri(uri) and version_tuple(juju_version) >= USER_SECRETS_SINCE:
        refresh = kv.get(KV_SECRET) != uri or changed_id == _secret_id(uri)
        secret = read(uri, refresh=refresh)
        kv.set(KV_SECRET, uri if secret.content is not None else None)
    related = endpoint is not None and endpoint.related()
    s3 = None
    if related:
        extra = endpoint.provider_data().get("secret-extra")
        s3 = endpoint.credentials(refresh=bool(extra) and changed_id == _secret_id(extra))
    backend = (config.get("backend") or "").strip().lower()
    supplied = kv.get(KV_S3_SUPPLIED)
    if backend != "s3" or (supplied is not None and not related and
                           supplied != (config.get("remote_backup_url") or "")):
        supplied = None  # the operator moved on: no longer blocked on the lost relation
    if backend == "s3" and s3 is not None and s3[0] is not None:
        supplied = config.get("remote_backup_url") or ""
    kv.set(KV_S3_SUPPLIED, supplied)
    resolved = resolve(config, secret=secret, s3=s3, s3_related=related,
                       s3_lost=supplied is not None and not related,
                       juju_version=juju_version, app=app)
    by_source = {}
    for key, source in sorted(resolved.sources.items()):
        by_source.setdefault(source, []).append(key)
    notes = list(resolved.notes)
    others = [name for source, name in (("secret", "credentials_secret"),
                                        ("s3-credentials", "s3-credentials"))
              if source in by_source]
    kv.set(KV_SHOWN, "credentials from {}".format(" and ".join(others)) if others else "")
    if others:
        notes.append("credentials: " + "; ".join(
            "{} from {}".format(", ".join(keys), "credentials_secret" if source == "secret"
                                else source) for source, keys in sorted(by_source.items())))
    if log is not None and notes != kv.get(KV_NOTES):
        for note in notes:
            log(note)
    kv.set(KV_NOTES, notes)
    return resolved
