"""No secret leaks: a realistic mix of backends, one unit, then every place a secret could end up.

One duplicity unit (duplicity 3.x) goes through sftp with a password, a run with a wrong
password (so failure messages and the blocked status are covered), sftp with a PEM key,
rsync over SSH with an OpenSSH key, FTPS, S3 (moto) and Azure (Azurite), all with
passphrase encryption, a daily schedule and a retention period; then S3 with the passphrase
and keys only in a Juju user secret (credentials_secret), and S3 with the keys from an s3
provider's relation data (v0, plain text in the databag). Every backup is restored
and compared byte for byte. Then the secrets (passwords, passphrase, the base64 private keys
and each line of their decoded bodies, the AWS secret key, the Azure account key) are
searched for in: the argv of every duplicity/ssh/sftp/scp/lftp/rsync/gpg started (recording
wrappers first on PATH, see argv_recorder.py: that is what /proc/<pid>/cmdline shows), every
juju-log line, status message, hook output, hook tool call, action result and failure
message, the cron files, every file that is not root-only under the charm's directories, the
harness state and the agent directory, and the charm's root-only log, spec and outcome
record. A self-check runs the same search over the places that legitimately hold the
secrets (the model's config, the unit's secret files) and requires it to find them.
"""

import base64
import contextlib
import json
import os
import time

import pytest

from harness import Model
from servers.azurite import AzuriteServer, azurite_binary
from servers.ftp import FtpServer
from servers.s3 import S3Server
from servers.s3_provider import FakeS3Provider
from servers.ssh import SshServer

from .argv_recorder import ArgvRecorder
from .helpers import (letters, make_tree, non_root_only_files, remove_unit, require_duplicity, snapshot,
                      unit_files)

PASSPHRASE = "audit-passphrase-Q7v2r9XkLp"
SECRET_PASSPHRASE = "audit-juju-secret-passphrase-Hf3kW9"
SECRET_AWS_KEY = "audit/juju/secret/aws/key/Mn4Pq8Rt2Vx6Zb0Cd"
PROVIDER_AWS_KEY = "audit/s3/relation/secret/key/Lk7Jh5Gf3Ds1Aq9Wz"
WRONG_PASSWORD = "audit-wrong-password-Zt4mW8"
VERSION = "dup3"
# a login of its own: every SshServer sets its user's password, and other test sessions on the
# machine would change the shared test user's password under this module's feet
SSH_USER = "dupsecrets"


def b64(data):
    return base64.b64encode(data).decode()


def key_lines(key):
    """The body lines of a private key file (what a leaked decoded key would show)."""
    return [line for line in key.decode().splitlines()
            if line and not line.startswith("-----") and len(line) >= 16]


