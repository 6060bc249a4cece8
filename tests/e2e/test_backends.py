"""Every backend of the built charm against a real server on loopback.

Each backend goes through: full backup, change the data, incremental backup, list-backups
(two sets), restore into a new directory, compared byte for byte with the live data. Variants
of a backend (SSH authentication methods, sftp/scp) reuse one unit and add a backup and a
restore each, which keeps the number of deployed units (the slow part) small.

Every program the charm starts (duplicity, and what duplicity starts: ssh, rsync, lftp, gpg)
runs through a wrapper that records its argv, so each test also shows that no secret was
ever on a command line.

The full matrix runs on duplicity 3.x; sftp and s3 also run on 2.1.x and 0.8.x, whose S3
scheme (boto3+s3://) and SSH handling differ, and sftp on focal's 0.8.11 (its host keys come
from ~/.ssh/known_hosts only).
"""

import base64
import os
import re
import subprocess
import time

import pytest

from .argv_recorder import ArgvRecorder
from .helpers import make_tree, require_duplicity, snapshot

PASSPHRASE = "backends-passphrase-5c1e8"
BACKUP_COMMANDS = ("full", "incr", "incremental")


# --------------------------------------------------------------------------- helpers

def deploy_recorded(deploy, tmp_path, version="dup3"):
    """deploy(version) with the argv-recording wrappers first on the unit's PATH."""
    d = deploy(version)
    d.recorder = ArgvRecorder(tmp_path / "wrappers", tmp_path / "argv.log",
                              os.path.join(require_duplicity(version), "duplicity"))
    d.unit.extra_path.insert(0, d.recorder.directory)
    return d


def b64(data):
    return base64.b64encode(data).decode()


def ssh_config(server, auth):
    """Config for an SSH backend: key auth (ed25519 / rsa_pem) or password auth."""
    config = {"remote_user": server.user, "known_host_key": server.known_hosts_line()}
    if auth == "password":
        config["remote_password"] = server.password
    else:
        config["private_ssh_key"] = b64(server.private_keys[auth])
    return config


def files_under(top):
    return sorted(os.path.relpath(os.path.join(dirpath, name), top)
                  for dirpath, _, names in os.walk(top) for name in names)


def backup_change_incremental_restore(d, tmp_path, **config):
    """The round trip every backend goes through; returns the backed-up directory."""
    src = tmp_path / "srv-data"
    make_tree(src, seed=7, files=6, size=2048)
    d.declare(fileset=str(src))
    config.setdefault("encryption_passphrase", PASSPHRASE)
    d.configure(**config)
    assert d.unit.status[0] == "active", d.unit.status

    first = d.ok("do-backup")
    assert first["backup-type"] == "full"
    time.sleep(1.1)  # backup-ids have a resolution of one second

    with open(src / "d1" / "f1.txt", "a") as f:
        f.write("changed after the full backup\n")
    (src / "d2" / "new.bin").write_bytes(os.urandom(3000))
    os.unlink(src / "d0" / "f0.bin")
    second = d.ok("do-backup")
    assert second["backup-type"] == "incremental"
    assert int(second["changed-files"]) >= 1 and int(second["deleted-files"]) >= 1

    listing = d.ok("list-backups")
    assert listing["count"] == "2", listing["backups"]
    rows = listing["backups"].splitlines()[2:]
    assert rows[0].startswith("{} | full | ".format(first["backup-id"]))
    assert rows[1].startswith("{} | incremental | ".format(second["backup-id"]))

    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(src).lstrip("/")) == snapshot(src)
    return src


# --------------------------------------------------------------------------- SSH

def accepted_logins(server, since=0):
    """{"publickey ED25519", "publickey RSA", "password"}: how sshd let clients in."""
    with open(server.log_path) as f:
        f.seek(since)
        text = f.read()
    return {" ".join(filter(None, m)) for m in re.findall(
        r"Accepted (\w+) for \S+ from \S+ port \d+ ssh2(?:: (\w+))?", text)}


