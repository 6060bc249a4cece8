"""Credentials the Juju way, on the built charm: a user secret (credentials_secret) and the
s3-credentials relation (v0 and v1), with real duplicity against moto and Azurite.

The config holds no credential in these tests: every key, passphrase and connection string
comes from a Juju secret or from the s3 provider's relation data. Every backup is restored
and compared byte for byte.
"""

import base64
import json
import os
import time

import pytest

from servers.s3_provider import FakeS3Provider

from .helpers import make_tree, snapshot

CREDENTIAL_KEYS = ("remote_user", "remote_password", "private_ssh_key", "aws_access_key_id",
                   "aws_secret_access_key", "azure_connection_string", "encryption_passphrase")
PASSPHRASE = "credentials-secret-passphrase-7d2f1"


def no_credential_in_config(d):
    assert not any(d.app.config.get(key) for key in CREDENTIAL_KEYS), d.app.config


def backup_and_restore(d, src, tmp_path, name, expect_type=None):
    """do-backup, then restore everything into a new directory and compare."""
    result = d.ok("do-backup")
    if expect_type:
        assert result["backup-type"] == expect_type, result
    target = tmp_path / name
    d.ok("restore", target=str(target))
    assert snapshot(target / str(src).lstrip("/")) == snapshot(src)
    return result


def charm_text(d):
    """What the charm said and did: logs, statuses, hook and action output, tool calls (not
    the output of config-get and secret-get: that is the credentials given to the charm)."""
    parts = [json.dumps(d.unit.status_history)]
    parts += [message for _, message in d.unit.logs]
    parts += [out + err for _, _, out, err in d.unit.outputs]
    for call in d.unit.tool_calls:
        if call["tool"] in ("config-get", "secret-get"):
            call = {k: v for k, v in call.items() if k != "stdout"}
        parts.append(json.dumps(call))
    return "\n".join(parts)


def no_failed_backup(d):
    assert not any("backup failed" in message for _, message in d.unit.status_history), \
        d.unit.status_history


def test_every_credential_from_a_juju_secret_backs_up_to_moto_and_azurite_and_rotates(
        deploy, tmp_path, s3_server, azurite_server):
    """One unit: S3 keys and passphrase only in a secret; then Azure, its connection string
    added as a new revision; then the Azurite key is rotated: the old one stops working and
    the secret's new revision switches the unit over without a failed backup."""
    d = deploy()
    src = tmp_path / "srv"
    make_tree(src, seed=3, files=6, size=1024)
    d.declare(fileset=str(src))
    bucket = s3_server.create_bucket("creds-secret")
    uri = d.model.add_secret({
        "encryption-passphrase": PASSPHRASE,
        "aws-access-key-id": s3_server.access_key,
        "aws-secret-access-key": s3_server.secret_key})
    d.model.grant_secret(uri, d.app.name)
    d.configure(backend="s3", remote_backup_url="s3:///{}/a".format(bucket),
                s3_endpoint_url=s3_server.endpoint_url, credentials_secret=uri)
    no_credential_in_config(d)
    assert d.unit.status == ("active", "ready; no backup yet; credentials from "
                                       "credentials_secret"), d.unit.status
    assert d.model.secret_revision(uri, d.unit) == 1
    backup_and_restore(d, src, tmp_path, "restored-s3", "full")
    assert s3_server.list_keys(bucket, "a/")
    assert any("from credentials_secret" in message for _, message in d.unit.logs)

    # Azure: the connection string arrives as revision 2 (secret-changed), then backend=azure
    content = {"encryption-passphrase": PASSPHRASE,
               "azure-connection-string": azurite_server.connection_string}
    assert d.model.update_secret(uri, content) == 2
    assert d.model.secret_revision(uri, d.unit) == 2  # secret-changed ran with --refresh
    refreshed = [c for c in d.unit.calls_to("secret-get") if c["hook"] == "secret-changed"]
    assert refreshed and all("--refresh" in c["argv"] for c in refreshed)
    d.configure(backend="azure", remote_backup_url="azure://creds", s3_endpoint_url="")
    no_credential_in_config(d)
    assert d.unit.status[0] == "active", d.unit.status
    backup_and_restore(d, src, tmp_path, "restored-azure", "full")

    # rotation: the server takes a new key only; the old connection string now fails
    old_connection = azurite_server.connection_string
    azurite_server.rotate_key(base64.b64encode(os.urandom(64)).decode())
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import BlobServiceClient
    with pytest.raises(HttpResponseError, match="failed to authenticate"):
        list(BlobServiceClient.from_connection_string(old_connection).list_containers())
    (src / "d1" / "after-rotation.txt").write_text("written after the key rotation\n")
    time.sleep(1.1)  # backup ids have a resolution of one second
    d.model.update_secret(uri, dict(content,
                                    **{"azure-connection-string":
                                       azurite_server.connection_string}))
    assert d.unit.status[0] == "active", d.unit.status
    backup_and_restore(d, src, tmp_path, "restored-rotated", "incremental")
    no_failed_backup(d)


