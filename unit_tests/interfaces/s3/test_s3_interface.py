"""interfaces/s3/requires.py: parsing the provider's v0 and v1 data; garbage never raises."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3.requires import S3, SecretRead, ca_chain, parse

CERT = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n"
        "-----END CERTIFICATE-----")
V0 = {"bucket": "backups", "path": "/site/a/", "endpoint": "https://rgw.example.com:8443/",
      "region": "eu-west-1", "access-key": "AKV0", "secret-key": "v0-secret-key",
      "s3-uri-style": "path", "tls-ca-chain": json.dumps([CERT, CERT])}
SECRET_URI = "secret:cn2v7ibutr7c7ao2n5ng"


def test_v0_plaintext_fields_are_parsed():
    s3, problems = parse(V0)
    assert problems == []
    assert s3 == S3("backups", "site/a", "https://rgw.example.com:8443", "eu-west-1",
                    CERT + "\n" + CERT + "\n", "AKV0", "v0-secret-key", [])


def test_v1_keys_come_from_the_secret_named_by_secret_extra():
    data = {k: v for k, v in V0.items() if k not in ("access-key", "secret-key")}
    data["secret-extra"] = SECRET_URI
    s3, problems = parse(data, SecretRead({"access-key": "AKV1", "secret-key": "v1-key"}, None))
    assert problems == [] and (s3.access_key, s3.secret_key) == ("AKV1", "v1-key")


@pytest.mark.parametrize("data,secret,expected", [
    ({}, None, "waiting for the provider to publish a bucket"),
    ({"bucket": "b1x"}, None, "waiting for the provider to publish access-key and secret-key"),
    ({"bucket": "b1x", "secret-extra": SECRET_URI}, SecretRead(None, "ERROR permission denied"),
     "secret (secret-extra) is not granted to this application"),
    ({"bucket": "b1x", "secret-extra": SECRET_URI}, None, "secret (secret-extra) is unreadable"),
    ({"bucket": "b1x", "secret-extra": "garbage"}, None, "secret-extra is not a secret URI"),
    (dict(V0, bucket="Bad_Bucket"), None, "bucket is not a valid S3 bucket name"),
    (dict(V0, path="a/../b"), None, "path may only hold"),
    (dict(V0, path="a b"), None, "path may only hold"),
    (dict(V0, endpoint="ftp://x"), None, "endpoint is not an http(s)://host[:port] URL"),
    (dict(V0, region="EU WEST"), None, "region is not a region name"),
    (dict(V0, **{"tls-ca-chain": '["not a cert"]'}), None, "tls-ca-chain is not a list"),
    (dict(V0, **{"secret-key": "a\nb"}), None, "holds a line break"),
])
def test_incomplete_or_invalid_data_is_a_problem_naming_the_relation(data, secret, expected):
    s3, problems = parse(data, secret)
    assert s3 is None
    assert problems and all(p.startswith("s3-credentials: ") for p in problems)
    assert any(expected in p for p in problems), problems


def test_host_uri_style_is_noted():
    s3, _ = parse(dict(V0, **{"s3-uri-style": "host"}))
    assert s3.notes and "s3-uri-style=host" in s3.notes[0]


def test_one_pem_string_is_accepted_as_a_chain():
    assert ca_chain(CERT) == (CERT + "\n", None)


FIELDS = ["bucket", "path", "endpoint", "region", "s3-uri-style", "tls-ca-chain", "access-key",
          "secret-key", "secret-extra", "other"]
VALUES = st.one_of(st.text(max_size=80),
                   st.sampled_from(["backups", SECRET_URI, "http://h:1", CERT, "[]", "null",
                                    '{"a": 1}', "/", "..", "\x00"]))


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), VALUES),
       content=st.one_of(st.none(), st.dictionaries(st.text(max_size=12), st.one_of(
           st.text(max_size=20), st.integers(), st.none()))),
       marker=st.sampled_from(["SECRETVALUE-1", "SECRETVALUE-2"]))
def test_garbage_relation_data_never_raises_and_never_echoes_a_value(data, content, marker):
    data = dict(data)
    for key in ("secret-key", "access-key"):
        if key in data:
            data[key] = marker + data[key]
    secret = SecretRead(content, None if content is not None else "ERROR not found")
    s3, problems = parse(data, secret)
    assert (s3 is None) == bool(problems)
    for problem in problems:
        assert problem.startswith("s3-credentials: ") and len(problem) < 200
        assert marker not in problem
    if s3 is not None:
        assert s3.bucket and s3.access_key and s3.secret_key
