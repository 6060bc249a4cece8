"""Smoke tests: real duplicity (each installed version) against each loopback server.

Every test makes a full backup of a small generated tree, restores it into a new
directory with a fresh archive dir (so everything is read back from the server), and
compares bytes. Secrets reach duplicity only through its environment.

The ``*_args`` helpers below are the reference for the charm's argv builder: per
version and backend, the URL shape, options and environment that work.
"""

import os
import shutil
import subprocess

import pytest

from .duplicity_versions import duplicity_version, unsupported_reason

PASSPHRASE = "smoke-test-passphrase"
# These tests check backends, not key stretching: gpg's agent is given OpenPGP's lowest
# S2K count, so no run calibrates one (1.1-1.4 s) or spends ~0.3 s of CPU per encrypted
# file on it. (The charm's own homes use the highest: lib/duplicity_process.AGENT_CONF.)
AGENT_CONF = "s2k-count 1024\n"
TIMEOUT = 240


# --------------------------------------------------------------------------- helpers
def make_tree(root):
    """A small tree: text, binary, empty file, nested dirs, a symlink, odd names."""
    os.makedirs(os.path.join(root, "sub", "deeper"))
    files = {
        "hello.txt": b"hello duplicity\n",
        "empty": b"",
        "sub/random.bin": os.urandom(300 * 1024),
        "sub/deeper/zeros.bin": bytes(64 * 1024),
        "sub/name with spaces.txt": "unicode: \u00e9\u00df\u4e2d\n".encode(),
    }
    for rel, data in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    os.chmod(os.path.join(root, "hello.txt"), 0o640)
    os.symlink("hello.txt", os.path.join(root, "link-to-hello"))
    return root


def snapshot(root):
    """{relative path: ("file", bytes, mode) | ("link", target) | ("dir",)}"""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read(), os.stat(p).st_mode & 0o7777)
    return out


class Dup:
    """Runs one duplicity binary with a clean environment and per-test dirs."""

    def __init__(self, version_id, path, tmp_path):
        self.id = version_id
        self.path = path
        self.version = duplicity_version(path)
        self.tmp = tmp_path
        self.home = tmp_path / "home"  # empty HOME: no ~/.ssh, no ~/.duplicity
        self.home.mkdir()
        (self.home / ".gnupg").mkdir(mode=0o700)
        (self.home / ".gnupg" / "gpg-agent.conf").write_text(AGENT_CONF)
        (tmp_path / "tempdir").mkdir()

    def env(self, extra):
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PASSPHRASE": PASSPHRASE,
        }
        env.update(extra)
        return env

    def run(self, args, env=None, archive="archive", check=True):
        argv = [self.path, *args, "--archive-dir", str(self.tmp / archive),
                "--tempdir", str(self.tmp / "tempdir"), "--name", "smoke",
                "--num-retries", "1", "-v", "info"]
        res = subprocess.run(argv, env=self.env(env or {}), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=TIMEOUT)
        # Secrets must never be in argv (only the environment): the test itself obeys it.
        for secret in (env or {}).values():
            if len(secret) > 8 and secret not in ("when_required",):
                assert all(secret not in a for a in argv), "secret leaked into argv"
        if check and res.returncode != 0:
            pytest.fail(f"{self.id} {' '.join(argv)} -> {res.returncode}\n"
                        f"STDOUT:\n{res.stdout[-4000:]}\nSTDERR:\n{res.stderr[-4000:]}")
        return res

    def roundtrip(self, url, opts=(), env=None):
        src = make_tree(str(self.tmp / "src"))
        self.run(["full", *opts, src, url], env)
        dst = str(self.tmp / "restored")
        # Fresh archive dir: the restore reads manifests and volumes from the server.
        self.run(["restore", *opts, url, dst], env, archive="archive-restore")
        assert snapshot(dst) == snapshot(src)
        listing = self.run(["collection-status", *opts, url], env, archive="archive-restore")
        assert "Full" in listing.stdout
        return src, dst