def test_sftp_and_scp_back_up_and_restore_with_an_ed25519_key_an_rsa_pem_key_and_a_password(
        deploy, tmp_path, ssh_server):
    """One unit goes through every scheme and authentication: each step backs up (one
    chain, shared by sftp and scp, which store the same files) and restores everything."""
    d = deploy_recorded(deploy, tmp_path)
    url = "127.0.0.1:{}/{}".format(ssh_server.port, ssh_server.remote_dir)
    src = backup_change_incremental_restore(d, tmp_path, backend="sftp", remote_backup_url=url,
                                            **ssh_config(ssh_server, "ed25519"))
    assert accepted_logins(ssh_server) == {"publickey ED25519"}

    logins = {"ed25519": "publickey ED25519", "rsa_pem": "publickey RSA", "password": "password"}
    steps = [("sftp", "rsa_pem"), ("sftp", "password"),
             ("scp", "ed25519"), ("scp", "rsa_pem"), ("scp", "password")]
    for scheme, auth in steps:
        since = os.path.getsize(ssh_server.log_path)
        d.configure(**{"backend": scheme, "private_ssh_key": "", "remote_password": "",
                       **ssh_config(ssh_server, auth)})
        assert d.unit.status[0] == "active", d.unit.status
        (src / "d1" / "{}-{}.txt".format(scheme, auth)).write_text("{} {}\n".format(scheme, auth))
        assert d.ok("do-backup")["backup-type"] == "incremental", (scheme, auth)
        restored = tmp_path / "restored-{}-{}".format(scheme, auth)
        d.ok("restore", target=str(restored))
        assert snapshot(restored / str(src).lstrip("/")) == snapshot(src), (scheme, auth)
        assert accepted_logins(ssh_server, since) == {logins[auth]}, (scheme, auth)

    assert d.ok("list-backups")["count"] == str(2 + len(steps))
    slug = d.unit_name.replace("/", "-")
    stored = files_under(ssh_server.remote_dir)
    assert stored and all(name.startswith(slug + "/duplicity-") for name in stored), stored
    # the URLs name the remote directory, never a credential
    urls = {argv[-1] for argv in d.recorder.commands("duplicity") if argv[1] in BACKUP_COMMANDS}
    assert urls == {"{}://{}@127.0.0.1:{}/{}/{}".format(
        scheme, ssh_server.user, ssh_server.port, ssh_server.remote_dir, slug)
        for scheme in ("sftp", "scp")}
    key_lines = [line for key in ssh_server.private_keys.values()
                 for line in key.decode().splitlines() if not line.startswith("-----")]
    d.recorder.assert_no_secret(PASSPHRASE, ssh_server.password, *key_lines)


def test_sftp_refuses_a_host_whose_key_is_not_the_known_host_key(deploy, tmp_path, ssh_server):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(other)], check=True)
    wrong = "[127.0.0.1]:{} {}".format(ssh_server.port,
                                       " ".join(open(str(other) + ".pub").read().split()[:2]))
    src = tmp_path / "srv-data"
    make_tree(src, files=3)
    d = deploy("dup3")
    d.declare(fileset=str(src))
    config = ssh_config(ssh_server, "ed25519")
    config["known_host_key"] = wrong
    d.configure(backend="sftp", encryption_passphrase=PASSPHRASE,
                remote_backup_url="127.0.0.1:{}/{}".format(ssh_server.port, ssh_server.remote_dir),
                **config)
    assert d.unit.status[0] == "active"

    result = d.action("do-backup")
    assert result.status == "failed"
    assert "host key verification failed" in result.message.lower(), result.message
    assert "known_host_key" in result.message
    assert files_under(ssh_server.remote_dir) == []
    assert os.listdir(ssh_server.remote_dir) == []
    assert d.unit.status[0] != "error"


