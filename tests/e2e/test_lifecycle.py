"""The lifecycle of the built charm through the harness: the whole path on duplicity 3 and
Debian's 0.8.22, backup, incremental, list, restore and remove on every other major too."""

import hashlib
import itertools
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from harness import Model
from servers.duplicity_versions import duplicity_path

from .helpers import (NRPE_CONFDIR, letters, make_tree, remove_unit, require_duplicity, snapshot,
                      unit_files)

# dup08: Debian's duplicity 0.8.22; dup0811: focal's 0.8.11
FULL_PATH_VERSIONS = ["dup3", "dup08"]
SHORT_PATH_VERSIONS = ["dup21", "dup0811"]
PASSPHRASE = "lifecycle-passphrase-7f3a9"


def invoked_handlers(unit, since):
    return [msg.split(": ", 1)[1] for level, msg in unit.logs[since:]
            if msg.startswith("Invoking reactive handler: ")]


def backup_change_incremental_list_restore(d, tmp_path):
    """Steps 1-9 of the lifecycle, the ones duplicity's version matters to: deployed,
    configured, a full backup, changes, an incremental, list-backups, list-current-files,
    restores of everything, of one file and at the time of the first backup, each compared
    byte for byte. Returns (the first backup's results, the backup target)."""
    data_a, data_b = tmp_path / "srv-a", tmp_path / "srv-b"
    make_tree(data_a, seed=1)
    make_tree(data_b, seed=2, files=6)
    target = tmp_path / "backups"

    hooks = [h for u, h, *_ in d.model.hook_log if u == d.unit_name]
    assert [h for h in hooks if not h.endswith("-relation-created")][:4] == [
        "install", "leader-elected", "config-changed", "start"]
    assert d.unit.status[0] == "blocked"

    d.declare(fileset="{},{}".format(data_a, data_b))
    d.configure(backend="file", remote_backup_url="file://{}".format(target),
                encryption_passphrase=PASSPHRASE)
    assert d.unit.status == ("active", "ready; no backup yet")

    # 3. full backup
    first = d.ok("do-backup", full=True)
    assert first["backup-type"] == "full"
    state_1 = {"a": snapshot(data_a), "b": snapshot(data_b)}
    time.sleep(1.1)  # backup-ids have a resolution of one second

    # 4. change, add and delete files
    with open(data_a / "d1" / "f1.txt", "a") as f:
        f.write("appended\n")
    (data_b / "new.txt").write_text("a new file\n")
    os.unlink(data_a / "d0" / "f0.bin")

    # 5. incremental
    second = d.ok("do-backup")
    assert second["backup-type"] == "incremental"
    assert int(second["changed-files"]) >= 1 and int(second["deleted-files"]) >= 1
    state_2 = {"a": snapshot(data_a), "b": snapshot(data_b)}

    # 6. list-backups: one full, one incremental, oldest first
    listing = d.ok("list-backups")
    assert listing["count"] == "2"
    lines = listing["backups"].splitlines()
    assert lines[0] == "backup-id | backup-type | volumes | chain"
    assert set(lines[1]) == {"-"}
    assert lines[2].startswith("{} | full | ".format(first["backup-id"]))
    assert lines[3].startswith("{} | incremental | ".format(second["backup-id"]))
    assert lines[3].endswith("| " + first["backup-id"])

    # 7. list-current-files
    files = d.ok("list-current-files")["files"].splitlines()
    assert str(data_b / "new.txt").lstrip("/") in files
    assert str(data_a / "d0" / "f0.bin").lstrip("/") not in files

    # 8. restore everything, and one file, into new targets
    everything = tmp_path / "restore-all"
    result = d.ok("restore", target=str(everything))
    assert result["target"] == str(everything)
    assert snapshot(everything / str(data_a).lstrip("/")) == state_2["a"]
    assert snapshot(everything / str(data_b).lstrip("/")) == state_2["b"]
    one = tmp_path / "restore-one"
    rel = str(data_a / "d1" / "f1.txt").lstrip("/")
    d.ok("restore", path=rel, target=str(one))
    assert snapshot(one / os.path.dirname(rel))["f1.txt"] == state_2["a"]["d1/f1.txt"]

    # 9. restore at the time of the first backup gives the first state
    old = tmp_path / "restore-old"
    d.ok("restore", time=first["backup-id"], target=str(old))
    assert snapshot(old / str(data_a).lstrip("/")) == state_1["a"]
    assert snapshot(old / str(data_b).lstrip("/")) == state_1["b"]
    return first, target


