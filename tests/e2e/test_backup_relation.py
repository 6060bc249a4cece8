"""The backup relation through real hooks on both sides.

The principal is the example charm in tests/charms/backup-principal (built, its hooks run by
the harness, declaring through interfaces/backup's requires side); duplicity is the built charm
as its subordinate. What the principal's hooks relation-set is what duplicity's hooks
relation-get, and the other way round.
"""

import itertools
import os
import shutil
import time

import pytest

from harness import Model

from .helpers import letters, require_duplicity, snapshot, unit_files

PASSPHRASE = "relation-passphrase-5c1e"
_NAMES = itertools.count()



def unique_names():
    """(principal app, duplicity app) names, unique per test and process, valid for Juju."""
    tag = "{}-{}".format(letters(os.getpid()), letters(next(_NAMES)))
    return "bp" + tag, "dupr" + tag


class Pair:
    """The real example principal, duplicity as its subordinate, related over backup."""

    def __init__(self, root, principal_charm, duplicity_charm, bin_dir, principal_config,
                 units=1, names=None, made=None):
        self.units = []
        if made is not None:
            made.append(self)  # cleaned up even when a hook below fails
        self.model = Model(root, juju_version="3.4.0")
        principal_name, dup_name = names or unique_names()
        self.principal_app = self.model.add_application(principal_name, charm=principal_charm,
                                                        config=principal_config)
        self.principals = [self.principal_app.add_unit() for _ in range(units)]
        self.app = self.model.add_application(dup_name, charm=duplicity_charm)
        for principal in self.principals:
            self.units.append(self.app.add_unit(principal=principal, extra_path=[bin_dir],
                                                deploy=False))
            self.units[-1].deploy()
        self.relation = self.model.relate("{}:backup".format(dup_name),
                                          "{}:backup".format(principal_name))

    @property
    def principal(self):
        return self.principals[0]

    @property
    def unit(self):
        return self.units[0]

    def declared(self):
        """The principal's application databag as duplicity reads it."""
        return self.relation.data(self.principal_app.name)

    def ok(self, name, unit=None, **params):
        result = (unit or self.unit).run_action(name, params)
        assert result.status == "completed", "{} failed: {}".format(name, result.message)
        return result.results


@pytest.fixture
def related(tmp_path, principal_charm, duplicity_charm):
    """related(principal_config, units=1, names=None) -> Pair; duplicity units are removed at teardown."""
    made = []

    def _related(principal_config, units=1, names=None, version_id="dup3"):
        bin_dir = require_duplicity(version_id)
        return Pair(tmp_path / "model{}".format(len(made)), principal_charm, duplicity_charm,
                    bin_dir, principal_config, units, names, made)

    yield _related
    leftovers, errors = [], []
    for pair in made:
        for unit in pair.units:
            slug = unit.name.replace("/", "-")
            status_file = "/var/lib/charm-duplicity/status/{}.json".format(slug)
            try:
                if unit.deployed:
                    unit.remove()  # stop/remove must leave none of the unit's files
                    leftovers += [(p, sorted(os.path.relpath(os.path.join(d, n), p)
                                             for d, _, names in os.walk(p) for n in names))
                                  for p in unit_files(unit.name) + [status_file]
                                  if os.path.lexists(p)]
            except Exception as err:  # clean up the other units, then report
                errors.append(err)
            finally:
                for path in unit_files(unit.name) + [
                        status_file, "/var/log/charm-duplicity/{}.log".format(slug)]:
                    if os.path.isdir(path):
                        shutil.rmtree(path, ignore_errors=True)
                    elif os.path.lexists(path):
                        os.unlink(path)
    if errors:
        raise errors[0]
    assert not leftovers, leftovers


def write_script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def dump_script(sandbox):
    """A run-before-backup that dumps a "database" (a file outside the fileset) into the
    fileset, records its environment, and fails while ``fail-dump`` exists in the sandbox."""
    return write_script(sandbox / "dump-db", """\
set -eu
env > {s}/env-before-backup
if [ -e {s}/fail-dump ]; then
    echo "dump refused: database locked" >&2
    exit 3
fi
cp {s}/db/live.db {s}/srv/app-data/dump.sql
""".format(s=sandbox))


def hook_runs(unit):
    """Lines the example principal's shipped hook scripts logged: (kind, BACKUP_RESULT)."""
    path = unit.dir / "hook-runs.log"
    if not path.exists():
        return []
    return [tuple(line.split(" ")[:2]) for line in path.read_text().splitlines()]


def configure_file_backend(pair, target, **extra):
    pair.app.set_config(backend="file", remote_backup_url="file://{}".format(target),
                        encryption_passphrase=PASSPHRASE, **extra)


