"""Azurite (Azure Storage emulator), blob service only, on loopback."""

import os
import shutil

from ._base import ServerProcess

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AZURITE_BLOB = os.path.join(TESTS_DIR, ".node", "node_modules", ".bin", "azurite-blob")

# Azurite's fixed development account (public, documented by Microsoft; not a secret).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_binary():
    """Path of azurite-blob: tests/.node (install-system.sh), else PATH; None if absent."""
    if os.path.exists(AZURITE_BLOB):
        return AZURITE_BLOB
    return shutil.which("azurite-blob")


class AzuriteServer(ServerProcess):
    """``azurite-blob`` with its data under ``workdir/data`` (survives stop()/start()).

    Attributes: ``host``, ``port``, ``account_name``, ``account_key``, ``blob_endpoint``,
    ``connection_string`` (for AZURE_CONNECTION_STRING); ``create_container(name)``,
    ``list_blobs(container, prefix="")`` (need azure-storage-blob in the tests' Python).
    """

    name = "azurite"

    def __init__(self, workdir, port=None, binary=None):
        super().__init__(workdir, port=port)
        self.binary = binary or azurite_binary()
        self.location = os.path.join(self.workdir, "data")
        self.account_name = ACCOUNT_NAME
        self.account_key = ACCOUNT_KEY

    def _prepare(self):
        if not self.binary:
            raise FileNotFoundError("azurite-blob missing: run tests/setup/install-system.sh")
        os.makedirs(self.location, exist_ok=True)

    def _env(self):
        if self.account_key == ACCOUNT_KEY:
            return None
        # Azurite's custom accounts replace the default one: the old key stops working
        return dict(os.environ, AZURITE_ACCOUNTS="{}:{}".format(self.account_name,
                                                                self.account_key))

    def rotate_key(self, new_key):
        """Restart with ``new_key`` as the account's only key (the data is kept)."""
        self.account_key = new_key
        self.restart()

    def _command(self):
        return [self.binary, "--blobHost", self.host, "--blobPort", str(self.port),
                "--location", self.location, "--disableTelemetry", "--skipApiVersionCheck",
                "--loose"]

    @property
    def blob_endpoint(self):
        return f"http://{self.host}:{self.port}/{self.account_name}"

    @property
    def connection_string(self):
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    def service_client(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name):
        self.service_client().create_container(name)
        return name

    def list_blobs(self, container, prefix=""):
        cc = self.service_client().get_container_client(container)
        return sorted(b.name for b in cc.list_blobs(name_starts_with=prefix or None))
