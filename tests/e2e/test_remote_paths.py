"""Remote directories never reach the backup server's shell as commands (design.md §3).

For rsync over SSH the remote directory is part of the ``--rsync-path`` command the server's
shell runs (and, with rsync before 3.2.4, of rsync's own remote arguments). The built charm
refuses a directory with shell metacharacters at config time, and backs up into a directory
with unusual characters that need no quoting, against the suite's real sshd.
"""

import os
import secrets

from .test_backends import PASSPHRASE, backup_change_incremental_restore, deploy_recorded, \
    files_under, ssh_config


def test_rsync_directory_with_shell_commands_is_refused_and_an_unusual_safe_one_round_trips(
        deploy, tmp_path, ssh_server):
    d = deploy_recorded(deploy, tmp_path)
    pwned = "/tmp/pwned-{}".format(secrets.token_hex(6))
    # no spaces (refused anyway): ${IFS} is the space the server's shell would put in
    hostile = "127.0.0.1:{}/{}/x;touch${{IFS}}{};y".format(ssh_server.port,
                                                          ssh_server.remote_dir, pwned)
    try:
        src = tmp_path / "srv-data"
        src.mkdir()
        (src / "file.txt").write_text("data\n")
        d.declare(fileset=str(src))
        d.configure(backend="rsync", remote_backup_url=hostile, encryption_passphrase=PASSPHRASE,
                    **ssh_config(ssh_server, "ed25519"))
        state, message = d.unit.status
        assert state == "blocked", (state, message)
        assert "remote_backup_url" in message and "';'" in message, message
        assert "touch" not in message and pwned not in message  # the value is not echoed

        result = d.action("do-backup")
        assert result.status == "failed"
        assert not os.path.lexists(pwned), "the server's shell ran a command from the URL"
        assert not d.recorder.commands("ssh"), "nothing may reach the server"
        assert files_under(ssh_server.remote_dir) == []

        # letters, digits and . _ - + , = need no quoting: backed up, restored, compared
        unusual = "site_a+b,c=d.e-f"
        src = backup_change_incremental_restore(
            d, tmp_path / "round-trip", backend="rsync",
            remote_backup_url="127.0.0.1:{}/{}/{}".format(ssh_server.port,
                                                         ssh_server.remote_dir, unusual),
            **ssh_config(ssh_server, "ed25519"))
        slug = d.unit_name.replace("/", "-")
        stored = files_under(os.path.join(ssh_server.remote_dir, unusual))
        assert stored and all(n.startswith(slug + "/duplicity-") for n in stored), stored
        assert not os.path.lexists(pwned)
    finally:
        if os.path.lexists(pwned):
            os.unlink(pwned)