def leaks(text, secrets):
    """Names of the secrets found in text."""
    return sorted(name for name, value in secrets.items() if value in text)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class Audit:
    """Runs the mix once and keeps every text that must be free of secrets."""

    def __init__(self, tmp, charm, servers):
        self.tmp = tmp
        self.ssh, self.ftps, self.s3, self.azure = servers
        self.recorder = ArgvRecorder(tmp / "wrappers", tmp / "argv.log",
                                     os.path.join(require_duplicity(VERSION), "duplicity"))
        self.model = Model(tmp / "model", juju_version="3.4.0")
        principal_app = self.model.add_application("principal-audit")
        principal = principal_app.add_unit()
        self.app = self.model.add_application("dupaudit-" + letters(os.getpid()), charm=charm)
        self.unit = self.app.add_unit(principal=principal, extra_path=[self.recorder.directory])
        self.relation = self.model.relate(self.app.name + ":backup", principal_app.name + ":backup")
        self.slug = self.unit.name.replace("/", "-")
        self.src = tmp / "srv-app"
        make_tree(self.src, seed=11, files=6, size=2048)
        self.relation.set_data(principal_app.name, {"fileset": str(self.src)})
        self.secrets = {
            "sftp remote_password": self.ssh.password,
            "wrong remote_password": WRONG_PASSWORD,
            "ftps remote_password": self.ftps.password,
            "encryption_passphrase": PASSPHRASE,
            "private_ssh_key rsa_pem (base64)": b64(self.ssh.rsa_pem_key),
            "private_ssh_key ed25519 (base64)": b64(self.ssh.ed25519_key),
            "aws_secret_access_key": self.s3.secret_key,
            "azure account key": self.azure.account_key,
            "credentials_secret encryption-passphrase": SECRET_PASSPHRASE,
            "credentials_secret aws-secret-access-key": SECRET_AWS_KEY,
            "s3-credentials secret-key": PROVIDER_AWS_KEY,
        }
        for kind, key in self.ssh.private_keys.items():
            for n, line in enumerate(key_lines(key)):
                self.secrets["private_ssh_key {} line {}".format(kind, n + 1)] = line
        self.files = {}        # "path @ step" -> text of a file that is not root-only
        self.root_only = {}    # "path @ step" -> runner log, spec, outcome record
        self.cron = {}         # "step" -> cron file text
        self.planted = []      # texts that legitimately hold secrets (self-check)
        self.results = []      # ActionResults
        self.steps = []

    # -------------------------------------------------------------- running
    def configure(self, **config):
        self.app.set_config(**config)
        self.planted.append(json.dumps(self.model.read_state()["apps"][self.app.name]))

    def action(self, name, **params):
        result = self.unit.run_action(name, params)
        self.results.append(result)
        return result

    def ok(self, name, **params):
        result = self.action(name, **params)
        assert result.status == "completed", "{} failed: {}".format(name, result.message)
        return result.results

    def backup_and_restore(self, step):
        """Change the data, back up, restore into a new directory, compare byte for byte."""
        (self.src / "d1" / "step.txt").write_text("data as of step {}\n".format(step))
        state, message = self.unit.status
        assert state == "active" or message.startswith("last backup failed"), (step, message)
        result = self.ok("do-backup")
        target = self.tmp / "restore-{}".format(step)
        self.ok("restore", target=str(target))
        assert snapshot(target / str(self.src).lstrip("/")) == snapshot(self.src), step
        self.collect(step)
        time.sleep(1.1)  # backup-ids have a resolution of one second
        return result

    def collect(self, step):
        """Snapshot the files that exist now (some are rewritten or removed later)."""
        self.steps.append(step)
        self.cron[step] = read_bytes("/etc/cron.d/charm-duplicity-" + self.slug)
        tops = unit_files(self.unit.name) + ["/var/lib/charm-duplicity/status",
                                             "/var/log/charm-duplicity", "/etc/cron.d",
                                             str(self.model.root)]
        for path in non_root_only_files(tops):
            if path == self.model.state_path or path == str(self.unit.calls_file):
                continue  # the controller's record and the harness's tool log: see below
            self.files["{} @ {}".format(path, step)] = read_bytes(path)
        state_dir = "/var/lib/charm-duplicity/" + self.slug
        for path in (state_dir + "/spec.json", "/var/log/charm-duplicity/{}.log".format(self.slug),
                     "/var/lib/charm-duplicity/status/{}.json".format(self.slug)):
            self.root_only["{} @ {}".format(path, step)] = read_bytes(path)
        for dirpath, _, names in os.walk(state_dir + "/secrets"):
            for name in names:
                self.planted.append(read_bytes(os.path.join(dirpath, name)))

    def run(self):
        ssh, ftps, s3, azure = self.ssh, self.ftps, self.s3, self.azure
        ssh_url = "127.0.0.1:{}/{}".format(ssh.port, ssh.remote_dir)
        self.configure(backend="sftp", remote_backup_url=ssh_url, remote_user=ssh.user,
                       remote_password=ssh.password, known_host_key=ssh.known_hosts_line(),
                       encryption_passphrase=PASSPHRASE, backup_frequency="daily",
                       retention_period="30d")
        self.backup_and_restore("sftp-password")

        # a wrong password: the backup and the listing fail, the unit says so (blocked)
        self.configure(remote_password=WRONG_PASSWORD)
        failed = self.action("do-backup")
        assert failed.status == "failed"
        assert "authentication refused" in failed.message, failed.message
        listing = self.action("list-backups")
        assert listing.status == "failed", listing.results
        self.unit.run_hook("update-status")
        state, message = self.unit.status
        assert state == "blocked" and "last backup failed" in message, message
        self.collect("wrong-password")

        self.configure(remote_password="", private_ssh_key=b64(ssh.rsa_pem_key))
        self.backup_and_restore("sftp-key")

        self.configure(backend="rsync", private_ssh_key=b64(ssh.ed25519_key),
                       remote_backup_url="127.0.0.1:{}/{}/rsync".format(ssh.port, ssh.remote_dir))
        self.backup_and_restore("rsync-key")

        self.configure(backend="ftps", remote_backup_url="127.0.0.1:{}/backups".format(ftps.port),
                       remote_user=ftps.user, remote_password=ftps.password,
                       ca_certificate=ftps.ca_pem.decode())
        self.backup_and_restore("ftps")

        bucket = s3.create_bucket("audit-bucket")
        self.configure(backend="s3", remote_backup_url="s3:///{}/audit".format(bucket),
                       s3_endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key,
                       aws_secret_access_key=s3.secret_key)
        self.backup_and_restore("s3")
        verified = self.ok("verify")
        assert verified["differences"] == "0", verified

        self.configure(backend="azure", remote_backup_url="azure://audit-backups",
                       azure_connection_string=azure.connection_string)
        self.backup_and_restore("azure")
        assert self.ok("list-backups")["count"] == "1"
        assert self.ok("list-current-files")["count"] != "0"

        # credentials only in a Juju user secret (moto takes any keys): a chain of its own
        uri = self.model.add_secret({"encryption-passphrase": SECRET_PASSPHRASE,
                                     "aws-access-key-id": "AKIAAUDITJUJUSECRET1",
                                     "aws-secret-access-key": SECRET_AWS_KEY},
                                    grants=[self.app.name])
        self.configure(backend="s3", remote_backup_url="s3:///{}/user-secret".format(bucket),
                       credentials_secret=uri, encryption_passphrase="", aws_access_key_id="",
                       aws_secret_access_key="", azure_connection_string="")
        self.backup_and_restore("user-secret")

        # the keys from an s3 provider's relation data (v0: plain text in its databag)
        self.provider = FakeS3Provider(self.model, self.app.name, version=0)
        self.provider.publish(s3, bucket, path="s3-relation", access_key="AKIAAUDITS3RELATION1",
                              secret_key=PROVIDER_AWS_KEY)
        self.backup_and_restore("s3-relation")
        assert s3.list_keys(bucket, "s3-relation/")

    # -------------------------------------------------------------- what must be clean
    def tool_calls_text(self):
        """Every hook tool call, except the output of config-get, secret-get and relation-get
        on s3-credentials (the credentials given to the charm)."""
        parts = []
        for call in self.unit.tool_calls:
            given = call["tool"] in ("config-get", "secret-get") or (
                call["tool"] == "relation-get" and any(
                    arg.startswith("s3-credentials:") for arg in call["argv"]))
            if given:
                call = {k: v for k, v in call.items() if k != "stdout"}
            parts.append(json.dumps(call, sort_keys=True))
            parts.append(" ".join(call["argv"]))
        return "\n".join(parts)

    def juju_log_text(self):
        return "\n".join(message for _, message in self.unit.logs)

    def status_text(self):
        rec = self.model.read_state()["units"][self.unit.name]
        return "\n".join([json.dumps(rec.get("status")), json.dumps(rec.get("status_history")),
                          json.dumps(self.model.read_state()["apps"][self.app.name].get("status"))])

    def hook_output_text(self):
        return "\n".join(out + "\n" + err for _, _, out, err in self.unit.outputs)

    def action_text(self):
        parts = []
        for r in self.results:
            parts += [json.dumps(r.results), r.message or "", r.stdout, r.stderr,
                      json.dumps(r.logs)]
        parts.append(json.dumps(self.model.read_state()["units"][self.unit.name].get("actions")))
        return "\n".join(parts)

    def relation_text(self):
        """Every databag but the s3 provider's own (it holds the keys it gives: v0)."""
        relations = self.model.read_state()["relations"]
        return json.dumps({rid: {bag: data for bag, data in rel["data"].items()
                                 if bag != self.provider.name}
                           for rid, rel in relations.items()})



