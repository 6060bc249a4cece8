"""lib/duplicity_credentials.py: precedence of config, user secret and s3 relation; problems."""
import json
import subprocess
from collections import namedtuple

import pytest

import duplicity_credentials as dcr
from duplicity_credentials import SecretRead

URI = "secret:" + "c" * 20
S3 = namedtuple("S3", "bucket path endpoint region ca access_key secret_key notes")
PROVIDED = S3("bkt", "pre/fix", "http://127.0.0.1:9000", "eu-1", "", "AKPROVIDER",
              "provider-secret", [])
BASE = {"backend": "s3", "remote_backup_url": "s3:///conf-bucket", "credentials_secret": "",
        "aws_access_key_id": "", "aws_secret_access_key": "", "encryption_passphrase": ""}


def config(**values):
    return dict(BASE, **values)


# -------------------------------------------------------------------------- precedence

PRECEDENCE = [
    # (config, secret content, s3 relation, expected {key: (value, source)})
    ("config only", config(aws_access_key_id="AKCONF"), None, None,
     {"aws_access_key_id": ("AKCONF", "config")}),
    ("secret only", config(credentials_secret=URI),
     {"aws-access-key-id": "AKSECRET", "encryption-passphrase": "pw"}, None,
     {"aws_access_key_id": ("AKSECRET", "secret"), "encryption_passphrase": ("pw", "secret")}),
    ("secret wins over config", config(credentials_secret=URI, aws_access_key_id="AKCONF"),
     {"aws-access-key-id": "AKSECRET"}, None, {"aws_access_key_id": ("AKSECRET", "secret")}),
    ("config fills what the secret lacks",
     config(credentials_secret=URI, encryption_passphrase="conf-pw"),
     {"aws-access-key-id": "AKSECRET"}, None,
     {"encryption_passphrase": ("conf-pw", "config"), "aws_access_key_id": ("AKSECRET", "secret")}),
    ("relation wins over secret and config",
     config(credentials_secret=URI, aws_access_key_id="AKCONF"),
     {"aws-access-key-id": "AKSECRET", "encryption-passphrase": "pw"}, (PROVIDED, []),
     {"aws_access_key_id": ("AKPROVIDER", "s3-credentials"),
      "aws_secret_access_key": ("provider-secret", "s3-credentials"),
      "encryption_passphrase": ("pw", "secret"),
      "remote_backup_url": ("s3:///bkt/pre/fix", None),
      "s3_endpoint_url": ("http://127.0.0.1:9000", None), "s3_region_name": ("eu-1", None)}),
    ("relation ignored unless backend is s3", config(backend="file", aws_access_key_id="AKCONF"),
     None, (PROVIDED, []), {"aws_access_key_id": ("AKCONF", "config"),
                            "remote_backup_url": ("s3:///conf-bucket", None)}),
]


@pytest.mark.parametrize("name,cfg,content,s3,expected", PRECEDENCE,
                         ids=[p[0] for p in PRECEDENCE])
def test_resolve_applies_the_documented_precedence(name, cfg, content, s3, expected):
    secret = SecretRead(content, None) if content is not None else None
    resolved = dcr.resolve(cfg, secret=secret, s3=s3, s3_related=s3 is not None,
                           juju_version="3.4.0")
    assert resolved.problems == []
    for key, (value, source) in expected.items():
        assert resolved.config[key] == value, key
        if source:
            assert resolved.sources[key] == source, key


def test_a_key_set_in_config_and_secret_is_logged_by_name_never_by_value():
    resolved = dcr.resolve(config(credentials_secret=URI, encryption_passphrase="conf-pw"),
                           secret=SecretRead({"encryption-passphrase": "secret-pw"}, None),
                           juju_version="3.4.0")
    assert resolved.notes == ["encryption_passphrase is set in both the config and "
                              "credentials_secret: the secret's value is used"]
    assert "pw" not in " ".join(resolved.notes).replace("passphrase", "")


