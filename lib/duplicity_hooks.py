"""The principal's hook scripts around a backup or a restore (the backup relation's
``run-before-*`` / ``run-after-*`` keys).

Each script runs like duplicity: in a process group of its own, with a deadline past which
the whole group (the script and whatever it started) is stopped. ``PrincipalHooks.around``
runs the before-scripts, the operation, then the after-scripts, always; their errors are
merged in one place. Standard library only, python3.8.
"""

import contextlib
import os

from duplicity_process import OperationError, run_with_deadline

HOOK_TIMEOUT = 3600
HOOK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HookRun:
    """What ``around`` yields: after the block, ``after_error`` is the after-scripts'
    failure message, or None."""

    def __init__(self):
        self.after_error = None


class PrincipalHooks:
    """The scripts of one unit: ``scripts`` maps a kind (``run-before-backup``) to paths."""

    def __init__(self, scripts, unit, includes, log, timeout=HOOK_TIMEOUT):
        self.scripts = scripts or {}
        self.unit = unit
        self.includes = tuple(includes or ())
        self.log = log
        self.timeout = timeout

    def env(self, result=None):
        env = {"PATH": HOOK_PATH, "LANG": "C.UTF-8", "HOME": "/root",
               "JUJU_UNIT_NAME": self.unit, "BACKUP_PATHS": ",".join(self.includes)}
        if result is not None:
            env["BACKUP_RESULT"] = result
        return env

    def run(self, kind, result=None):
        """Run the scripts of one kind in order; raise OperationError on the first failure."""
        for script in self.scripts.get(kind, []):
            if not os.path.isfile(script) or not os.access(script, os.X_OK):
                raise OperationError("{} script {} is missing or not executable".format(
                    kind, script))
            self.log("{}: {}".format(kind, script))
            returncode, output, timed_out = run_with_deadline(
                [script], self.env(result), self.timeout, what="{} script".format(kind))
            for line in output.splitlines():
                self.log("  " + line)
            if timed_out:
                raise OperationError("{} script {} timed out after {}s".format(
                    kind, script, self.timeout))
            if returncode != 0:
                raise OperationError("{} script {} failed with exit code {}".format(
                    kind, script, returncode))

    def run_after(self, kind, result):
        """The after-scripts' failure message, or None: it never raises."""
        try:
            self.run(kind, result)
            return None
        except OperationError as err:
            return str(err)

    @contextlib.contextmanager
    def around(self, operation):
        """``run-before-<operation>``, the block, then ``run-after-<operation>`` with
        BACKUP_RESULT "ok" or "failed". A failing before-script cancels the block. When the
        before-scripts or the block fail, the after-scripts' error is added to that error
        (raised again, same class); otherwise it is left in ``HookRun.after_error``."""
        state = HookRun()
        after = "run-after-" + operation
        try:
            self.run("run-before-" + operation)
            yield state
        except OperationError as err:
            after_error = self.run_after(after, "failed")
            if after_error:
                raise err.__class__("{}; {}".format(err, after_error)) from err
            raise
        except BaseException:
            self.run_after(after, "failed")
            raise
        state.after_error = self.run_after(after, "ok")
