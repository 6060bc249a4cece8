"""Local Juju agent harness: runs a *built* charm's hooks and actions as
subprocesses with hook tools backed by a JSON state file (design.md §9).

    from harness import build_charm, Model
    charm = build_charm('.', tmp / 'build')
    model = Model(tmp / 'model', juju_version='3.4.0')
    principal = model.add_application('postgresql')            # played
    pg0 = principal.add_unit()
    app = model.add_application('duplicity', charm=charm)
    unit = app.add_unit(principal=pg0)                          # deploy hooks
    rel = model.relate('duplicity:backup', 'postgresql:backup')
    rel.set_data('postgresql', {'fileset': '/srv'})             # -changed
    app.set_config(backend='file')                              # -changed
    result = unit.run_action('do-backup', full=True)
"""
from .build import BuildFailed, build_charm, find_charm_build  # noqa: F401
from .model import (  # noqa: F401
                    ActionInvalid,
                    ActionResult,
                    Application,
                    HookFailed,
                    HookResult,
                    Model,
                    Relation,
                    ToolMisuse,
                    Unit,
                    validate_action_params,
)
from .venv import copy_venv, template_venv  # noqa: F401
