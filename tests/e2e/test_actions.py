"""Every action of the built charm through the harness (design.md §4): results, parameter
checks that touch no backup, and failures that end in action-fail with a recorded outcome
and no secret anywhere the harness captured."""

import base64
import fcntl
import json
import os
import time

import pytest
import yaml

from harness.model import ActionInvalid

from .helpers import REPO, make_tree, read_outcome, snapshot

VERSION = "dup3"
PASSPHRASE = "actions-passphrase-5c1e9b"
STAT_KEYS = ("elapsed-time", "source-files", "new-files", "changed-files", "deleted-files",
             "destination-size-change", "errors")
LONG_ACTIONS = ("do-backup", "list-backups", "list-current-files", "restore", "verify",
                "remove-older-than", "remove-all-but-n-full", "remove-all-inc-of-but-n-full",
                "cleanup")


def rel(path):
    return str(path).lstrip("/")


def next_second():
    """backup-ids have a resolution of one second."""
    time.sleep(1.1)


def file_backed(d, tmp_path, data, **config):
    d.declare(fileset=str(data))
    settings = dict(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                    encryption_passphrase=PASSPHRASE)
    settings.update(config)
    d.configure(**settings)
    assert d.unit.status[0] == "active", d.unit.status


def restored(d, tmp_path, data, name, **params):
    """Restore everything (at params' time) into a new dir; the snapshot of data there."""
    target = tmp_path / name
    result = d.ok("restore", target=str(target), **params)
    assert result["target"] == str(target)
    return snapshot(target / rel(data))


def table_rows(listing):
    lines = listing["backups"].splitlines()
    assert lines[0] == "backup-id | backup-type | volumes | chain"
    assert set(lines[1]) == {"-"}
    rows = [[cell.strip() for cell in line.split("|")] for line in lines[2:]]
    assert len(rows) == int(listing["count"])
    return rows


def assert_failed(d, action, *expected, **params):
    result = d.action(action, **params)
    assert result.status == "failed", result.results
    for text in expected:
        assert text in result.message, result.message
    return result.message


def assert_no_secret(d, *secrets):
    """No secret in what the harness captured, except config-get's answers (the config
    Juju gives the charm)."""
    text = d.unit.captured_text()
    for call in d.unit.calls_to("config-get"):
        text = text.replace(json.dumps(call, sort_keys=True), "")
        if call.get("stdout"):
            text = text.replace(call["stdout"], "")
    for secret in secrets:
        assert secret not in text


def test_actions_yaml_declares_every_long_action_parallel_in_one_execution_group():
    with open(os.path.join(REPO, "actions.yaml")) as f:
        actions = yaml.safe_load(f)
    assert set(actions) == set(LONG_ACTIONS)
    groups = {actions[name].get("execution-group") for name in LONG_ACTIONS}
    assert len(groups) == 1 and None not in groups
    for name in LONG_ACTIONS:
        assert actions[name].get("parallel") is True, name
    for name in ("remove-all-but-n-full", "remove-all-inc-of-but-n-full"):
        assert actions[name]["params"]["count"]["minimum"] == 1
        assert actions[name]["required"] == ["count"]
    assert actions["remove-older-than"]["required"] == ["time"]


def test_backups_are_incremental_unless_full_is_due_and_pruning_keeps_what_it_says(
        deploy, tmp_path):
    data = tmp_path / "srv"
    make_tree(data, seed=3, files=8, size=2048)
    d = deploy(VERSION)
    file_backed(d, tmp_path, data)
    states = []

    # no chain yet: full, although not asked
    first = d.ok("do-backup")
    assert first["backup-type"] == "full"
    for key in STAT_KEYS:
        assert key in first, key
    assert first["errors"] == "0" and int(first["source-files"]) >= 8
    states.append(snapshot(data))
    next_second()

    (data / "d1" / "f1.txt").write_text("changed content\n")
    second = d.ok("do-backup")
    assert second["backup-type"] == "incremental"
    assert int(second["changed-files"]) >= 1
    states.append(snapshot(data))
    next_second()

    (data / "added.txt").write_text("added before the full\n")
    third = d.ok("do-backup", full=True)
    assert third["backup-type"] == "full"
    states.append(snapshot(data))
    next_second()

    d.configure(full_if_older_than="always")
    (data / "d2" / "f2.bin").write_bytes(b"\x00\x01" * 300)
    fourth = d.ok("do-backup")
    assert fourth["backup-type"] == "full"
    states.append(snapshot(data))
    d.configure(full_if_older_than="1M")

    ids = [b["backup-id"] for b in (first, second, third, fourth)]
    assert len(set(ids)) == 4 and ids == sorted(ids)
    listing = d.ok("list-backups")
    assert listing["count"] == "4"
    assert [(r[0], r[1], r[3]) for r in table_rows(listing)] == [
        (ids[0], "full", ids[0]), (ids[1], "incremental", ids[0]),
        (ids[2], "full", ids[2]), (ids[3], "full", ids[3])]
    assert all(int(r[2]) >= 1 for r in table_rows(listing))

    # every backup restores byte for byte, at its own backup-id
    for n, (bid, state) in enumerate(zip(ids, states)):
        assert restored(d, tmp_path, data, "restore-{}".format(n), time=bid) == state

    # list-current-files at a time shows that backup's files
    at_first = d.ok("list-current-files", time=ids[0])["files"].splitlines()
    latest = d.ok("list-current-files")
    assert rel(data / "added.txt") not in at_first
    assert rel(data / "d1" / "f1.txt") in at_first
    assert rel(data / "added.txt") in latest["files"].splitlines()
    assert int(latest["count"]) == len(latest["files"].splitlines())

    # pruning, checked with list-backups
    d.ok("remove-all-inc-of-but-n-full", count=1)
    assert [r[0] for r in table_rows(d.ok("list-backups"))] == [ids[0], ids[2], ids[3]]
    d.ok("remove-all-but-n-full", count=2)
    assert [r[0] for r in table_rows(d.ok("list-backups"))] == [ids[2], ids[3]]
    d.ok("remove-older-than", time=ids[3])
    assert [r[0] for r in table_rows(d.ok("list-backups"))] == [ids[3]]
    assert d.ok("cleanup")["result"] == "ok"
    assert restored(d, tmp_path, data, "restore-after-pruning") == states[3]
    assert read_outcome(d.unit_name)["last-action"]["status"] == "ok"
    assert_no_secret(d, PASSPHRASE)


