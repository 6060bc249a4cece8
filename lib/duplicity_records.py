"""The typed files that cross process boundaries (stdlib only: the cron runner and the NRPE
plugin use the system python3, which may be 3.8).

- ``RunnerSpec``: ``<state_dir>/spec.json``, written by the hooks, read by the runner and the
  actions: everything a run needs except the secrets.
- ``Outcome``: one entry of ``/var/lib/charm-duplicity/status/<slug>.json``, written by the
  runner, read by the hooks (status, relation data) and the NRPE plugin.

Each class has ``to_json()`` and ``from_json()``; nothing else reads or writes these files' keys.
"""


# ---------------------------------------------------------------------------------------------
# RunnerSpec (owned by the settings work: the non-secret part of Settings, explicitly)
# ---------------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------------
# Outcome (owned by the runner work: the record of one operation's result)
# ---------------------------------------------------------------------------------------------
