"""The whole lifecycle of the built charm through the harness, on every duplicity major."""

import os
import shutil
import time

import pytest

from .helpers import make_tree, snapshot, unit_files

VERSIONS = ["dup3", "dup21", "dup08", "dup0811"]  # dup0811: focal's duplicity 0.8.11
PASSPHRASE = "lifecycle-passphrase-7f3a9"


def invoked_handlers(unit, since):
    return [msg.split(": ", 1)[1] for level, msg in unit.logs[since:]
            if msg.startswith("Invoking reactive handler: ")]


@pytest.mark.parametrize("version", VERSIONS)
def test_lifecycle_backup_change_incremental_list_restore_upgrade_remove(deploy, tmp_path, version):
    data_a, data_b = tmp_path / "srv-a", tmp_path / "srv-b"
    make_tree(data_a, seed=1)
    make_tree(data_b, seed=2, files=6)
    target = tmp_path / "backups"

    d = deploy(version)
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
    d.unit.remove()
    for path in unit_files(d.unit_name):
        assert not os.path.exists(path), path
    assert sorted(os.listdir(target / slug)) != [] and set(stored) <= set(
        os.listdir(target / slug))
    shutil.rmtree(target)


def test_upgrade_from_the_upstream_charm_removes_its_schedules_and_starts_a_full_chain(
        deploy, tmp_path):
    """On Juju 2.9, where the upstream charm ran (its cron lines called juju-run)."""
    data = tmp_path / "data"
    make_tree(data, seed=5, files=4)
    d = deploy("dup3", juju_version="2.9.49")
    d.declare(fileset=str(data))
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "b"),
                encryption_passphrase=PASSPHRASE)
    assert d.ok("do-backup")["backup-type"] == "full"
    upstream = {"/etc/cron.d/periodic_backup":
                "@daily root juju-run {} 'actions/do-backup'\n".format(d.unit_name),
                "/var/run/periodic_backup.error": "Periodic backup failed\n"}
    for path, text in upstream.items():
        with open(path, "w") as f:
            f.write(text)
    d.unit.upgrade_charm(d.app.charm)
    for path in upstream:
        assert not os.path.exists(path), path
    time.sleep(1.1)
    assert d.ok("do-backup")["backup-type"] == "full"
    time.sleep(1.1)
    assert d.ok("do-backup")["backup-type"] == "incremental"
    restored = tmp_path / "restored"
    d.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == snapshot(data)