def hook_script(path, log):
    path.write_text('#!/bin/sh\necho "$(basename "$0")${{BACKUP_RESULT:+ $BACKUP_RESULT}}" >> {}\n'.format(log))
    path.chmod(0o755)
    return str(path)


def stored(tmp_path, d):
    return sorted(os.listdir(tmp_path / "backups" / d.unit_name.replace("/", "-")))


def test_bad_parameters_touch_nothing_then_verify_and_an_in_place_restore_do_their_work(
        deploy, tmp_path):
    data = tmp_path / "srv" / "app"
    make_tree(data, seed=5, files=6, size=1024)
    log = tmp_path / "restore-hooks.log"
    d = deploy(VERSION)
    d.declare(fileset=str(data),
              **{"run-before-restore": hook_script(tmp_path / "before.sh", log),
                 "run-after-restore": hook_script(tmp_path / "after.sh", log)})
    file_backed(d, tmp_path, data)
    backup = d.ok("do-backup")
    original = snapshot(data)

    # each bad parameter fails naming it, and touches no backup, target or hook
    before = stored(tmp_path, d)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("precious")
    a_file = tmp_path / "a-file"
    a_file.write_text("precious")
    assert_failed(d, "restore", "time 'yesterday'", time="yesterday")
    assert_failed(d, "list-current-files", "time 'last week'", time="last week")
    assert_failed(d, "verify", "time 'soon'", time="soon")
    assert_failed(d, "remove-older-than", "time 'old'", time="old")
    for action in ("remove-all-but-n-full", "remove-all-inc-of-but-n-full"):
        with pytest.raises(ActionInvalid, match=r"\.count: must be >= 1"):
            d.action(action, count=0)
    assert_failed(d, "restore", "target {} is not empty".format(busy), target=str(busy))
    assert_failed(d, "restore", "target {} exists and is not a directory".format(a_file),
                  target=str(a_file))
    missing = rel(data / "not-there.txt")
    new_target = tmp_path / "new-target"
    assert_failed(d, "restore", "path {} is not in the backup".format(missing),
                  path=missing, target=str(new_target))
    assert not new_target.exists()
    assert_failed(d, "restore", "in-place needs path", **{"in-place": True})
    assert not log.exists()  # rejected before any restore started
    assert stored(tmp_path, d) == before
    assert os.listdir(busy) == ["keep.txt"] and (busy / "keep.txt").read_text() == "precious"
    assert a_file.read_text() == "precious"
    assert snapshot(data) == original
    assert sorted(os.listdir(data.parent)) == ["app"]  # no staging or pre-restore leftovers

    # unchanged data: no differences, with or without compare-data
    checked = d.ok("verify", **{"compare-data": True})
    assert checked["differences"] == "0", checked["difference-list"]
    assert int(checked["files-compared"]) >= 6
    # same size and mtime, other content: only compare-data sees it
    victim = data / "d0" / "f0.bin"
    st = victim.stat()
    victim.write_bytes(bytes(255 - b for b in victim.read_bytes()))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert d.ok("verify")["differences"] == "0"
    checked = d.ok("verify", **{"compare-data": True})
    assert int(checked["differences"]) > 0
    assert rel(victim) in checked["difference-list"]
    changed = snapshot(data)

    # in-place restore of a path not in the backup: the hooks ran around it, nothing moved
    # (its root-only staging directory, in the restore area or beside the path, is removed)
    assert_failed(d, "restore", "path {} is not in the backup".format(missing),
                  path=missing, **{"in-place": True})
    assert log.read_text().splitlines() == ["before.sh", "after.sh failed"]
    assert snapshot(data) == changed and sorted(os.listdir(data.parent)) == ["app"]

    # in-place restore: the changed tree is kept aside, the backup put back, hooks around it
    log.unlink()
    result = d.ok("restore", path=rel(data), **{"in-place": True})
    kept = "{}.pre-restore-{}".format(data, backup["backup-id"])
    assert result["target"] == str(data) and result["previous"] == kept
    assert snapshot(data) == original
    assert snapshot(kept) == changed
    assert log.read_text().splitlines() == ["before.sh", "after.sh ok"]
    assert d.ok("verify", **{"compare-data": True})["differences"] == "0"
    assert d.ok("list-backups")["count"] == "1"