@pytest.fixture(scope="module")
def audit(tmp_path_factory, duplicity_charm):
    for module in ("moto.server", "pyftpdlib", "OpenSSL", "azure.storage.blob"):
        pytest.importorskip(module)
    if not azurite_binary():
        pytest.skip("azurite-blob not installed (tests/setup/install-system.sh)")
    tmp = tmp_path_factory.mktemp("secrets-audit")
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(cls(tmp_path_factory.mktemp(name), **kw))
                   for cls, name, kw in ((SshServer, "sshd", {"user": SSH_USER}), (FtpServer, "ftpsd", {"tls": True}),
                                         (S3Server, "moto", {}), (AzuriteServer, "azurite", {}))]
        audit = Audit(tmp, duplicity_charm, servers)
        try:
            audit.run()
            yield audit
        finally:
            remove_unit(audit.unit)


# ---------------------------------------------------------------------------- self-checks

def test_the_search_finds_every_secret_where_it_is_legitimately_kept(audit):
    # the model's config holds the config values (base64 keys, passwords, passphrase, ...),
    # the unit's root-only secret files hold the decoded keys: the search must find them all
    planted = "\n".join(audit.planted)
    assert leaks(planted, audit.secrets) == sorted(audit.secrets)
    # and it finds a secret planted in the kinds of text it searches
    for text in (audit.juju_log_text(), audit.recorder.text(), audit.action_text()):
        assert "encryption_passphrase" in leaks(text + " --x=" + PASSPHRASE + ";", audit.secrets)


