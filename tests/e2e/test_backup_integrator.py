"""Canonical's backup-integrator as the backup requirer (canonical/backup-operators).

It is a subordinate whose leader alone publishes the application databag, naming hook
scripts it wrote to /opt/backup-integrator-charm/<its unit>/scripts/<option> on the leader's
machine only. Played here exactly like that: two integrator units on two machines, the
leader's scripts written under the leader's unit directory, the duplicity unit on the other
machine.
"""

import itertools
import os
import shutil

from .helpers import letters, make_tree, snapshot

PASSPHRASE = "integrator-passphrase-3e9d"
OPT = "/opt/backup-integrator-charm"
_NAMES = itertools.count()


def write_script(path, marker):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"$0\" >> {}\n".format(marker))
    os.chmod(path, 0o755)


def test_integrator_scripts_only_on_its_leaders_machine_name_the_cause_and_other_paths_back_up(
        deploy, tmp_path):
    own, integrated = tmp_path / "srv-own", tmp_path / "srv-integrated"
    make_tree(own, seed=21, files=3)
    make_tree(integrated, seed=22, files=3)
    marker = tmp_path / "ran"
    d = deploy("dup3")
    d.declare(fileset=str(own))  # the principal's own declaration: no scripts

    name = "bi{}-{}".format(letters(os.getpid()), letters(next(_NAMES)))
    integrator = d.model.add_application(name, subordinate=True)
    leader = integrator.add_unit(principal=d.principal_app.add_unit())  # another machine
    here = integrator.add_unit(principal=d.principal)
    assert integrator.leader is leader
    leader_script = "{}/{}/scripts/run-before-backup".format(OPT, leader.name.replace("/", "-"))
    here_script = "{}/{}/scripts/run-before-backup".format(OPT, here.name.replace("/", "-"))
    try:
        write_script(leader_script, marker)  # the leader's machine only
        rel = d.model.relate("{}:backup".format(d.app.name), "{}:backup".format(name),
                             scope="container")
        rel.set_data(name, {"fileset": str(integrated), "run-before-backup": leader_script})
        d.configure(backend="file", remote_backup_url="file://{}".format(tmp_path / "b"),
                    encryption_passphrase=PASSPHRASE)

        # the status names the cause; the principal's own paths are still backed up
        state, message = d.unit.status
        assert state == "blocked", message
        assert "backup-integrator writes its scripts on its leader's machine only" in message
        assert here_script in message and "not backed up here" in message
        first = d.ok("do-backup")
        assert not marker.exists()
        restored = tmp_path / "restore-1"
        d.ok("restore", time=first["backup-id"], target=str(restored))
        assert snapshot(restored / str(own).lstrip("/")) == snapshot(own)
        assert not (restored / str(integrated).lstrip("/")).exists()

        # the operator puts the script on this machine too: its fileset joins, its script runs
        write_script(here_script, marker)
        d.configure(volsize=50)
        assert d.unit.status[0] == "active", d.unit.status
        d.ok("do-backup")
        assert marker.read_text() == here_script + "\n"
        restored = tmp_path / "restore-2"
        d.ok("restore", target=str(restored))
        assert snapshot(restored / str(own).lstrip("/")) == snapshot(own)
        assert snapshot(restored / str(integrated).lstrip("/")) == snapshot(integrated)
    finally:
        for unit in (leader, here):
            shutil.rmtree(os.path.join(OPT, unit.name.replace("/", "-")), ignore_errors=True)