def assert_removed_keeping_the_backups(d, target, stored):
    """stop/remove removes the schedule and the secret files, never the backups."""
    slug = d.unit_name.replace("/", "-")
    d.unit.remove()
    for path in unit_files(d.unit_name):
        assert not os.path.exists(path), path
    assert sorted(os.listdir(target / slug)) != [] and set(stored) <= set(
        os.listdir(target / slug))
    shutil.rmtree(target)


# The whole lifecycle on duplicity 3 and on Debian's 0.8.22; on 2.1 and focal's 0.8.11, the
# steps their duplicity takes part in (the config, upgrade and invalid-config steps run the
# charm's own code, the same whatever the version).
@pytest.mark.parametrize("version", FULL_PATH_VERSIONS)
def test_lifecycle_backup_change_incremental_list_restore_upgrade_remove(deploy, tmp_path, version):
    d = deploy(version)
    first, target = backup_change_incremental_list_restore(d, tmp_path)

    # 10. a config change re-runs only the affected handlers: a schedule change rewrites
    # the cron file but neither reinstalls packages nor rewrites the secrets
    slug = d.unit_name.replace("/", "-")
    env_file = "/var/lib/charm-duplicity/{}/secrets/env".format(slug)
    before = os.stat(env_file)
    mark = len(d.unit.logs)
    d.configure(backup_frequency="daily")
    handlers = invoked_handlers(d.unit, mark)
    assert not any(h.endswith(":update_packages") for h in handlers), handlers
    assert any(h.endswith(":schedule") for h in handlers), handlers
    assert os.stat(env_file).st_mtime_ns == before.st_mtime_ns
    cron = "/etc/cron.d/charm-duplicity-" + slug
    with open(cron) as f:
        assert " backup" in f.read()
    mark = len(d.unit.logs)
    d.configure(backend="file", volsize=50)
    assert not any(h.endswith(":update_packages") for h in invoked_handlers(d.unit, mark))

    # 11. invalid config blocks with the key named, removes the schedule, keeps the backups
    stored = sorted(os.listdir(target / slug))
    d.configure(backup_frequency="every tuesday")
    state, message = d.unit.status
    assert state == "blocked" and "backup_frequency" in message
    assert not os.path.exists(cron)
    assert sorted(os.listdir(target / slug)) == stored
    assert d.action("do-backup").status == "failed"
    d.configure(backup_frequency="daily")
    assert d.unit.status[0] == "active" and os.path.exists(cron)

    # 12. upgrade-charm keeps working
    d.app.upgrade_charm(d.app.charm)
    assert d.unit.status[0] == "active"
    third = d.ok("do-backup")
    assert third["backup-type"] == "incremental"

    # 13. stop/remove removes the schedule and the secret files, never the backups
    assert_removed_keeping_the_backups(d, target, stored)


@pytest.mark.parametrize("version", SHORT_PATH_VERSIONS)
def test_backup_change_incremental_list_restore_and_remove_work_on_older_duplicity(
        deploy, tmp_path, version):
    d = deploy(version)
    first, target = backup_change_incremental_list_restore(d, tmp_path)
    stored = sorted(os.listdir(target / d.unit_name.replace("/", "-")))
    assert any(first["backup-id"].replace("-", "").replace(":", "") in name for name in stored)
    assert_removed_keeping_the_backups(d, target, stored)