@pytest.fixture
def dup(duplicity_binary, tmp_path, request):
    version_id, path = duplicity_binary
    reason = unsupported_reason(version_id, request.node.name)
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    d = Dup(version_id, path, tmp_path)
    yield d
    # gpg leaves its agent running for ~/.gnupg (until it notices the directory gone)
    subprocess.run(["gpgconf", "--homedir", str(d.home / ".gnupg"), "--kill", "all"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------- SSH
def ssh_args(server, key_file=None, known_hosts_file=None):
    """Options for the paramiko backend (sftp/scp) and for rsync over ssh.

    paramiko (all versions) reads ``-oIdentityFile=`` (or ``-i file``) and
    ``-oUserKnownHostsFile=`` out of --ssh-options; the host key lookup uses
    ``[host]:port`` for non-22 ports; an unknown host key triggers an interactive
    yes/no prompt, which fails (EOF) without a terminal -> strict in practice.
    """
    parts = []
    if key_file:
        parts.append(f"-oIdentityFile={key_file}")
    parts.append(f"-oUserKnownHostsFile={known_hosts_file or server.known_hosts_file}")
    return [f"--ssh-options={' '.join(parts)}"]


@pytest.mark.parametrize("auth", ["ed25519", "rsa_pem", "password"])
def test_sftp_absolute_path(dup, ssh_server, auth):
    key = {"ed25519": ssh_server.ed25519_key_file, "rsa_pem": ssh_server.rsa_pem_key_file,
           "password": None}[auth]
    env = {"FTP_PASSWORD": ssh_server.password} if auth == "password" else {}
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
    assert url.count("//") == 2  # sftp://user@host:port//abs/path
    dup.roundtrip(url, ssh_args(ssh_server, key), env)
    assert any(n.startswith("duplicity-full") for n in ssh_server.listdir())


def test_sftp_relative_path(dup, ssh_server):
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_rel}/rel"
    dup.roundtrip(url, ssh_args(ssh_server, ssh_server.ed25519_key_file))
    assert os.listdir(os.path.join(ssh_server.remote_dir, "rel"))


def test_sftp_key_from_private_key_bytes(dup, ssh_server, tmp_path):
    """What the charm does: write the (decoded) key bytes to a 0600 file of its own."""
    key_file = tmp_path / "id_key"
    key_file.write_bytes(ssh_server.rsa_pem_key)
    key_file.chmod(0o600)
    kh = tmp_path / "known_hosts"
    kh.write_text(ssh_server.known_hosts_line() + "\n")
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
    dup.roundtrip(url, ssh_args(ssh_server, str(key_file), str(kh)))


@pytest.mark.parametrize("case", ["wrong-key", "no-entry"])
def test_sftp_verifies_host_key(dup, ssh_server, tmp_path, case):
    kh = tmp_path / "known_hosts"
    if case == "wrong-key":
        other = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", str(other)],
                       check=True)
        pub = " ".join(open(str(other) + ".pub").read().split()[:2])
        kh.write_text(f"[127.0.0.1]:{ssh_server.port} {pub}\n")
    else:
        kh.write_text("")
    src = make_tree(str(tmp_path / "src"))
    url = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
    res = dup.run(["full", *ssh_args(ssh_server, ssh_server.ed25519_key_file, str(kh)),
                   src, url], check=False)
    assert res.returncode != 0
    assert ssh_server.listdir() == []


def test_scp(dup, ssh_server):
    url = f"scp://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
    dup.roundtrip(url, ssh_args(ssh_server, ssh_server.ed25519_key_file))
    assert ssh_server.listdir()


def rsync_ssh_options(server, key_file, known_hosts_file=None):
    # duplicity runs: rsync -e 'ssh -p PORT -oBatchMode=yes <ssh-options>' ...
    return [f"--ssh-options=-oIdentityFile={key_file} "
            f"-oUserKnownHostsFile={known_hosts_file or server.known_hosts_file} "
            "-oStrictHostKeyChecking=yes -oIdentitiesOnly=yes"]


@pytest.mark.parametrize("path_kind", ["absolute", "relative"])
def test_rsync_over_ssh(dup, ssh_server, path_kind):
    if path_kind == "absolute":  # rsync://user@host:port//abs/path
        url = f"rsync://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
        where = ssh_server.remote_dir
    else:  # rsync://user@host:port/rel/path (relative to the login's home)
        url = f"rsync://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_rel}"
        where = ssh_server.remote_dir
    dup.roundtrip(url, rsync_ssh_options(ssh_server, ssh_server.rsa_pem_key_file))
    assert os.listdir(where)