def test_the_principals_dump_is_backed_up_restored_byte_equal_and_a_failing_dump_cancels_the_backup(
        related, tmp_path):
    data = tmp_path / "srv" / "app-data"
    (tmp_path / "db").mkdir()
    live_db = tmp_path / "db" / "live.db"
    live_db.write_bytes(os.urandom(48 * 1024) + b"\nCOMMIT;\n")
    script = dump_script(tmp_path)
    pair = related({"fileset": str(data), "run-before-backup": script})

    # the principal's leader declared through the requires side; duplicity read it
    declared = pair.declared()
    assert declared["fileset"] == str(data)
    assert declared["run-before-backup"] == script
    shipped = str(pair.principal.charm_dir / "files")
    assert declared["run-after-backup"] == shipped + "/run-after-backup"
    assert declared["run-before-restore"] == shipped + "/run-before-restore"
    assert pair.principal.status == ("active", "backup declared; no backup yet")
    assert (data / "example.txt").exists()  # created by the principal's install hook

    target = tmp_path / "backups"
    configure_file_backend(pair, target)
    assert pair.unit.status == ("active", "ready; no backup yet")

    # 1-2. backup: the principal's run-before-backup dumps the database into the fileset
    first = pair.ok("do-backup")
    assert first["backup-type"] == "full"
    assert (data / "dump.sql").read_bytes() == live_db.read_bytes()
    before_env = (tmp_path / "env-before-backup").read_text()
    assert PASSPHRASE not in before_env and "BACKUP_RESULT" not in before_env
    assert hook_runs(pair.principal) == [("run-after-backup", "ok")]
    state = snapshot(data)

    # 3. restore: the dump is there, byte-equal to the live database at backup time
    restored = tmp_path / "restored"
    pair.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == state
    assert (restored / str(data).lstrip("/") / "dump.sql").read_bytes() == live_db.read_bytes()

    # the outcome reaches the principal's unit through the relation after update-status
    pair.unit.run_hook("update-status")
    published = pair.relation.data(pair.unit.name)
    assert published["last-backup-status"] == "ok"
    assert published["last-backup-type"] == "full"
    assert published["last-backup-time"].endswith("Z")
    assert pair.principal.status == (
        "active", "last backup: full ok at {}".format(published["last-backup-time"]))

    # 4. a failing run-before-backup cancels the backup; run-after-backup still runs
    count = pair.ok("list-backups")["count"]
    (tmp_path / "fail-dump").touch()
    live_db.write_bytes(b"changed after the first backup\n")
    failed = pair.unit.run_action("do-backup")
    assert failed.status == "failed"
    assert script in failed.message and "run-before-backup" in failed.message
    assert PASSPHRASE not in failed.message
    assert pair.ok("list-backups")["count"] == count
    assert hook_runs(pair.principal)[-1] == ("run-after-backup", "failed")
    assert (data / "dump.sql").read_bytes() != live_db.read_bytes()  # no dump was taken

    pair.unit.run_hook("update-status")
    assert pair.unit.status[0] == "blocked" and "last backup failed" in pair.unit.status[1]
    assert pair.relation.data(pair.unit.name)["last-backup-status"] == "failed"
    assert pair.principal.status[1].startswith("last backup: incremental failed at ")

    # the dump works again: the next backup holds the new dump
    os.unlink(tmp_path / "fail-dump")
    third = pair.ok("do-backup")
    assert third["backup-type"] == "incremental"
    assert int(pair.ok("list-backups")["count"]) == int(count) + 1
    again = tmp_path / "restored-again"
    pair.ok("restore", path=str(data / "dump.sql").lstrip("/"), target=str(again))
    assert (again / str(data).lstrip("/") / "dump.sql").read_bytes() == live_db.read_bytes()
    pair.unit.run_hook("update-status")
    assert pair.unit.status[0] == "active"
    assert pair.relation.data(pair.unit.name)["last-backup-status"] == "ok"
    assert pair.principal.status[1].startswith("last backup: incremental ok at ")
    shutil.rmtree(target)


