"""The three encryption modes of the built charm, checked on the volumes it writes.

A file target keeps the volumes where the test can open them: ``gpg --list-packets`` shows
how each volume is encrypted (symmetric AES256 for encryption_passphrase, to the configured
key for gpg_public_key) and disable_encryption leaves plain gzip'ed tar volumes. Every backup
is restored and compared byte for byte.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from .helpers import list_gpg_packets, make_tree, snapshot

PASSPHRASE = "encryption-passphrase-91d4b"
UID = "Duplicity Charm Test <charm-test@example.invalid>"


@pytest.fixture
def gpg_key_pair(tmp_path):
    """A throw-away key pair: (armoured public key, secret key file, encryption subkey id).

    Generated in a short GNUPGHOME under /tmp (gpg-agent's socket path must be short);
    the secret key is exported without a passphrase to a root-only file.
    """
    home = tempfile.mkdtemp(prefix="gk-", dir="/tmp")
    os.chmod(home, 0o700)

    def gpg(*args, **kwargs):
        return subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                               "--passphrase", ""] + list(args), check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs).stdout

    try:
        gpg("--quick-gen-key", UID, "default", "default", "never")
        listing = gpg("--with-colons", "--list-keys", UID).decode().splitlines()
        fingerprint = next(line.split(":")[9] for line in listing if line.startswith("fpr:"))
        subkey_id = next(line.split(":")[4] for line in listing
                         if line.startswith("sub:") and "e" in line.split(":")[11])
        public = gpg("--armor", "--export", fingerprint).decode()
        secret_file = tmp_path / "secret-key.asc"
        secret_file.write_bytes(gpg("--armor", "--export-secret-keys", fingerprint))
        secret_file.chmod(0o600)
        yield public, str(secret_file), subkey_id
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)


def first_volume(target, slug, suffix):
    volumes = glob.glob(os.path.join(str(target), slug, "duplicity-full.*.vol1.difftar" + suffix))
    assert len(volumes) == 1, os.listdir(os.path.join(str(target), slug))
    return volumes[0]


def full_then_incremental(d, tmp_path, **config):
    """Deploy a file target, back up, change the data, back up again; list two sets."""
    src, target = tmp_path / "srv-data", tmp_path / "backups"
    make_tree(src, seed=11, files=6, size=2048)
    d.declare(fileset=str(src))
    d.configure(backend="file", remote_backup_url="file://{}".format(target), **config)
    assert d.unit.status == ("active", "ready; no backup yet"), d.unit.status
    assert d.ok("do-backup")["backup-type"] == "full"
    time.sleep(1.1)  # backup-ids have a resolution of one second
    with open(src / "d3" / "f3.txt", "a") as f:
        f.write("changed after the full backup\n")
    os.unlink(src / "d2" / "f2.bin")
    assert d.ok("do-backup")["backup-type"] == "incremental"
    assert d.ok("list-backups")["count"] == "2"
    return src, target


def test_a_passphrase_encrypts_volumes_symmetrically_with_aes256(deploy, tmp_path):
    d = deploy("dup3")
    src, target = full_then_incremental(d, tmp_path, encryption_passphrase=PASSPHRASE)
    slug = d.unit_name.replace("/", "-")

    packets = list_gpg_packets(first_volume(target, slug, ".gpg"), PASSPHRASE)
    assert ":symkey enc packet: version 4, cipher 9," in packets, packets  # 9 = AES256
    assert "count 65011712 (255)" in packets, packets   # OpenPGP's highest S2K count
    # ... because the unit's gpg-agent is told so (a fresh agent would calibrate it, 1-2 s
    # a run, to the same cap on a fast CPU and lower on a slow one)
    conf = "/var/lib/charm-duplicity/{}/secrets/gnupg/gpg-agent.conf".format(slug)
    with open(conf) as f:
        assert f.read() == "s2k-count 65011712\n"
    assert os.stat(conf).st_mode & 0o777 == 0o600
    assert ":pubkey enc packet:" not in packets

    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(src).lstrip("/")) == snapshot(src)


def test_gpg_public_key_needs_an_armoured_key_encrypts_to_it_and_restores_only_with_the_private_key(
        deploy, tmp_path, gpg_key_pair):
    public_key, secret_key_file, subkey_id = gpg_key_pair
    d = deploy("dup3")
    # A bare key id (what the upstream charm took) blocks, asking for the armoured key.
    make_tree(tmp_path / "srv-data", files=2)
    d.declare(fileset=str(tmp_path / "srv-data"))
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                gpg_public_key="0x4F3A9C1D2B7E6A58")
    state, message = d.unit.status
    assert state == "blocked"
    assert "gpg_public_key" in message and "armoured" in message, message
    assert d.action("do-backup").status == "failed"
    assert not os.path.exists(tmp_path / "backups")

    src, target = full_then_incremental(d, tmp_path, gpg_public_key=public_key)
    slug = d.unit_name.replace("/", "-")

    packets = list_gpg_packets(first_volume(target, slug, ".gpg"))
    assert re.search(r":pubkey enc packet: version \d+, algo \d+, keyid {}\n".format(subkey_id),
                     packets), packets
    assert ":symkey enc packet:" not in packets

    # Without the private key the unit cannot decrypt its backups: restore fails, saying so.
    refused = d.action("restore", target=str(tmp_path / "refused"))
    assert refused.status == "failed"
    assert "decryption failed" in refused.message, refused.message
    assert not os.path.exists(tmp_path / "refused")
    # A replacement unit has no local cache of the (decrypted) signatures either: without
    # the private key it cannot even list the files.
    shutil.rmtree("/var/cache/charm-duplicity/{}/archive".format(slug))
    refused = d.action("list-current-files")
    assert refused.status == "failed"
    assert "decryption failed" in refused.message, refused.message

    files = d.ok("list-current-files", **{"private-key-file": secret_key_file})["files"]
    assert str(src / "d3" / "f3.txt").lstrip("/") in files.splitlines()
    assert str(src / "d2" / "f2.bin").lstrip("/") not in files.splitlines()
    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored), **{"private-key-file": secret_key_file})
    assert snapshot(restored / str(src).lstrip("/")) == snapshot(src)
    # the private key was imported into a temporary GnuPG home, deleted afterwards
    state_dir = "/var/lib/charm-duplicity/" + slug
    assert not [n for n in os.listdir(state_dir) if n.startswith("gnupg-")]


def test_disable_encryption_writes_plain_gzip_volumes(deploy, tmp_path):
    d = deploy("dup3")
    src, target = full_then_incremental(d, tmp_path, disable_encryption=True)
    slug = d.unit_name.replace("/", "-")

    names = os.listdir(target / slug)
    assert not [n for n in names if n.endswith(".gpg")], names
    assert [n for n in names if n.startswith("duplicity-inc.") and n.endswith(".difftar.gz")]
    with open(first_volume(target, slug, ".gz"), "rb") as f:
        assert f.read(2) == b"\x1f\x8b"  # gzip magic

    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(src).lstrip("/")) == snapshot(src)
