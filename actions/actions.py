#!/usr/bin/env python3
# Every action is a symlink to this file; the logic is in lib/duplicity_actions.py.
# Whatever goes wrong, the action fails with a short message: no traceback reaches Juju's
# action output (it keeps stdout/stderr), and the unit never goes into error.
import os
import subprocess
import sys

sys.path.append("lib")
NAME = os.path.basename(__file__)


def fail(message):
    try:
        subprocess.run(["action-fail", message[:300]], check=False)
    except OSError:
        pass
    return 0


try:
    from charms.layer import basic  # noqa: E402

    basic.activate_venv()

    import duplicity_actions  # noqa: E402
except Exception as err:
    sys.exit(fail("{} failed: the charm's code could not be loaded ({}); see juju "
                  "debug-log".format(NAME, type(err).__name__)))

try:
    sys.exit(duplicity_actions.main(NAME))
except Exception as err:
    sys.exit(fail("{} failed: unexpected error ({})".format(NAME, type(err).__name__)))