def test_resolve_does_not_change_the_config_it_is_given():
    cfg = config(credentials_secret=URI)
    before = dict(cfg)
    dcr.resolve(cfg, secret=SecretRead({"aws-access-key-id": "AK"}, None), juju_version="3.4")
    assert cfg == before


# ---------------------------------------------------------------------------- problems

PROBLEMS = [
    ("ungranted", URI, SecretRead(None, "ERROR permission denied"), "3.4.0",
     "credentials_secret: this application may not read {0}: run `juju grant-secret {0} "
     "duplicity`".format(URI)),
    ("unknown", URI, SecretRead(None, 'ERROR secret "{}" not found'.format("c" * 20)), "3.4.0",
     "check the URI with `juju secrets`"),
    ("other failure", URI, SecretRead(None, "ERROR connection refused"), "3.4.0",
     "secret-get failed (see juju debug-log)"),
    ("wrong key name", URI, SecretRead({"password": "x"}, None), "3.4.0",
     "credentials_secret: unknown key(s) password: use "),
    ("garbage key name", URI, SecretRead({"PASS WORD!": "x"}, None), "3.4.0",
     "unknown key(s) (invalid)"),
    ("juju 3.1", URI, None, "3.1.8", "user secrets need Juju 3.3 or later (this is 3.1.8)"),
    ("juju 2.9", URI, None, "2.9.49", "user secrets need Juju 3.3 or later"),
    ("not a uri", "hunter2-pasted-password", None, "3.4.0",
     "credentials_secret: not a secret URI"),
]


@pytest.mark.parametrize("name,uri,secret,version,expected", PROBLEMS,
                         ids=[p[0] for p in PROBLEMS])
def test_an_unusable_secret_is_a_problem_naming_the_key_and_the_command(name, uri, secret,
                                                                          version, expected):
    resolved = dcr.resolve(config(credentials_secret=uri), secret=secret,
                           juju_version=version)
    assert len(resolved.problems) == 1
    assert expected in resolved.problems[0]
    assert resolved.problems[0].startswith("credentials_secret: ")
    assert "hunter2" not in resolved.problems[0]


def test_a_lost_s3_relation_blocks_while_backend_is_s3():
    resolved = dcr.resolve(config(), s3_lost=True, juju_version="3.4.0")
    assert resolved.problems and resolved.problems[0].startswith(
        "s3-credentials: the relation that supplied")
    assert "existing backups untouched" in resolved.problems[0]
    assert dcr.resolve(config(backend="file"), s3_lost=True).problems == []


def test_relation_problems_are_passed_on():
    resolved = dcr.resolve(config(), s3=(None, ["s3-credentials: waiting"]), s3_related=True)
    assert resolved.problems == ["s3-credentials: waiting"]


@pytest.mark.parametrize("uri,ok", [
    ("secret:cn2v7ibutr7c7ao2n5ng", True),
    ("secret://5f2e7c5a-1234-4abc-8def-0123456789ab/cn2v7ibutr7c7ao2n5ng", True),
    ("secret:short", False), ("cn2v7ibutr7c7ao2n5ng", False),
    ("secret:cn2v7ibutr7c7ao2n5ng\n", False), ("secret:CN2V7IBUTR7C7AO2N5NG", False),
])
def test_valid_secret_uri(uri, ok):
    assert dcr.valid_secret_uri(uri) is ok


# -------------------------------------------------------------------------- secret-get

class Proc:
    def __init__(self, returncode, stdout="", stderr=""):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def test_read_secret_asks_for_json_and_refreshes_only_when_told():
    seen = []

    def run(argv, **kw):
        seen.append(argv)
        return Proc(0, json.dumps({"aws-access-key-id": "AK"}))
    assert dcr.read_secret(URI, run=run) == SecretRead({"aws-access-key-id": "AK"}, None)
    dcr.read_secret(URI, refresh=True, run=run)
    assert seen == [["secret-get", URI, "--format=json"],
                    ["secret-get", URI, "--format=json", "--refresh"]]


