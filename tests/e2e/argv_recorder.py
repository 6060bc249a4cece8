"""Record the argv of every duplicity, ssh, sftp, scp, lftp, rsync and gpg the charm runs.

``ArgvRecorder(directory, log_file, duplicity=<real duplicity>)`` fills ``directory`` with
wrapper scripts of those names. Put the directory first on the hooks' PATH (the harness
unit's ``extra_path``): the charm records duplicity's absolute path from PATH at hook time
(spec.json), and the runner hands the hooks' PATH to duplicity (``spec["path_env"]``), so
the programs duplicity spawns are found there too. Each wrapper appends
``{"prog": name, "argv": [...]}`` as one JSON line to ``log_file`` (its argv and nothing
else: what ``/proc/<pid>/cmdline`` would show to every user of the machine) and then execs
the real program with the same arguments, environment and file descriptors.
"""

import json
import os
import shutil

PROGRAMS = ("ssh", "sftp", "scp", "lftp", "rsync", "gpg")

_WRAPPER = """#!/usr/bin/python3 -I
import fcntl, json, os, sys
with open({log!r}, "a") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    log.write(json.dumps({{"prog": {name!r}, "argv": sys.argv}}) + "\\n")
os.execv({real!r}, [{real!r}] + sys.argv[1:])
"""


def _real(name, skip_dir):
    """The program on the system PATH, never a wrapper in skip_dir."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.abspath(p) != os.path.abspath(skip_dir))
    return shutil.which(name, path=path + os.pathsep + "/usr/sbin:/usr/bin:/sbin:/bin")


class ArgvRecorder:
    def __init__(self, directory, log_file, duplicity):
        self.directory = str(directory)
        self.log_file = str(log_file)
        os.makedirs(self.directory, exist_ok=True)
        with open(self.log_file, "a"):
            pass
        real = {"duplicity": duplicity}
        for name in PROGRAMS:
            found = _real(name, self.directory)
            if found:
                real[name] = found
        for name, target in real.items():
            path = os.path.join(self.directory, name)
            with open(path, "w") as f:
                f.write(_WRAPPER.format(log=self.log_file, name=name, real=target))
            os.chmod(path, 0o755)
        self.wrapped = sorted(real)

    def calls(self):
        """[(prog, argv list)] in the order they ran."""
        with open(self.log_file) as f:
            return [(c["prog"], c["argv"]) for c in map(json.loads, filter(str.strip, f))]

    def text(self):
        """Every recorded argv, one per line, as the search for leaked secrets reads it."""
        return "\n".join(" ".join(argv) for _, argv in self.calls())

    def programs(self):
        return {prog for prog, _ in self.calls()}

    def commands(self, name):
        """The argv of every run of ``name`` (argv[0] is the wrapper's path)."""
        return [argv for prog, argv in self.calls() if prog == name]

    def assert_no_secret(self, *secrets):
        assert self.commands("duplicity"), "no duplicity run was recorded"
        for prog, argv in self.calls():
            for secret in secrets:
                assert secret not in " ".join(argv), "a secret is in the argv of {}".format(prog)


_RETRY_WRAPPER = """#!/usr/bin/python3 -I
import os, sys
args = sys.argv[1:]
if args and not args[0].startswith("-"):
    args[1:1] = {extra!r}
os.execv({real!r}, [{real!r}] + args)
"""


def fast_retry_duplicity(directory, duplicity, retries=2, delay=1):
    """A ``duplicity`` in ``directory`` that runs the real one with fewer, quicker retries.

    duplicity retries a failed transfer 5 times, 30 s apart (``--num-retries``,
    ``--backend-retry-delay``): two minutes before an unreachable or full backend fails the
    run. The fault tests put this first on the unit's PATH so such a run fails in seconds;
    everything else the charm passes is unchanged.
    """
    os.makedirs(str(directory), exist_ok=True)
    path = os.path.join(str(directory), "duplicity")
    extra = ["--num-retries={}".format(retries), "--backend-retry-delay={}".format(delay)]
    with open(path, "w") as f:
        f.write(_RETRY_WRAPPER.format(extra=extra, real=duplicity))
    os.chmod(path, 0o755)
    return str(directory)
