"""OpenSSH ``sshd`` on a high loopback port, for duplicity's sftp/scp/rsync backends."""

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import subprocess

from ._base import ServerProcess, read_banner

SSHD = "/usr/sbin/sshd"
DEFAULT_USER = "duptest"


@contextlib.contextmanager
def _accounts_lock():
    """One machine-wide lock around useradd/chpasswd: concurrent test processes (pytest-xdist
    workers, other sessions) would otherwise fail on /etc/passwd's and /etc/shadow's locks."""
    with open("/run/lock/charm-duplicity-test-accounts.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_user(name=DEFAULT_USER):
    """Create the local test user (with a home dir and a shell rsync can use) if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", name],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return pwd.getpwnam(name)


def _keygen(path, *args):
    subprocess.run(
        ["ssh-keygen", "-q", "-N", "", "-C", os.path.basename(path), "-f", path, *args],
        check=True, stdout=subprocess.DEVNULL,
    )


def _shared_password(user):
    """One random password per test user and machine, kept in a root-only file.

    The user is a machine-wide account: if every server instance set a fresh password,
    two test sessions running at once would change it under each other.
    """
    path = "/root/.charm-duplicity-test-{}-password".format(user)
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(18)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another session wrote it first
        return _shared_password(user)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


class SshServer(ServerProcess):
    """sshd with its own config and host key, a dedicated user, key and password auth.

    Attributes: ``host``, ``port``, ``user``, ``password``, ``home``,
    ``remote_dir`` (absolute, writable by ``user``, empty at start) and
    ``remote_rel`` (the same, relative to the user's home),
    ``ed25519_key`` / ``rsa_pem_key`` (private keys, bytes) and their files
    ``ed25519_key_file`` / ``rsa_pem_key_file`` (0600, owned by root),
    ``host_public_key`` ("ssh-ed25519 AAAA..."), ``known_hosts_file``.

    State: config, host key, client keys, log under ``workdir``. The authorized_keys
    file and the data directory live under the user's home (sshd reads
    authorized_keys as the user, who cannot traverse root's pytest tmp dirs);
    both are removed by ``close()``.
    """

    name = "sshd"

    def __init__(self, workdir, user=DEFAULT_USER, port=None):
        super().__init__(workdir, port=port)
        self.user = user
        self.password = _shared_password(user)
        self.pw = None
        self.home = None
        self.user_dir = None
        self.remote_dir = None
        self.remote_rel = None

    # -- setup ---------------------------------------------------------------
    def _prepare(self):
        if not os.path.exists(SSHD):
            raise FileNotFoundError(f"{SSHD} missing: run tests/setup/install-system.sh")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        with _accounts_lock():
            self.pw = ensure_user(self.user)
            self.home = self.pw.pw_dir
            os.makedirs(self.home, exist_ok=True)
            os.chown(self.home, self.pw.pw_uid, self.pw.pw_gid)
            os.chmod(self.home, 0o755)
            subprocess.run(["chpasswd"], input=f"{self.user}:{self.password}\n".encode(), check=True)

        w = self.workdir
        self.host_key_file = os.path.join(w, "ssh_host_ed25519_key")
        _keygen(self.host_key_file, "-t", "ed25519")
        with open(self.host_key_file + ".pub") as f:
            self.host_public_key = " ".join(f.read().split()[:2])

        self.ed25519_key_file = os.path.join(w, "id_ed25519")
        _keygen(self.ed25519_key_file, "-t", "ed25519")
        self.rsa_pem_key_file = os.path.join(w, "id_rsa_pem")
        _keygen(self.rsa_pem_key_file, "-t", "rsa", "-b", "3072", "-m", "PEM")
        with open(self.ed25519_key_file, "rb") as f:
            self.ed25519_key = f.read()
        with open(self.rsa_pem_key_file, "rb") as f:
            self.rsa_pem_key = f.read()

        self.known_hosts_file = os.path.join(w, "known_hosts")
        with open(self.known_hosts_file, "w") as f:
            f.write(self.known_hosts_line() + "\n")

        # Per-instance area in the user's home: authorized_keys + backup target.
        self.user_dir = os.path.join(self.home, f"sshfx-{self.port}-{secrets.token_hex(4)}")
        os.makedirs(self.user_dir)
        os.chown(self.user_dir, self.pw.pw_uid, self.pw.pw_gid)
        self.authorized_keys_file = os.path.join(self.user_dir, "authorized_keys")
        with open(self.authorized_keys_file, "w") as out:
            for pub in (self.ed25519_key_file + ".pub", self.rsa_pem_key_file + ".pub"):
                with open(pub) as f:
                    out.write(f.read().strip() + "\n")
        os.chmod(self.authorized_keys_file, 0o644)
        self.remote_dir = os.path.join(self.user_dir, "data")
        os.makedirs(self.remote_dir)
        os.chown(self.remote_dir, self.pw.pw_uid, self.pw.pw_gid)
        self.remote_rel = os.path.relpath(self.remote_dir, self.home)

        self.config_file = os.path.join(w, "sshd_config")
        with open(self.config_file, "w") as f:
            f.write(
                "\n".join(
                    [
                        f"Port {self.port}",
                        f"ListenAddress {self.host}",
                        f"HostKey {self.host_key_file}",
                        f"PidFile {os.path.join(w, 'sshd.pid')}",
                        f"AuthorizedKeysFile {self.authorized_keys_file}",
                        "PubkeyAuthentication yes",
                        "PasswordAuthentication yes",
                        "KbdInteractiveAuthentication no",
                        "UsePAM no",
                        "PermitRootLogin no",
                        f"AllowUsers {self.user}",
                        "StrictModes no",
                        "PrintMotd no",
                        "PrintLastLog no",
                        "X11Forwarding no",
                        "AllowTcpForwarding no",
                        "MaxStartups 50:30:100",
                        "MaxSessions 20",
                        "Subsystem sftp internal-sftp",
                        "LogLevel VERBOSE",
                        "",
                    ]
                )
            )
        subprocess.run([SSHD, "-t", "-f", self.config_file], check=True)

    def _command(self):
        return [SSHD, "-D", "-e", "-f", self.config_file]

    def _is_ready(self):
        return read_banner(self.host, self.port).startswith(b"SSH-")

    def _cleanup(self):
        if self.user_dir:
            shutil.rmtree(self.user_dir, ignore_errors=True)

    # -- for tests -------------------------------------------------------------
    def known_hosts_line(self):
        """``[127.0.0.1]:port ssh-ed25519 AAAA...``, as OpenSSH writes a non-22 port."""
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    @property
    def private_keys(self):
        """{"ed25519": bytes (OpenSSH format), "rsa_pem": bytes (PEM)}"""
        return {"ed25519": self.ed25519_key, "rsa_pem": self.rsa_pem_key}

    def ssh_options(self, key_file=None, known_hosts_file=None):
        """The ``--ssh-options`` value duplicity understands for key + known_hosts."""
        return (
            f"-oIdentityFile={key_file or self.ed25519_key_file} "
            f"-oUserKnownHostsFile={known_hosts_file or self.known_hosts_file}"
        )

    def listdir(self):
        """File names in ``remote_dir`` (what a backup wrote)."""
        return sorted(os.listdir(self.remote_dir))
