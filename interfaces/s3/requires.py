"""Requires side of the ``s3`` interface: the charm that stores objects in S3.

The provider (s3-integrator, Ceph RGW, MinIO charms) publishes in its **application**
databag, as plain strings:

``bucket`` (required), ``path``, ``endpoint`` (``http(s)://host[:port]``), ``region``,
``s3-uri-style`` (``host`` or ``path``), ``tls-ca-chain`` (a JSON list of PEM certificates),
and the keys:

- v0: ``access-key`` and ``secret-key`` in the databag itself;
- v1: ``secret-extra``, the URI of a Juju secret holding ``access-key`` and ``secret-key``,
  granted by the provider to this application (read with ``secret-get``).

This side's leader publishes in its own application databag ``requested-secrets``
(``["access-key", "secret-key"]``) and ``lib-version`` (``1.0``), which tell a v1 provider
that this requirer reads ``secret-extra``; a v0 provider ignores them. It asks for no
bucket of its own: the provider's ``bucket`` is used.

Flags (``{endpoint_name}`` is the relation's name in metadata.yaml, e.g. ``s3-credentials``):

* ``endpoint.{endpoint_name}.joined``: set by charms.reactive while a provider unit is
  joined; cleared by it when the last one departs. Never clear it yourself.
* ``endpoint.{endpoint_name}.available``: set by this layer while the provider has
  published a bucket and both keys (v0 fields, or a v1 ``secret-extra``); cleared by this
  layer otherwise. Never clear it yourself.
* ``endpoint.{endpoint_name}.changed``: set by this layer when the provider's application
  data differs from the previous evaluation (``data_changed()``: the framework's own
  ``changed`` flags cover unit data only); cleared by the **charm** once it has acted.
* ``endpoint.{endpoint_name}.departed``: set by charms.reactive when a provider unit
  departs; cleared by the **charm** when handled.

A new revision of a v1 provider's secret arrives as a ``secret-changed`` hook: call
:meth:`S3Requires.credentials` with ``refresh=True`` there.

:func:`parse` is a pure function of the databag and the secret's content; values are never
put in its messages.
"""

import json
import re
import subprocess
from collections import namedtuple

from charms.reactive import Endpoint
from charms.reactive.flags import set_flag, toggle_flag
from charms.reactive.helpers import data_changed

REQUESTED_SECRETS = ["access-key", "secret-key"]
LIB_VERSION = "1.0"

S3 = namedtuple("S3", "bucket path endpoint region ca access_key secret_key notes")
# secret-get's outcome: content (dict of str) or error (secret-get's stderr), one is None
SecretRead = namedtuple("SecretRead", "content error")

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PATH = re.compile(r"[A-Za-z0-9._+=,-]+(?:/[A-Za-z0-9._+=,-]+)*")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/?")
_REGION = re.compile(r"[a-z0-9-]{1,40}")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----")
_SECRET_URI = re.compile(r"secret:(?://[0-9a-f-]{36}/)?[0-9a-v]{20}")


def ca_chain(value):
    """(PEM text, problem): tls-ca-chain is a JSON list of PEM certificates (one PEM string
    is accepted too)."""
    if not value:
        return "", None
    try:
        chain = json.loads(value)
    except ValueError:
        chain = [value]
    if isinstance(chain, str):
        chain = [chain]
    if not isinstance(chain, list) or not chain or not all(
            isinstance(c, str) and _PEM.fullmatch(c.strip().replace("\r\n", "\n"))
            for c in chain):
        return "", "tls-ca-chain is not a list of PEM certificates"
    return "\n".join(c.strip().replace("\r\n", "\n") for c in chain) + "\n", None