def test_sftp_on_focals_duplicity_trusts_the_known_host_key_alone(deploy, tmp_path, ssh_server):
    """0.8.11's paramiko backend ignores -oUserKnownHostsFile= and reads ~/.ssh/known_hosts:
    the charm runs it with a HOME whose ~/.ssh/known_hosts is the unit's. The right
    known_host_key backs up, changes, lists and restores; a wrong one is then refused with
    the stored backups untouched; root's own ~/.ssh/known_hosts is neither read nor written.
    An S3 endpoint, which 0.8.11 cannot use, then blocks the unit naming s3_endpoint_url."""
    root_known_hosts = os.path.expanduser("~root/.ssh/known_hosts")
    before = open(root_known_hosts, "rb").read() if os.path.exists(root_known_hosts) else None
    url = "127.0.0.1:{}/{}".format(ssh_server.port, ssh_server.remote_dir)
    d = deploy_recorded(deploy, tmp_path, "dup0811")
    backup_change_incremental_restore(d, tmp_path, backend="sftp", remote_backup_url=url,
                                      **ssh_config(ssh_server, "ed25519"))
    assert accepted_logins(ssh_server) == {"publickey ED25519"}
    stored = {name: os.stat(os.path.join(ssh_server.remote_dir, name)).st_mtime_ns
              for name in files_under(ssh_server.remote_dir)}
    assert stored

    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(other)], check=True)
    d.configure(known_host_key="[127.0.0.1]:{} {}".format(
        ssh_server.port, " ".join(open(str(other) + ".pub").read().split()[:2])))
    result = d.action("do-backup")
    assert result.status == "failed"
    assert "host key verification failed" in result.message.lower(), result.message
    assert {name: os.stat(os.path.join(ssh_server.remote_dir, name)).st_mtime_ns
            for name in files_under(ssh_server.remote_dir)} == stored
    after = open(root_known_hosts, "rb").read() if os.path.exists(root_known_hosts) else None
    assert after == before

    # an S3 endpoint other than AWS's needs --s3-endpoint-url (0.8.15): blocked at once,
    # naming the key, rather than every backup failing on an unknown option
    spec = "/var/lib/charm-duplicity/{}/spec.json".format(d.unit_name.replace("/", "-"))
    assert os.path.exists(spec)
    d.configure(backend="s3", remote_backup_url="s3:///bucket/focal",
                s3_endpoint_url="http://127.0.0.1:9", aws_access_key_id="AKIAFOCAL",
                aws_secret_access_key="focal-secret-3e1")
    state, message = d.unit.status
    assert state == "blocked" and message.startswith("s3_endpoint_url: "), (state, message)
    assert "duplicity 0.8.15 or later" in message and "0.8.11" in message, message
    assert not os.path.exists(spec)  # nothing runs from the settings before
    assert sorted(files_under(ssh_server.remote_dir)) == sorted(stored)
    d.recorder.assert_no_secret(PASSPHRASE, "focal-secret-3e1", *[
        line for line in ssh_server.private_keys["ed25519"].decode().splitlines()
        if not line.startswith("-----")])


def test_rsync_over_ssh_creates_the_missing_remote_directory(deploy, tmp_path, ssh_server):
    missing = os.path.join(ssh_server.remote_dir, "not", "there", "yet")
    assert not os.path.exists(missing)
    d = deploy_recorded(deploy, tmp_path)
    backup_change_incremental_restore(
        d, tmp_path, backend="rsync",
        remote_backup_url="127.0.0.1:{}/{}".format(ssh_server.port, missing),
        **ssh_config(ssh_server, "ed25519"))
    slug = d.unit_name.replace("/", "-")
    stored = files_under(missing)
    assert stored and all(name.startswith(slug + "/duplicity-") for name in stored), stored
    # rsync went through ssh with the unit's own key and known_hosts, strictly checked
    ssh_runs = d.recorder.commands("ssh")
    assert ssh_runs
    assert all("-oStrictHostKeyChecking=yes" in argv for argv in ssh_runs)
    d.recorder.assert_no_secret(PASSPHRASE)


# --------------------------------------------------------------------------- FTP(S)

@pytest.mark.parametrize("tls", [False, True], ids=["ftp", "ftps"])
def test_ftp_and_ftps_back_up_and_restore_with_the_password_kept_off_every_command_line(
        deploy, tmp_path, request, tls):
    server = request.getfixturevalue("ftps_server" if tls else "ftp_server")
    d = deploy_recorded(deploy, tmp_path)
    config = {"backend": "ftps" if tls else "ftp",
              "remote_backup_url": "127.0.0.1:{}/backups".format(server.port),
              "remote_user": server.user, "remote_password": server.password}
    if tls:
        config["ca_certificate"] = server.ca_pem.decode()
    backup_change_incremental_restore(d, tmp_path, **config)
    slug = d.unit_name.replace("/", "-")
    stored = server.listdir("backups/" + slug)
    assert stored and all(name.startswith("duplicity-") for name in stored), stored

    urls = {argv[-1] for argv in d.recorder.commands("duplicity") if argv[1] in BACKUP_COMMANDS}
    assert urls == {"{}://{}@127.0.0.1:{}/backups/{}".format(
        "ftpes" if tls else "ftp", server.user, server.port, slug)}
    assert d.recorder.commands("lftp"), "duplicity did not go through lftp"
    d.recorder.assert_no_secret(PASSPHRASE, server.password)