def test_rsync_over_ssh_verifies_host_key(dup, ssh_server, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    src = make_tree(str(tmp_path / "src"))
    url = f"rsync://{ssh_server.user}@127.0.0.1:{ssh_server.port}/{ssh_server.remote_dir}"
    res = dup.run(["full", *rsync_ssh_options(ssh_server, ssh_server.ed25519_key_file, kh),
                   src, url], check=False)
    assert res.returncode != 0
    assert ssh_server.listdir() == []


# --------------------------------------------------------------------------- FTP
def ftp_precreate_for_08(dup, server, path):
    """duplicity 0.8.22's lftp backend runs ``mkdir -p dir/`` (no ``-f``): lftp sends
    MKD dir then MKD dir/, the second gets 550 "exists" and the first run against a new
    directory fails (a retry then finds the dir). 2.x/3.x use ``mkdir -p -f``. The charm
    must keep retries (default --num-retries 5) or the directory must exist."""
    if dup.version < (0, 8, 23):
        os.makedirs(os.path.join(server.root, path))


def test_ftp(dup, ftp_server):
    # ftp://user@host:port/path (path relative to the FTP login dir); password: FTP_PASSWORD
    ftp_precreate_for_08(dup, ftp_server, "backups/unit-0")
    dup.roundtrip(ftp_server.url("backups/unit-0"), env={"FTP_PASSWORD": ftp_server.password})
    assert ftp_server.listdir("backups/unit-0")


def test_ftps_explicit_tls(dup, ftps_server, tmp_path):
    # ftpes://user@host:port/path + --ssl-cacert-file; the server refuses plain text.
    ftp_precreate_for_08(dup, ftps_server, "backups")
    dup.roundtrip(ftps_server.url("backups"), ["--ssl-cacert-file", ftps_server.ca_file],
                  env={"FTP_PASSWORD": ftps_server.password})
    assert ftps_server.listdir("backups")


def test_ftps_rejects_untrusted_certificate(dup, ftps_server, tmp_path):
    src = make_tree(str(tmp_path / "src"))
    res = dup.run(["full", src, ftps_server.url("backups")],
                  env={"FTP_PASSWORD": ftps_server.password}, check=False)
    assert res.returncode != 0
    assert not os.path.exists(os.path.join(ftps_server.root, "backups")) or \
        ftps_server.listdir("backups") == []


# --------------------------------------------------------------------------- S3
def s3_url(dup, bucket, prefix):
    """0.8.22: ``s3://`` is the boto v2 backend -> use ``boto3+s3://``; 2.x/3.x: ``s3://``.
    The bucket is the first path element: ``s3:///bucket/prefix`` (``s3://bucket/prefix``
    works as well; a host in the netloc would be taken as the bucket name, so the charm
    turns ``s3://host/bucket`` into ``s3:///bucket`` + --s3-endpoint-url)."""
    scheme = "boto3+s3" if dup.version < (0, 8, 23) else "s3"
    return f"{scheme}:///{bucket}/{prefix}"


@pytest.mark.parametrize("url_form", ["triple-slash", "bucket-as-host"])
def test_s3(dup, s3_server, url_form):
    bucket = s3_server.create_bucket("dup-smoke")
    url = s3_url(dup, bucket, "backups/unit-0")
    if url_form == "bucket-as-host":
        url = url.replace(":///", "://")
    dup.roundtrip(url, ["--s3-endpoint-url", s3_server.endpoint_url], s3_server.env())
    keys = s3_server.list_keys(bucket)
    assert keys and all(k.startswith("backups/unit-0/duplicity-") for k in keys)


# --------------------------------------------------------------------------- Azure
def test_azure(dup, azurite_server):
    # azure://<container>; credentials: AZURE_CONNECTION_STRING. duplicity creates the
    # container if missing; one container per unit (no prefix support, see below).
    container = "dup-smoke-duplicity-0"
    url = f"azure://{container}"
    env = {"AZURE_CONNECTION_STRING": azurite_server.connection_string}
    dup.roundtrip(url, [], env)
    blobs = azurite_server.list_blobs(container)
    assert blobs and all(b.startswith("duplicity-") for b in blobs), blobs


def test_azure_path_prefix_is_rejected(dup, azurite_server, tmp_path):
    """No version accepts a path inside the container: the whole URL path is taken as
    the container name and fails validation ("Invalid Azure Storage Blob container
    name"). The charm has to give each unit its own container."""
    azurite_server.create_container("dup-smoke")
    src = make_tree(str(tmp_path / "src"))
    res = dup.run(["full", src, "azure://dup-smoke/backups/unit-0"],
                  {"AZURE_CONNECTION_STRING": azurite_server.connection_string}, check=False)
    assert res.returncode != 0
    assert "container name" in (res.stdout + res.stderr)


# --------------------------------------------------------------------------- outages
def test_ssh_server_outage_and_restart(ssh_server):
    import socket

    ssh_server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ssh_server.port), timeout=1).close()
    ssh_server.start()
    with socket.create_connection(("127.0.0.1", ssh_server.port), timeout=2) as s:
        assert s.recv(4) == b"SSH-"


def test_ftp_server_restart_keeps_files(ftp_server):
    os.makedirs(os.path.join(ftp_server.root, "x"))
    ftp_server.restart()
    assert ftp_server.listdir() == ["x"]


def test_azurite_restart_keeps_data(azurite_server):
    azurite_server.create_container("keepme")
    azurite_server.restart()
    names = [c.name for c in azurite_server.service_client().list_containers()]
    assert "keepme" in names


def test_tools_present():
    for tool in ("ssh", "scp", "rsync", "lftp", "gpg"):
        assert shutil.which(tool), f"{tool} missing: run tests/setup/install-system.sh"
