"""Wiring: load the real reactive decorators and check every flag the handlers use."""

import importlib.util
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def handlers():
    from charms.reactive.bus import Handler

    Handler._HANDLERS = {}
    spec = importlib.util.spec_from_file_location(
        "reactive_duplicity", os.path.join(ROOT, "reactive", "duplicity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = {h.id(): h for h in Handler.get_handlers()}
    assert found, "no handlers were registered"
    return module, found


def known_flags():
    with open(os.path.join(ROOT, "config.yaml")) as f:
        keys = yaml.safe_load(f)["options"]
    with open(os.path.join(ROOT, "metadata.yaml")) as f:
        meta = yaml.safe_load(f)
    endpoints = [name for kind in ("provides", "requires", "peers")
                 for name in meta.get(kind, {})]
    import duplicity_charm

    flags = {"duplicity.installed", "duplicity.install-failed", "duplicity.stopped",
             "duplicity.ssh-configured",
             "duplicity.encryption-ready", "duplicity.ready"}
    flags |= {"duplicity.valid.{}".format(g) for g in duplicity_charm.GROUPS}
    flags.add("duplicity.valid.credentials")
    flags |= {"config.changed"} | {"config.changed.{}".format(k) for k in keys}
    # the interface layer's documented flags (interfaces/backup/provides.py docstring)
    with open(os.path.join(ROOT, "interfaces", "backup", "provides.py")) as f:
        documented = set(re.findall(r"``endpoint\.\{endpoint_name\}\.([a-z-]+)``", f.read()))
    assert {"joined", "departed", "spec-changed"} <= documented
    flags |= {"endpoint.backup.{}".format(s) for s in documented}
    with open(os.path.join(ROOT, "interfaces", "s3", "requires.py")) as f:
        documented = set(re.findall(r"``endpoint\.\{endpoint_name\}\.([a-z-]+)``", f.read()))
    assert {"joined", "available", "changed", "departed"} <= documented
    flags |= {"endpoint.s3-credentials.{}".format(s) for s in documented}
    flags |= {"endpoint.{}.joined".format(e) for e in endpoints}
    return flags


def test_every_flag_a_handler_uses_is_a_known_flag(handlers):
    _, found = handlers
    known = known_flags()
    used = set()
    for handler in found.values():
        used |= handler._flags
    unknown = used - known
    assert not unknown, "handlers use unknown flags (typo or merged strings?): {}".format(unknown)
    assert len(used) >= 10


def test_every_flag_set_in_the_handlers_source_is_known(handlers):
    with open(os.path.join(ROOT, "reactive", "duplicity.py")) as f:
        source = f.read()
    literals = set(re.findall(r'"((?:duplicity|endpoint|config)\.[^"]+)"', source))
    literals = {flag.replace("{}", "backend") for flag in literals}
    assert literals - known_flags() == set()


@pytest.mark.parametrize("name,flags", [
    ("install", {"duplicity.installed", "duplicity.stopped"}),
    ("evaluate", {"duplicity.installed"}),
    ("configure", {"duplicity.installed", "duplicity.encryption-ready", "duplicity.valid.backend",
                   "duplicity.valid.ssh", "duplicity.valid.encryption", "duplicity.valid.schedule",
                   "duplicity.valid.sources", "duplicity.valid.packages",
                   "duplicity.valid.credentials"}),
    ("unconfigure", {"duplicity.installed", "duplicity.encryption-ready", "duplicity.valid.backend",
                     "duplicity.valid.ssh", "duplicity.valid.encryption",
                     "duplicity.valid.schedule", "duplicity.valid.sources",
                     "duplicity.valid.packages", "duplicity.valid.credentials"}),
    ("schedule", {"duplicity.ready"}),
    ("write_ssh_material", {"duplicity.installed", "duplicity.valid.backend",
                            "duplicity.valid.ssh"}),
    ("backup_spec_changed", {"endpoint.backup.spec-changed"}),
])
def test_handler_watches_exactly_these_flags(handlers, name, flags):
    _, found = handlers
    matches = [h for hid, h in found.items() if hid.endswith(":" + name)]
    assert len(matches) == 1, "handler {} not registered".format(name)
    assert matches[0]._flags == flags