def test_bad_declarations_block_the_unit_naming_them_and_a_departed_relations_paths_and_hooks_are_dropped(
        related, tmp_path):
    data = tmp_path / "srv" / "app-data"
    aux = tmp_path / "etc-app"
    aux.mkdir()
    (aux / "app.conf").write_text("listen = 8080\n")
    pair = related({"fileset": "srv/app-data", "declare-hooks": False})
    target = tmp_path / "backups"
    configure_file_backend(pair, target)

    # the requires side refuses a relative path: the principal blocks, publishes nothing,
    # and duplicity, with nothing declared and no aux_backup_directory, has nothing to back up
    state, message = pair.principal.status
    assert state == "blocked" and "'srv/app-data' is not an absolute path" in message
    assert "fileset" not in pair.declared()
    assert pair.unit.status[0] == "blocked" and "nothing to back up" in pair.unit.status[1]

    # a requirer not built on this layer (written for bacula-fd) publishes it anyway
    label = "{} ({})".format(pair.relation.rid(pair.app), pair.principal_app.name)
    pair.relation.set_data(pair.principal_app.name, {"fileset": "srv/app-data"})
    state, message = pair.unit.status
    assert state == "blocked"
    assert "{}: fileset entry 'srv/app-data' is not an absolute path".format(label) in message

    # the principal's next hook declares a good fileset; duplicity unblocks
    pair.principal_app.set_config(fileset=str(data))
    assert pair.declared() == {"fileset": str(data)}
    assert pair.unit.status == ("active", "ready; no backup yet")

    # a hook script that is not an executable file blocks, naming the path
    not_executable = tmp_path / "after-backup.sh"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    missing = tmp_path / "no-such-script"
    pair.principal_app.set_config(**{"run-after-backup": str(not_executable),
                                     "run-before-backup": str(missing)})
    state, message = pair.unit.status
    assert state == "blocked"
    assert "{}: run-after-backup script '{}' is not an executable file".format(
        label, not_executable) in message
    assert "run-before-backup script '{}' is not an executable file".format(missing) in message
    assert pair.unit.run_action("do-backup").status == "failed"

    # fixed on the principal's machine: the next hook (update-status) sees it
    not_executable.chmod(0o755)
    write_script(missing, "exit 0\n")
    pair.unit.run_hook("update-status")
    assert pair.unit.status == ("active", "ready; no backup yet")
    pair.app.set_config(aux_backup_directory=str(aux))
    pair.ok("do-backup")
    state_data, state_aux = snapshot(data), snapshot(aux)
    restored = tmp_path / "restored"
    pair.ok("restore", target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == state_data
    assert snapshot(restored / str(aux).lstrip("/")) == state_aux

    # a script removed after the check fails the backup at run time; never skipped silently
    os.unlink(missing)
    failed = pair.unit.run_action("do-backup")
    assert failed.status == "failed"
    assert "run-before-backup script {} is missing or not executable".format(
        missing) in failed.message

    # the relation departs: its paths and hook scripts leave later backups
    pair.model.depart(pair.relation)
    assert pair.principal.status == ("active", "ready (no backup relation)")
    time.sleep(1.1)  # backup-ids have a resolution of one second
    after = pair.ok("do-backup")
    assert after["backup-type"] == "incremental"
    pair.unit.run_hook("update-status")
    assert pair.unit.status[0] == "active"  # the recorded failure is cleared by the backup
    files = pair.ok("list-current-files")["files"].splitlines()
    assert not any(f.startswith(str(data).lstrip("/")) for f in files), files
    assert str(aux / "app.conf").lstrip("/") in files
    latest = tmp_path / "restore-latest"
    pair.ok("restore", target=str(latest))
    assert not (latest / str(data).lstrip("/")).exists()
    assert snapshot(latest / str(aux).lstrip("/")) == state_aux

    # without aux_backup_directory nothing is left to back up
    pair.app.set_config(aux_backup_directory="")
    state, message = pair.unit.status
    assert state == "blocked" and "nothing to back up" in message
    shutil.rmtree(target)


@pytest.fixture
def juju_agent_dirs():
    """Make charm dirs under /var/lib/juju/agents (as on a Juju machine); removed afterwards."""
    made = []
    created_root = not os.path.exists("/var/lib/juju")

    def _make(unit_dir_name):
        path = os.path.join("/var/lib/juju/agents", unit_dir_name)
        os.makedirs(os.path.join(path, "charm", "files"))
        made.append(path)
        return path

    yield _make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
    if created_root:
        for path in ("/var/lib/juju/agents", "/var/lib/juju"):
            try:
                os.rmdir(path)
            except OSError:
                pass


def test_a_script_in_the_leaders_charm_dir_runs_from_the_principal_unit_on_this_machine(
        related, tmp_path, juju_agent_dirs):
    """The leader (principal/0) names a script in its own charm dir; the duplicity unit
    attached to principal/1 runs principal/1's copy (design section 5)."""
    principal_name, dup_name = unique_names()
    data = tmp_path / "srv" / "app-data"
    declared = "/var/lib/juju/agents/unit-{}-0/charm/files/dump".format(principal_name)
    copy_dir = juju_agent_dirs("unit-{}-1".format(principal_name))
    mapped = os.path.join(copy_dir, "charm", "files", "dump")
    ran = tmp_path / "ran"
    with open(mapped, "w") as f:
        f.write('#!/bin/sh\necho "$0" >> {}\n'.format(ran))
    os.chmod(mapped, 0o755)

    pair = related({"fileset": str(data), "declare-hooks": False,
                    "run-before-backup": declared}, units=2, names=(principal_name, dup_name))
    assert pair.declared()["run-before-backup"] == declared
    configure_file_backend(pair, tmp_path / "backups")

    # principal/1's machine: mapped and logged; a backup runs principal/1's script
    on_one = pair.units[1]
    assert on_one.status == ("active", "ready; no backup yet")
    assert any("maps to {}".format(mapped) in message and declared in message
               for _, message in on_one.logs)
    pair.ok("do-backup", unit=on_one)
    assert ran.read_text() == mapped + "\n"
    restored = tmp_path / "restored"
    pair.ok("restore", unit=on_one, target=str(restored))
    assert snapshot(restored / str(data).lstrip("/")) == snapshot(data)

    # principal/0's machine has no such script (nothing was installed there): blocked, named
    state, message = pair.units[0].status
    assert state == "blocked" and declared in message
    shutil.rmtree(tmp_path / "backups")
