"""The typed files that cross process boundaries (stdlib only: the cron runner and the NRPE
plugin use the system python3, which may be 3.8).

- ``RunnerSpec``: ``<state_dir>/spec.json``, written by the hooks, read by the runner and the
  actions: everything a run needs except the secrets.
- ``Outcome``: one entry of ``/var/lib/charm-duplicity/status/<slug>.json``, written by the
  runner, read by the hooks (status, relation data) and the NRPE plugin.

Each class has ``to_json()`` and ``from_json()``; nothing else reads or writes these files' keys.
"""

import json
from dataclasses import dataclass, field

from duplicity_settings import DuplicitySettings


# ---------------------------------------------------------------------------------------------
# RunnerSpec (owned by the settings work: the non-secret part of Settings, explicitly)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunnerSpec:
    """Everything a run needs except the secrets: ``<state_dir>/spec.json``.

    It holds no secret value, by construction: ``settings`` is a DuplicitySettings, whose
    fields say whether a secret is set, never what it is; every other field is a path, a
    name or a version. A builder given a RunnerSpec therefore cannot read a secret: the
    runner reads those from the unit's root-only env file (duplicity_secrets names them).
    """
    unit: str
    settings: DuplicitySettings
    duplicity: str = "duplicity"       # the binary the hooks found
    version: tuple = ()                # its version
    encrypt_key: str = ""              # fingerprint of the imported gpg_public_key
    includes: tuple = ()               # absolute paths to back up
    excludes: tuple = ()               # exclude_paths patterns
    hooks: dict = field(default_factory=dict)      # run-* kind -> script paths
    proxy_env: dict = field(default_factory=dict)  # the model's proxy settings
    path_env: str = ""                 # the hooks' PATH
    root: str = "/"                    # unit tests only: where UnitPaths are rooted

    def to_json(self):
        data = {
            "unit": self.unit, "settings": self.settings.to_dict(),
            "duplicity": self.duplicity, "version": list(self.version),
            "encrypt_key": self.encrypt_key, "includes": list(self.includes),
            "excludes": list(self.excludes),
            "hooks": {kind: list(paths) for kind, paths in sorted(self.hooks.items())},
            "proxy_env": dict(self.proxy_env), "path_env": self.path_env,
        }
        if self.root != "/":
            data["root"] = self.root
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text):
        """The RunnerSpec of to_json's text; ValueError (or TypeError) when it is not one."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("unit"), str):
            raise ValueError("not a runner spec (no unit)")
        hooks = data.get("hooks") or {}
        if not isinstance(hooks, dict) or not all(isinstance(v, list) for v in hooks.values()):
            raise ValueError("hooks is not a mapping of lists")
        return cls(unit=data["unit"], settings=DuplicitySettings.from_dict(data.get("settings")),
                   duplicity=str(data.get("duplicity") or "duplicity"),
                   version=tuple(int(x) for x in data.get("version") or ()),
                   encrypt_key=str(data.get("encrypt_key") or ""),
                   includes=tuple(str(p) for p in data.get("includes") or ()),
                   excludes=tuple(str(p) for p in data.get("excludes") or ()),
                   hooks={str(k): tuple(str(p) for p in v) for k, v in hooks.items()},
                   proxy_env={str(k): str(v) for k, v in (data.get("proxy_env") or {}).items()},
                   path_env=str(data.get("path_env") or ""), root=str(data.get("root") or "/"))



# ---------------------------------------------------------------------------------------------
# Outcome (owned by the runner work: the record of one operation's result)
# ---------------------------------------------------------------------------------------------
