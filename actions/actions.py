#!/usr/bin/env python3
# Every action is a symlink to this file; the logic is in lib/duplicity_actions.py.
import os
import sys

sys.path.append("lib")

from charms.layer import basic  # noqa: E402

basic.activate_venv()

import duplicity_actions  # noqa: E402

sys.exit(duplicity_actions.main(os.path.basename(__file__)))