# --------------------------------------------------------------------------- S3, Azure

def test_s3_backs_up_to_a_prefix_per_unit_in_the_bucket(deploy, tmp_path, s3_server):
    bucket = s3_server.create_bucket("charm-backends")
    d = deploy_recorded(deploy, tmp_path)
    backup_change_incremental_restore(
        d, tmp_path, backend="s3", remote_backup_url="s3:///{}/site-a".format(bucket),
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key)
    slug = d.unit_name.replace("/", "-")
    keys = s3_server.list_keys(bucket)
    assert keys and all(k.startswith("site-a/{}/duplicity-".format(slug)) for k in keys), keys
    d.recorder.assert_no_secret(PASSPHRASE, s3_server.secret_key, s3_server.access_key)


def test_azure_backs_up_into_a_container_of_its_own_per_unit(deploy, tmp_path, azurite_server):
    d = deploy_recorded(deploy, tmp_path)
    backup_change_incremental_restore(
        d, tmp_path, backend="azure", remote_backup_url="azure://charm-backups",
        azure_connection_string=azurite_server.connection_string)
    slug = d.unit_name.replace("/", "-")
    containers = sorted(c.name for c in azurite_server.service_client().list_containers())
    assert containers == ["charm-backups-" + slug]
    blobs = azurite_server.list_blobs("charm-backups-" + slug)
    assert blobs and all(b.startswith("duplicity-") for b in blobs), blobs
    assert sum(b.endswith(".manifest.gpg") for b in blobs) == 2
    d.recorder.assert_no_secret(PASSPHRASE, azurite_server.account_key)


# --------------------------------------------------------------------------- older majors

@pytest.mark.parametrize("version", ["dup21", "dup08"])
def test_sftp_and_s3_work_on_older_duplicity_majors(
        deploy, tmp_path, ssh_server, s3_server, version):
    """2.1.x and 0.8.x differ in their S3 scheme and their SSH handling; one unit backs up
    over sftp, then is moved to S3, where it starts a new chain."""
    sftp_dir, s3_dir = tmp_path / "sftp", tmp_path / "s3"
    sftp_dir.mkdir()
    s3_dir.mkdir()
    d = deploy_recorded(deploy, tmp_path, version)
    backup_change_incremental_restore(
        d, sftp_dir, backend="sftp",
        remote_backup_url="127.0.0.1:{}/{}".format(ssh_server.port, ssh_server.remote_dir),
        **ssh_config(ssh_server, "rsa_pem"))
    slug = d.unit_name.replace("/", "-")
    stored = files_under(ssh_server.remote_dir)
    assert stored and all(name.startswith(slug + "/duplicity-") for name in stored), stored
    assert accepted_logins(ssh_server) == {"publickey RSA"}

    bucket = s3_server.create_bucket("charm-" + version)
    backup_change_incremental_restore(
        d, s3_dir, backend="s3", remote_backup_url="s3:///{}/old".format(bucket),
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key)
    keys = s3_server.list_keys(bucket)
    assert keys and all(k.startswith("old/{}/duplicity-".format(slug)) for k in keys), keys
    assert files_under(ssh_server.remote_dir) == stored
    scheme = "boto3+s3" if version == "dup08" else "s3"
    urls = {argv[-1] for argv in d.recorder.commands("duplicity") if argv[1] in BACKUP_COMMANDS}
    assert "{}:///{}/old/{}".format(scheme, bucket, slug) in urls
    d.recorder.assert_no_secret(PASSPHRASE, s3_server.secret_key, s3_server.access_key)