def test_a_second_unit_lists_and_restores_the_first_units_backups(deploy, tmp_path):
    data = tmp_path / "srv"
    make_tree(data, seed=7, files=5, size=1024)
    first, second = deploy(VERSION), deploy(VERSION)
    file_backed(first, tmp_path, data)
    own = tmp_path / "second-own"
    own.mkdir()
    wrong = "not-the-passphrase-9a4f01"
    file_backed(second, tmp_path, own, encryption_passphrase=wrong)
    backup = first.ok("do-backup")
    state = snapshot(data)

    # a replacement unit with the wrong passphrase cannot read the manifests
    source = {"source-unit": first.unit_name}
    assert_failed(second, "list-current-files", "decryption failed", **source)
    outcome = read_outcome(second.unit_name)["last-action"]
    assert outcome["status"] == "failed" and "decryption failed" in outcome["error"]
    second.configure(encryption_passphrase=PASSPHRASE)

    listing = second.ok("list-backups", **source)
    assert [r[:2] for r in table_rows(listing)] == [[backup["backup-id"], "full"]]
    assert second.ok("list-backups")["count"] == "0"
    files = second.ok("list-current-files", **source)["files"].splitlines()
    assert rel(data / "d0" / "f0.bin") in files
    assert restored(second, tmp_path, data, "restore", **source) == state
    one = tmp_path / "restore-one"
    second.ok("restore", path=rel(data / "d1"), target=str(one), **source)
    assert snapshot(one / rel(data / "d1")) == {
        k[3:]: v for k, v in state.items() if k.startswith("d1/")}
    assert_no_secret(second, PASSPHRASE, wrong)


def test_actions_fail_cleanly_before_any_backup_while_another_runs_and_with_a_wrong_passphrase(
        deploy, tmp_path):
    data = tmp_path / "srv"
    make_tree(data, seed=8, files=4, size=512)
    d = deploy(VERSION)
    file_backed(d, tmp_path, data)

    for action in ("list-current-files", "restore", "verify"):
        assert_failed(d, action, "no backup found")
        outcome = read_outcome(d.unit_name)["last-action"]
        assert outcome["operation"] == action and outcome["status"] == "failed"
        assert "no backup found" in outcome["error"]

    lock = "/var/lib/charm-duplicity/{}/lock".format(d.unit_name.replace("/", "-"))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        message = assert_failed(d, "do-backup", "already running")
        assert d.unit_name in message
    finally:
        os.close(fd)
    assert "backup" not in read_outcome(d.unit_name)  # nothing ran, nothing to record
    assert d.ok("do-backup")["backup-type"] == "full"
    assert read_outcome(d.unit_name)["backup"]["status"] == "ok"
    assert restored(d, tmp_path, data, "restore") == snapshot(data)

    wrong = "not-the-passphrase-0b7d2e"
    d.configure(encryption_passphrase=wrong)
    for action in ("restore", "verify"):
        assert_failed(d, action, "decryption failed")
        outcome = read_outcome(d.unit_name)["last-action"]
        assert outcome["operation"] == action and outcome["status"] == "failed"
        assert "decryption failed" in outcome["error"]
    assert d.unit.status[0] == "active"
    assert_no_secret(d, PASSPHRASE, wrong)


def test_an_unreachable_backend_fails_the_actions_and_records_the_outcome(
        deploy, tmp_path, ssh_server):
    data = tmp_path / "srv"
    make_tree(data, seed=9, files=4, size=512)
    key_b64 = base64.b64encode(ssh_server.private_keys["ed25519"]).decode()
    d = deploy(VERSION)
    d.declare(fileset=str(data))
    d.configure(backend="sftp", encryption_passphrase=PASSPHRASE, remote_user=ssh_server.user,
                remote_backup_url="127.0.0.1:{}/{}".format(ssh_server.port,
                                                           ssh_server.remote_dir),
                private_ssh_key=key_b64, known_host_key=ssh_server.known_hosts_line())
    assert d.unit.status[0] == "active", d.unit.status
    d.ok("do-backup")
    assert restored(d, tmp_path, data, "restore") == snapshot(data)

    ssh_server.stop()
    assert_failed(d, "do-backup", "backend unreachable")
    outcome = read_outcome(d.unit_name)["backup"]
    assert outcome["status"] == "failed" and "backend unreachable" in outcome["error"]
    assert_failed(d, "list-backups", "backend unreachable")
    assert read_outcome(d.unit_name)["last-action"]["status"] == "failed"
    assert d.unit.status[0] != "error"
    key_lines = ssh_server.private_keys["ed25519"].decode().splitlines()
    assert_no_secret(d, PASSPHRASE, key_b64, *key_lines[1:-1])