# ---------------------------------------------------------------- switching from upstream
# What the deprecated upstream charm (canonical/charm-duplicity) leaves on a unit, written here
# from its documented behaviour: its reactive flags (a mix a real unit can carry: stale
# invalid_* and queued cron flags, the nrpe layer's), its cron files as its templates render
# them, its NRPE check and plugins, its error file, and full backups made with its own
# command line: duplicity full <aux_backup_directory> <backend>://<url>/<unit slug>
# [--encrypt-key=<key id>], the passphrase in PASSPHRASE, root's default GnuPG home.

UPSTREAM_VERSIONS = ["dup08", "dup3"]
UPSTREAM_FLAGS = ["duplicity.installed", "duplicity.invalid_aws_creds",
                  "duplicity.invalid_backup_frequency", "duplicity.create_deletion_cron",
                  "duplicity.remove_backup_cron", "duplicity.failed_backup",
                  "nrpe-external-master.initial-config", "nrpe-external-master.configured"]
PLUGIN_DIR = "/usr/local/lib/nagios/plugins"
UPSTREAM_CHECK = os.path.join(NRPE_CONFDIR, "check_backups.cfg")
UPSTREAM_PLUGINS = [os.path.join(PLUGIN_DIR, name)
                    for name in ("check_backup_status.py", "check_deletion_status.py")]
UPSTREAM_ERROR = "/var/run/periodic_backup.error"
UPSTREAM_CRONS = ["/etc/cron.d/periodic_backup", "/etc/cron.d/periodic_deletion"]
ROOT_GNUPG = "/root/.gnupg"
_UPSTREAM_COUNTER = itertools.count()


