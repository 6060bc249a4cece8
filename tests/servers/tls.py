"""A throw-away CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""

import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TestCA:
    """Files under ``directory``: ``ca_file`` (CA cert PEM), ``cert_file`` + ``key_file``
    (server certificate for ``hosts``, signed by the CA). ``ca_pem`` is the CA as bytes."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory, hosts=("127.0.0.1", "localhost"), cn="127.0.0.1"):
        d = self.directory = os.path.abspath(str(directory))
        os.makedirs(d, exist_ok=True)
        self.ca_key_file = os.path.join(d, "ca.key")
        self.ca_file = os.path.join(d, "ca.pem")
        self.key_file = os.path.join(d, "server.key")
        self.cert_file = os.path.join(d, "server.pem")
        csr = os.path.join(d, "server.csr")
        ext = os.path.join(d, "server.ext")
        san = ",".join(
            ("IP:" if h.replace(".", "").isdigit() or ":" in h else "DNS:") + h for h in hosts
        )
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
                 "-subj", "/CN=duplicity charm test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", self.ca_key_file, "-out", self.ca_file, cwd=d)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", self.key_file, "-out", csr, cwd=d)
        with open(ext, "w") as f:
            f.write(
                "basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                f"subjectAltName={san}\n"
            )
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key_file,
                 "-CAcreateserial", "-days", "7", "-sha256", "-extfile", ext,
                 "-out", self.cert_file, cwd=d)
        for p in (self.ca_key_file, self.key_file):
            os.chmod(p, 0o600)
        with open(self.ca_file, "rb") as f:
            self.ca_pem = f.read()