@pytest.mark.parametrize("proc", [Proc(1, "", "ERROR permission denied\n"), Proc(0, "not json"),
                                  Proc(0, "[1, 2]"), Proc(0, json.dumps({"k": 1}))])
def test_read_secret_reports_failures_without_raising(proc):
    read = dcr.read_secret(URI, run=lambda argv, **kw: proc)
    assert read.content is None and read.error


def test_read_secret_survives_a_missing_tool():
    def run(argv, **kw):
        raise FileNotFoundError(argv[0])
    assert dcr.read_secret(URI, run=run).error == "cannot run secret-get: FileNotFoundError"

    def slow(argv, **kw):
        raise subprocess.TimeoutExpired(argv, kw["timeout"])
    assert dcr.read_secret(URI, run=slow).error == "cannot run secret-get: TimeoutExpired"


# -------------------------------------------------------------------------------- load

class KV(dict):
    def set(self, key, value):
        self[key] = value


def test_load_refreshes_on_a_new_uri_and_in_its_secret_changed_only():
    reads = []

    def read(uri, refresh=False):
        reads.append(refresh)
        return SecretRead({"encryption-passphrase": "pw"}, None)
    kv, cfg = KV(), config(credentials_secret=URI)
    env = {"JUJU_VERSION": "3.4.0", "JUJU_HOOK_NAME": "config-changed"}
    for hook, secret_id in [("config-changed", None), ("update-status", None),
                            ("secret-changed", "secret:" + "d" * 20),
                            ("secret-changed", URI)]:
        env = dict(env, JUJU_HOOK_NAME=hook, JUJU_SECRET_ID=secret_id or "")
        assert dcr.load(cfg, None, env, kv, "duplicity", read=read).config[
            "encryption_passphrase"] == "pw"
    assert reads == [True, False, False, True]


def test_load_logs_where_credentials_come_from_once():
    logged = []
    kv = KV()
    for _ in range(2):
        dcr.load(config(credentials_secret=URI), None, {"JUJU_VERSION": "3.4.0"}, kv, "dup",
                 log=logged.append, read=lambda uri, refresh: SecretRead({"aws-access-key-id":
                                                                          "AK"}, None))
    assert logged == ["credentials: aws_access_key_id from credentials_secret"]
    assert kv[dcr.KV_SHOWN] == "credentials from credentials_secret"  # shown in the status
    dcr.load(config(), None, {"JUJU_VERSION": "3.4.0"}, kv, "dup")
    assert kv[dcr.KV_SHOWN] == ""


class Endpoint:
    def __init__(self, related, s3=None):
        self._related, self._s3 = related, s3

    def related(self):
        return self._related

    def provider_data(self):
        return {}

    def credentials(self, refresh=False):
        return self._s3


def test_load_shows_the_secret_before_the_relation():
    kv = KV()
    dcr.load(config(credentials_secret=URI), Endpoint(True, (PROVIDED, [])),
             {"JUJU_VERSION": "3.4.0"}, kv, "dup",
             read=lambda uri, refresh: SecretRead({"encryption-passphrase": "pw"}, None))
    assert kv[dcr.KV_SHOWN] == "credentials from credentials_secret and s3-credentials"


def test_load_blocks_after_the_s3_relation_that_was_used_departs_until_the_operator_acts():
    kv, env = KV(), {"JUJU_VERSION": "3.4.0"}
    assert dcr.load(config(), Endpoint(True, (PROVIDED, [])), env, kv, "dup").problems == []
    lost = dcr.load(config(), Endpoint(False), env, kv, "dup")
    assert lost.problems and "relation that supplied" in lost.problems[0]
    assert dcr.load(config(), Endpoint(False), env, kv, "dup").problems == lost.problems
    # a new destination in config is the operator's answer
    assert dcr.load(config(remote_backup_url="s3:///other"), Endpoint(False), env, kv,
                    "dup").problems == []


def test_load_never_blocks_on_a_relation_that_was_never_used():
    kv, env = KV(), {"JUJU_VERSION": "3.4.0"}
    assert dcr.load(config(), Endpoint(False), env, kv, "dup").problems == []