@pytest.fixture
def key_in_roots_keyring(tmp_path):
    """A throw-away key pair whose public key is in root's keyring (/root/.gnupg), where
    upstream's --encrypt-key=<key id> found it: (long key id, secret key file). The key is
    deleted from root's keyring afterwards (and the keyring, if the test created it)."""
    home = tempfile.mkdtemp(prefix="uk-", dir="/tmp")
    os.chmod(home, 0o700)
    created = not os.path.exists(ROOT_GNUPG)
    fingerprint = None

    def gpg(*args, homedir=home, **kwargs):
        return subprocess.run(["gpg", "--homedir", homedir, "--batch", "--pinentry-mode",
                               "loopback", "--passphrase", ""] + list(args), check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs).stdout

    try:
        uid = "Upstream Switch {} <switch-{}@example.invalid>".format(os.getpid(), tmp_path.name)
        gpg("--quick-gen-key", uid, "default", "default", "never")
        listing = gpg("--with-colons", "--list-keys", uid).decode().splitlines()
        fingerprint = next(line.split(":")[9] for line in listing if line.startswith("fpr:"))
        secret_file = tmp_path / "upstream-secret-key.asc"
        secret_file.write_bytes(gpg("--armor", "--export-secret-keys", fingerprint))
        secret_file.chmod(0o600)
        os.makedirs(ROOT_GNUPG, mode=0o700, exist_ok=True)
        gpg("--import", homedir=ROOT_GNUPG, input=gpg("--export", fingerprint))
        # as an operator of the upstream charm did: gpg encrypts only to a trusted key
        gpg("--import-ownertrust", homedir=ROOT_GNUPG, input="{}:6:\n".format(fingerprint).encode())
        yield fingerprint[-16:], str(secret_file)
    finally:
        if fingerprint and os.path.isdir(ROOT_GNUPG):
            subprocess.run(["gpg", "--homedir", ROOT_GNUPG, "--batch", "--yes", "--delete-keys",
                            fingerprint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if created:
            subprocess.run(["gpgconf", "--homedir", ROOT_GNUPG, "--kill", "all"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(ROOT_GNUPG, ignore_errors=True)
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)


def upstream_archive(url):
    return os.path.join("/root/.cache/duplicity", hashlib.md5(url.encode()).hexdigest())


def upstream_backup(version, data, url, passphrase="", key_id=""):
    """One backup made the way upstream's do-backup made it (its _build_cmd)."""
    argv = [duplicity_path(version), "full", str(data), url]
    if key_id:
        argv.append("--encrypt-key={}".format(key_id))
    # root's default archive dir, /root/.cache/duplicity/<md5 of the URL> (unique per test)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
           "PASSPHRASE": passphrase}
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace")


def ok(unit, name, **params):
    result = unit.run_action(name, params)
    assert result.status == "completed", "{} failed: {}".format(name, result.message)
    return result.results


def upstream_files(unit, schedule):
    """Upstream's cron files (only for a schedule), error file, NRPE check and plugins."""
    files = {UPSTREAM_CHECK: ("# check backups\n"
                              "# The following header was added automatically by juju\n"
                              "# Modifying it will affect nagios monitoring and alerting\n"
                              "# servicegroups: juju\n"
                              "command[check_backups]={}\n".format(UPSTREAM_PLUGINS[0]))}
    for plugin in UPSTREAM_PLUGINS:
        files[plugin] = "#!/usr/bin/env python3\n# upstream's plugin (stand-in)\n"
    if schedule:
        script = "{} root /usr/bin/juju-run {} {}/scripts/{}.py\n"
        files[UPSTREAM_CRONS[0]] = script.format("@daily", unit.name, unit.charm_dir,
                                                 "periodic_backup")
        files[UPSTREAM_CRONS[1]] = script.format("0 23 * * *", unit.name, unit.charm_dir,
                                                 "periodic_deletion")
        files[UPSTREAM_ERROR] = "Periodic backup failed: the backend was unreachable\n"
    return files


@pytest.mark.exclusive  # removing upstream's NRPE check restarts the machine's NRPE daemon
@pytest.mark.parametrize("mode", ["passphrase", "key-id"])
@pytest.mark.parametrize("version", UPSTREAM_VERSIONS)
def test_switch_from_an_upstream_unit_clears_its_footprint_and_restores_its_backups(
        request, duplicity_charm, nrpe_server, tmp_path, version, mode):
    """A unit the upstream charm ran (passphrase with a daily schedule, or a key id from
    root's keyring with a manual one: no cron file) is switched to this charm."""
    bin_dir = require_duplicity(version)
    data, target = tmp_path / "srv-upstream", tmp_path / "backups"
    make_tree(data, seed=11, files=4)
    key_id, secret_key = ("", None)
    if mode == "key-id":
        key_id, secret_key = request.getfixturevalue("key_in_roots_keyring")
    config = {"backend": "file", "remote_backup_url": "file://{}".format(target),
              "aux_backup_directory": str(data),
              "backup_frequency": "daily" if mode == "passphrase" else "manual",
              "retention_period": "7d" if mode == "passphrase" else "manual",
              "deletion_frequency": "daily"}
    if mode == "passphrase":
        config["encryption_passphrase"] = PASSPHRASE
    else:
        config["gpg_public_key"] = key_id

    model = Model(tmp_path / "model", juju_version="2.9.49")  # upstream ran on Juju 2.9
    principal = model.add_application("principal-up").add_unit()
    name = "dup{}-up{}".format(letters(os.getpid()), letters(next(_UPSTREAM_COUNTER)))
    app = model.add_application(name, charm=duplicity_charm)
    app.set_config(run_hooks=False, **config)
    unit = app.add_unit(principal=principal, deploy=False, extra_path=[bin_dir])
    model.relate("{}:general-info".format(name), "principal-up:juju-info")
    model.add_application("nrpe").add_unit(principal=principal)
    nrpe_rel = model.relate("{}:nrpe-external-master".format(name),
                            "nrpe:nrpe-external-master")
    slug = unit.name.replace("/", "-")
    leftovers = upstream_files(unit, schedule=mode == "passphrase")
    try:
        upstream_url = "file://{}/{}".format(target, slug)
        upstream_backup(version, data, upstream_url,
                        passphrase=config.get("encryption_passphrase", ""), key_id=key_id)
        assert os.path.isdir(upstream_archive(upstream_url))
        upstream_state = snapshot(data)
        for path, text in leftovers.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        unit.adopt(flags=UPSTREAM_FLAGS, previous_config=config)

        mark = len(unit.logs)
        app.upgrade_charm(app.charm)

        # our install work ran although upstream had set duplicity.installed
        hooks = [h for u, h, *_ in model.hook_log if u == unit.name]
        assert hooks == ["upgrade-charm", "config-changed"], hooks
        messages = [msg for _, msg in unit.logs[mark:]]
        assert any(m.startswith("install: directories in place; packages duplicity gnupg: "
                                "installed") for m in messages), messages
        flags = unit.flags()
        assert not set(flags) & (set(UPSTREAM_FLAGS) - {"duplicity.installed"}), flags
        assert {"duplicity.installed", "duplicity.encryption-ready", "duplicity.ready"} <= set(
            flags), flags
        assert os.path.exists("/var/lib/charm-duplicity/{}/spec.json".format(slug))
        # upstream's leftovers are gone, with or without a cron file
        for path in leftovers:
            assert not os.path.exists(path), path
        # its local archive (unencrypted manifests) moved into this unit's archive
        assert not os.path.exists(upstream_archive(upstream_url))
        # this charm's NRPE check replaces upstream's, registered as a subordinate's
        assert os.path.exists(os.path.join(NRPE_CONFDIR, "check_duplicity_backup_{}.cfg".format(
            slug.replace("-", "_"))))
        assert nrpe_rel.data(unit.name).get("primary") == "False", nrpe_rel.data(unit.name)
        with open(os.path.join(PLUGIN_DIR, "check_duplicity_backup"), "rb") as f:
            assert f.read() == (app.charm / "files" / "check_duplicity_backup").read_bytes()
        # beside it the module it reads the record with; it runs as nagios from there
        with open(os.path.join(PLUGIN_DIR, "duplicity_records.py"), "rb") as f:
            assert f.read() == (app.charm / "lib" / "duplicity_records.py").read_bytes()
        check = subprocess.run(["runuser", "-u", "nagios", "--", os.path.join(
            PLUGIN_DIR, "check_duplicity_backup"), "/var/lib/charm-duplicity/status/{}.json"
            .format(slug)], capture_output=True, text=True, cwd="/")
        assert (check.returncode, check.stdout) == (0, "OK: no backup yet\n"), check
        assert unit.status == ("active", "ready; no backup yet"), unit.status

        # upstream's backup is listed; the first backup is full (an incremental would
        # continue upstream's chain, whose source was another directory)
        listing = ok(unit, "list-backups")
        assert listing["count"] == "1", listing
        upstream_id = listing["backups"].splitlines()[2].split(" | ")[0]
        assert listing["backups"].splitlines()[2].startswith(upstream_id + " | full | ")
        with open(data / "d1" / "f1.txt", "a") as f:
            f.write("changed after the switch\n")
        first = ok(unit, "do-backup")
        assert first["backup-type"] == "full", first
        assert "Backup Statistics" in first["output"] and first["backup-id"] in first["output"]

        # restore reaches upstream's backup (its root was the aux directory) and ours
        key = {"private-key-file": secret_key} if secret_key else {}
        old = tmp_path / "restore-upstream"
        ok(unit, "restore", time=upstream_id, target=str(old), **key)
        assert snapshot(old) == upstream_state
        new = tmp_path / "restore-latest"
        ok(unit, "restore", target=str(new), **key)
        assert snapshot(new / str(data).lstrip("/")) == snapshot(data)

        if mode == "passphrase":
            # an installed plugin that differs from the charm's (an older revision's) is
            # re-installed by upgrade-charm, although the check's settings did not change
            plugin = os.path.join(PLUGIN_DIR, "check_duplicity_backup")
            with open(plugin, "w") as f:
                f.write("#!/bin/sh\necho 'OK: an older revision'\n")
            app.upgrade_charm(app.charm)
            with open(plugin, "rb") as f:
                assert f.read() == (app.charm / "files" / "check_duplicity_backup").read_bytes()
            assert os.stat(plugin).st_mode & 0o777 == 0o755
    finally:
        remove_unit(unit)
        for path in leftovers:
            if os.path.lexists(path):
                os.unlink(path)
        shutil.rmtree(upstream_archive("file://{}/{}".format(target, slug)), ignore_errors=True)