def test_the_argv_recorder_saw_duplicity_and_every_program_duplicity_ran(audit):
    programs = audit.recorder.programs()
    # rsync over SSH runs ssh and rsync, FTPS runs lftp, encryption runs gpg
    assert {"duplicity", "ssh", "rsync", "lftp", "gpg"} <= programs, programs
    commands = {argv[1] for prog, argv in audit.recorder.calls() if prog == "duplicity"}
    assert {"--version", "incr", "restore", "collection-status", "verify"} <= commands, commands
    assert set(audit.steps) == {"sftp-password", "wrong-password", "sftp-key", "rsync-key",
                                "ftps", "s3", "azure", "user-secret", "s3-relation"}


# ---------------------------------------------------------------------------- the audit

def test_no_secret_is_on_the_command_line_of_any_program_the_charm_or_duplicity_ran(audit):
    assert leaks(audit.recorder.text(), audit.secrets) == []


def test_no_secret_is_in_juju_log_status_messages_or_hook_output(audit):
    assert audit.juju_log_text().strip()
    assert leaks(audit.juju_log_text(), audit.secrets) == []
    assert "last backup failed" in audit.status_text()
    assert leaks(audit.status_text(), audit.secrets) == []
    assert leaks(audit.hook_output_text(), audit.secrets) == []
    assert leaks(audit.tool_calls_text(), audit.secrets) == []
    assert leaks(audit.relation_text(), audit.secrets) == []


def test_no_secret_is_in_action_results_or_failure_messages(audit):
    failures = [r.message for r in audit.results if r.status == "failed"]
    assert len(failures) == 2 and all(failures), failures
    assert leaks(audit.action_text(), audit.secrets) == []


def test_no_secret_is_in_the_cron_file(audit):
    assert all(" backup" in text for text in audit.cron.values()), audit.cron
    for step, text in audit.cron.items():
        assert leaks(text, audit.secrets) == [], step


def test_no_secret_is_in_any_file_that_is_not_root_only(audit):
    assert any("/etc/cron.d/" in name for name in audit.files)
    assert any("/status/" in name for name in audit.files)
    found = {name: leaks(text, audit.secrets) for name, text in audit.files.items()}
    assert {name: names for name, names in found.items() if names} == {}


def test_no_secret_is_in_the_runner_log_the_spec_or_the_outcome_record(audit):
    assert any(text for text in audit.root_only.values())
    found = {name: leaks(text, audit.secrets) for name, text in audit.root_only.items()}
    assert {name: names for name, names in found.items() if names} == {}