def test_an_unreadable_credentials_secret_blocks_with_the_command_to_run(deploy, tmp_path):
    """Not a URI, unknown, a key of another name, not granted: each blocks the unit with what
    to run, removes the schedule, echoes no value; granting is then all it takes."""
    d = deploy()
    d.declare(fileset=str(tmp_path))
    d.configure(backend="file", remote_backup_url="file://{}/b".format(tmp_path),
                encryption_passphrase=PASSPHRASE, backup_frequency="daily")
    assert d.unit.status[0] == "active", d.unit.status
    cron = "/etc/cron.d/charm-duplicity-" + d.unit.name.replace("/", "-")
    assert os.path.exists(cron)
    wrong_key = d.model.add_secret({"passphrase": "do-not-show-wrong-key"},
                                   grants=[d.app.name])
    ungranted = d.model.add_secret({"encryption-passphrase": "do-not-show-ungranted"})
    cases = [
        ("do-not-show-pasted-value", "not a secret URI"),  # a secret in the wrong key
        ("secret:" + "0" * 20, "check the URI with `juju secrets`"),
        (wrong_key, "unknown key(s) passphrase: use "),
        (ungranted, "run `juju grant-secret {} {}`".format(ungranted, d.app.name)),
    ]
    for uri, expected in cases:
        d.configure(credentials_secret=uri)
        state, message = d.unit.status
        assert state == "blocked" and message.startswith("credentials_secret: "), message
        assert expected in message, message
        assert not os.path.exists(cron)
        assert d.action("do-backup").status == "failed"
    text = charm_text(d)
    assert "do-not-show" not in text and "Traceback" not in text
    d.model.grant_secret(ungranted, d.app.name)  # the next hook reads it
    d.unit.run_hook("update-status")
    assert d.unit.status[0] == "active", d.unit.status
    assert os.path.exists(cron)
    assert ("INFO", "encryption_passphrase is set in both the config and credentials_secret: "
            "the secret's value is used") in d.unit.logs


def test_credentials_secret_on_juju_before_3_3_blocks(deploy, tmp_path):
    d = deploy(juju_version="3.1.8")
    d.declare(fileset=str(tmp_path))
    d.configure(backend="file", remote_backup_url="file://{}/b".format(tmp_path),
                encryption_passphrase=PASSPHRASE, credentials_secret="secret:" + "1" * 20)
    state, message = d.unit.status
    assert state == "blocked" and "user secrets need Juju 3.3 or later" in message, message
    assert not d.unit.calls_to("secret-get")


@pytest.mark.parametrize("version", [0, 1])
def test_an_s3_provider_is_all_the_s3_backend_needs_and_departing_blocks(
        deploy, tmp_path, s3_server, version):
    """Relate + backend=s3 + a passphrase (in a user secret): bucket, path, endpoint, region
    and keys come from the provider (v0 plaintext, v1 secret-extra). Departing blocks; the
    backups stay."""
    d = deploy()
    src = tmp_path / "srv"
    make_tree(src, seed=5, files=4, size=1024)
    d.declare(fileset=str(src))
    provider = FakeS3Provider(d.model, d.app.name, version=version)
    assert provider.requested().get("requested-secrets") == '["access-key", "secret-key"]'
    bucket = s3_server.create_bucket("creds-provider-v{}".format(version))
    provider.publish(s3_server, bucket, path="from/provider")
    passphrase = d.model.add_secret({"encryption-passphrase": PASSPHRASE},
                                    grants=[d.app.name])
    d.configure(backend="s3", credentials_secret=passphrase)  # as README recommends
    no_credential_in_config(d)
    assert d.unit.status == ("active", "ready; no backup yet; credentials from "
                                       "credentials_secret and s3-credentials"), d.unit.status
    backup_and_restore(d, src, tmp_path, "restored", "full")
    keys = s3_server.list_keys(bucket, "from/provider/")
    assert keys

    d.model.depart(provider.relation)
    state, message = d.unit.status
    assert state == "blocked" and message.startswith("s3-credentials: the relation"), message
    assert "existing backups untouched" in message
    assert d.action("do-backup").status == "failed"
    assert s3_server.list_keys(bucket, "from/provider/") == keys
    text = charm_text(d)
    assert "Traceback" not in text
    if version == 1:  # v0: the keys are in the relation data relation-get returns
        assert s3_server.secret_key not in text
