"""moto in server mode: an S3-compatible endpoint on loopback."""

import sys
import urllib.request

from ._base import ServerProcess

ACCESS_KEY = "AKIAIOSFODNN7DUPTEST"
SECRET_KEY = "duptest/secret/key/not/real/0123456789ab"
REGION = "us-east-1"


class S3Server(ServerProcess):
    """``python -m moto.server`` on 127.0.0.1:port (in-memory: a restart loses data).

    Attributes: ``endpoint_url``, ``access_key``, ``secret_key``, ``region``;
    ``env()`` gives the AWS_* variables for a client (duplicity), ``client()`` a boto3
    client, ``create_bucket(name)``, ``list_keys(bucket, prefix="")``.
    """

    name = "moto"

    def __init__(self, workdir, port=None, python=None):
        super().__init__(workdir, port=port)
        self.python = python or sys.executable
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION

    @property
    def endpoint_url(self):
        return f"http://{self.host}:{self.port}"

    def _command(self):
        return [self.python, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def _is_ready(self):
        try:
            with urllib.request.urlopen(self.endpoint_url + "/moto-api/", timeout=1) as r:
                return r.status == 200
        except Exception:
            return False

    def env(self):
        """Environment for an S3 client of this server (no endpoint: that is an option)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            # boto3 >= 1.36 sends CRC checksums by default; keep them for S3-compatible
            # stores that lack them (moto copes; Ceph/MinIO versions may not).
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)
        return name

    def list_keys(self, bucket, prefix=""):
        resp = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in resp.get("Contents", []))