def parse(data, secret=None):
    """(S3 or None, problems) from the provider's application databag.

    ``secret``: the SecretRead of ``secret-extra`` (v1), None for v0 or when not read.
    Problems start with ``s3-credentials:`` and never contain a value of the databag.
    """
    data = {k: v for k, v in (data or {}).items() if isinstance(k, str) and isinstance(v, str)}
    if not data.get("bucket"):
        return None, ["s3-credentials: waiting for the provider to publish a bucket"]
    if data.get("secret-extra"):
        if not _SECRET_URI.fullmatch(data["secret-extra"]):
            return None, ["s3-credentials: secret-extra is not a secret URI"]
        if secret is None or secret.error or secret.content is None:
            why = "not granted to this application" if secret is not None and \
                "permission denied" in (secret.error or "").lower() else "unreadable"
            return None, ["s3-credentials: the provider's secret (secret-extra) is {}: check "
                          "the provider (juju status --relations)".format(why)]
        keys = secret.content
    else:
        keys = data
    access, secret_key = keys.get("access-key"), keys.get("secret-key")
    if not isinstance(access, str) or not isinstance(secret_key, str) or \
            not access or not secret_key:
        return None, ["s3-credentials: waiting for the provider to publish access-key and "
                      "secret-key"]
    problems = []
    bucket = data["bucket"]
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        problems.append("s3-credentials: bucket is not a valid S3 bucket name")
    path = data.get("path", "").strip("/")
    if path and (not _PATH.fullmatch(path) or any(
            p in (".", "..") or p.startswith("-") for p in path.split("/"))):
        problems.append("s3-credentials: path may only hold letters, digits and . _ - + , = /")
    endpoint = data.get("endpoint", "")
    if endpoint and not _ENDPOINT.fullmatch(endpoint):
        problems.append("s3-credentials: endpoint is not an http(s)://host[:port] URL")
    region = data.get("region", "")
    if region and not _REGION.fullmatch(region):
        problems.append("s3-credentials: region is not a region name")
    ca, ca_problem = ca_chain(data.get("tls-ca-chain", ""))
    if ca_problem:
        problems.append("s3-credentials: " + ca_problem)
    if any(c in s for s in (access, secret_key) for c in "\r\n\0"):
        problems.append("s3-credentials: access-key or secret-key holds a line break")
    if problems:
        return None, problems
    notes = []
    if data.get("s3-uri-style") == "host":
        notes.append("s3-credentials: s3-uri-style=host noted; duplicity addresses the "
                     "endpoint as given")
    return S3(bucket, path, endpoint.rstrip("/"), region, ca, access, secret_key, notes), []


def secret_get(uri, refresh=False, run=subprocess.run):
    """SecretRead of a secret's whole content (``secret-get URI --format=json``)."""
    argv = ["secret-get", uri, "--format=json"] + (["--refresh"] if refresh else [])
    try:
        proc = run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   universal_newlines=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        return SecretRead(None, "cannot run secret-get: {}".format(type(err).__name__))
    if proc.returncode != 0:
        return SecretRead(None, (proc.stderr or "").strip()[:200] or "secret-get failed")
    try:
        content = json.loads(proc.stdout)
    except ValueError:
        return SecretRead(None, "secret-get printed no JSON")
    if not isinstance(content, dict):
        return SecretRead(None, "secret-get printed no map")
    return SecretRead(content, None)


class S3Requires(Endpoint):
    """The requirer's endpoint (see the module docstring for the flags)."""

    def _relation(self):
        """The first relation with a joined provider unit (its app name is known)."""
        for relation in self.relations:
            if relation.joined_units:
                return relation
        return None

    def provider_data(self):
        """The provider's application databag (dict of str), {} while none is known."""
        relation = self._relation()
        if relation is None:
            return {}
        return dict(relation.received_app_raw.data or {})

    def related(self):
        return self._relation() is not None

    def credentials(self, refresh=False):
        """(S3 or None, problems), reading a v1 ``secret-extra`` with ``secret-get``
        (``refresh``: track its latest revision, as in ``secret-changed``). None, [] while
        not related."""
        if not self.related():
            return None, []
        data = self.provider_data()
        secret = None
        uri = data.get("secret-extra") or ""
        if uri and _SECRET_URI.fullmatch(uri):
            secret = secret_get(uri, refresh=refresh)
        return parse(data, secret)

    def manage_flags(self):
        """Publish what this side asks for; toggle ``available``, set ``changed``."""
        relation = self._relation()
        if relation is not None and self._is_leader():
            published = relation.to_publish_app_raw
            wanted = {"requested-secrets": json.dumps(REQUESTED_SECRETS),
                      "lib-version": LIB_VERSION}
            for key, value in wanted.items():
                if published.get(key) != value:
                    published[key] = value
        data = self.provider_data()
        complete = bool(data.get("bucket")) and bool(
            data.get("secret-extra") or (data.get("access-key") and data.get("secret-key")))
        toggle_flag(self.expand_name("available"), complete)
        if data_changed(self.expand_name("provider-data"), data):
            set_flag(self.expand_name("changed"))

    @staticmethod
    def _is_leader():
        from charmhelpers.core import hookenv
        return hookenv.is_leader()
