"""Hostile config and relation data through the built charm's real hooks.

One deployment (file backend, duplicity 3.x) gets, one hook each: a remote_user with a space,
a URL whose password contains '/', a private key pasted into known_host_key, every string
key at once set to a huge value, and a principal publishing a 300 KB fileset. Every hook
exits 0 (the harness raises HookFailed otherwise), the unit is blocked with a short one-line
message naming the key or relation, and nothing of the password, the pasted key or a marker
planted in every key appears anywhere the harness captured (hook tool calls, juju-log,
status history, hook output), apart from config-get's answers, which are the config itself.
Fixing the config and the relation data makes the unit active again.
"""

import json
import re
import subprocess

from .helpers import make_tree

VERSION = "dup3"
PASSPHRASE = "validation-passphrase-4d2c7"
SLASH_PASSWORD = "Pq8/Zt3:w@Kd5"
MARKER = "Mv6Marker"
STATUS_MAX = 400


def captured_without_config(d):
    """What the harness captured for the unit, except config-get's answers."""
    text = d.unit.captured_text()
    for call in d.unit.calls_to("config-get"):
        text = text.replace(json.dumps(call, sort_keys=True), "")
        if call.get("stdout"):
            text = text.replace(call["stdout"], "")
    return text


def blocked_naming(d, *names):
    state, message = d.unit.status
    assert state == "blocked", (state, message)
    assert len(message) <= STATUS_MAX and "\n" not in message, message
    for name in names:
        assert name in message, message
    return message


def keygen(tmp_path, name, *args):
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "", "-f", str(path)] + list(args),
                   check=True, stdout=subprocess.DEVNULL)
    return path.read_text(), " ".join((tmp_path / (name + ".pub")).read_text().split()[:2])


def test_hostile_config_and_relation_data_block_with_short_messages_and_no_failed_hook(
        deploy, tmp_path):
    data = tmp_path / "srv" / "app"
    make_tree(data, seed=3, files=4, size=512)
    d = deploy(VERSION)
    d.declare(fileset=str(data))
    valid = dict(backend="file", remote_backup_url="file://{}".format(tmp_path / "backups"),
                 encryption_passphrase=PASSPHRASE)
    d.configure(**valid)
    assert d.unit.status[0] == "active", d.unit.status

    _, host_public = keygen(tmp_path, "host", "-t", "ed25519")
    leaked_key, _ = keygen(tmp_path, "leaked", "-t", "rsa", "-b", "1024", "-m", "PEM")
    sftp = dict(backend="sftp", remote_backup_url="127.0.0.1:2222/backups",
                remote_password="sftp-password-8c1d", known_host_key="[127.0.0.1]:2222 " + host_public)

    # a user name the URL and ssh cannot carry: blocked now, not a failed backup later
    d.configure(remote_user="backup user", **sftp)
    blocked_naming(d, "remote_user")

    # user:password@ with a '/' in the password: refused without showing any of it
    d.configure(remote_user="bk", remote_backup_url="bk:{}@127.0.0.1:2222/backups".format(
        SLASH_PASSWORD))
    blocked_naming(d, "remote_backup_url", "user:password@")

    # a private key pasted where the host key goes: reported by line, never shown
    d.configure(remote_backup_url=sftp["remote_backup_url"],
                known_host_key=sftp["known_host_key"] + "\n" + leaked_key)
    blocked_naming(d, "known_host_key", "line 2", "private key")

    # every string key at once huge, the secret-carrying ones with a marker
    options = d.app.config_options
    strings = [key for key, option in options.items() if option.get("type", "string") == "string"]
    d.configure(**{key: "x" * 5000 + "\n" + MARKER for key in strings})
    blocked_naming(d, "backend")

    # back to a valid config, then a principal publishing a huge fileset
    d.configure(**dict({key: options[key].get("default") for key in strings}, **valid))
    assert d.unit.status[0] == "active", d.unit.status
    d.declare(fileset="/" + "x" * 300000)
    blocked_naming(d, "backup:", "fileset")

    # every status the unit ever set was short; nothing secret was shown anywhere
    for state, message in d.unit.status_history:
        assert len(message) <= STATUS_MAX, (state, message[:100])
    text = captured_without_config(d)
    for fragment in ("Pq8", "Zt3", "Kd5", MARKER):
        at = text.find(fragment)
        assert at < 0, re.sub("x{20,}", "x..", text[max(0, at - 300):at + 500])
    for line in leaked_key.splitlines()[1:-1]:
        assert line[:16] not in text

    # fixed: active again
    d.declare(fileset=str(data))
    assert d.unit.status[0] == "active", d.unit.status
