"""What a backup of the built charm takes in (design.md §3 exclude_paths, §5, §7).

- Every duplicity unit's state, secrets and cache directories on the machine, and the files in
  every charm directory where charmhelpers keeps the config (``.juju-persistent-config``) and
  unit data (``.unit-state.db``), stay out of every backup, even when a principal declares
  /var/lib/charm-duplicity or a directory holding an agent's charm directory.
- exclude_paths is validated the way duplicity reads it: a pattern duplicity refuses blocks the
  unit naming the key, instead of failing every backup; a valid one excludes what it says.

The other unit's directories are planted under unique names on this machine's real
/var/lib/charm-duplicity and /var/cache/charm-duplicity, and removed afterwards.
"""

import os
import secrets
import shutil

import pytest

from .helpers import snapshot

PASSPHRASE = "selection-passphrase-7d2f0"
SECRET = "other-units-secret-{}".format(secrets.token_hex(8))


def rel(path):
    return str(path).lstrip("/")


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), mode=0o700, exist_ok=True)
    with open(str(path), "w") as f:
        f.write(text)


@pytest.fixture
def other_unit():
    """A second duplicity unit's state (with its secrets) and cache on this machine."""
    slug = "dupfake{}-{}-0".format(os.getpid(), secrets.token_hex(3))
    state = "/var/lib/charm-duplicity/" + slug
    cache = "/var/cache/charm-duplicity/" + slug
    try:
        write(state + "/secrets/env", '{"PASSPHRASE": "%s"}\n' % SECRET)
        write(state + "/secrets/ssh/id_key", SECRET + "\n")
        write(state + "/spec.json", "{}\n")
        write(cache + "/archive/" + slug + "/duplicity-full.manifest", SECRET + "\n")
        yield state, cache
    finally:
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def plant_agents(top, charm_config):
    """An agents directory as Juju lays it out, with charmhelpers' files in a charm dir."""
    charm = top / "unit-principal-0" / "charm"
    write(charm / ".juju-persistent-config", charm_config)
    write(charm / ".unit-state.db", "SQLite format 3\x00 " + SECRET)
    write(charm / ".unit-state.db-journal", SECRET)
    write(charm / "hooks" / "install", "#!/bin/sh\n")
    write(charm / "metadata.yaml", "name: principal\n")
    write(top / "unit-principal-0" / "state" / "notes.txt", "kept\n")
    write(top / "cache" / "a.tmp", "temporary\n")
    write(top / "cache" / "b.txt", "kept\n")


def test_other_units_secrets_and_charm_config_files_never_enter_a_backup_and_exclude_paths_is_checked(
        deploy, tmp_path, other_unit):
    state, cache = other_unit
    d = deploy("dup3")
    # the charm directory's real copy of the config: it holds this unit's passphrase
    d.declare(fileset=",".join(["/var/lib/charm-duplicity", cache, str(tmp_path / "agents")]))
    d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                encryption_passphrase=PASSPHRASE, exclude_paths="*.tmp")

    # exclude_paths as duplicity reads it: '*.tmp' would fail every backup
    state_name, message = d.unit.status
    assert state_name == "blocked", (state_name, message)
    assert "exclude_paths" in message and "'*.tmp'" in message and "**" in message, message
    assert d.action("do-backup").status == "failed"
    assert not os.path.exists(tmp_path / "backups")

    persistent = d.unit.charm_dir / ".juju-persistent-config"
    assert PASSPHRASE in persistent.read_text()  # what would leak
    plant_agents(tmp_path / "agents", persistent.read_text())
    d.configure(exclude_paths="**/*.tmp")
    assert d.unit.status[0] == "active", d.unit.status

    result = d.ok("do-backup")
    assert result["backup-type"] == "full" and result["errors"] == "0", result
    files = d.ok("list-current-files")["files"].splitlines()
    charm = rel(tmp_path / "agents" / "unit-principal-0" / "charm")
    for name in ("hooks/install", "metadata.yaml"):
        assert charm + "/" + name in files, files
    for leaked in (".juju-persistent-config", ".unit-state.db", ".unit-state.db-journal"):
        assert charm + "/" + leaked not in files, files
    assert not [f for f in files if f.startswith(("var/lib/charm-duplicity/",
                                                  "var/cache/charm-duplicity/"))], files
    assert rel(tmp_path / "agents" / "cache" / "a.tmp") not in files
    assert rel(tmp_path / "agents" / "cache" / "b.txt") in files

    target = tmp_path / "restored"
    d.ok("restore", target=str(target))
    assert not os.path.exists(target / "var" / "lib" / "charm-duplicity" / os.path.basename(state))
    assert not os.path.exists(target / rel(cache))
    expected = snapshot(tmp_path / "agents")
    for gone in ("unit-principal-0/charm/.juju-persistent-config",
                 "unit-principal-0/charm/.unit-state.db",
                 "unit-principal-0/charm/.unit-state.db-journal", "cache/a.tmp"):
        del expected[gone]
    assert snapshot(target / rel(tmp_path / "agents")) == expected
    for dirpath, _, names in os.walk(target):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            assert SECRET.encode() not in data and PASSPHRASE.encode() not in data, name
