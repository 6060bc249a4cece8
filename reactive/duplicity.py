"""Reactive handlers of the duplicity charm: a decorator naming the flags, a call into lib/.

Flags (design.md section 6):

- ``duplicity.installed``: packages installed (fixed).
- ``duplicity.install-failed``: the last package installation failed; retried every hook.
- ``duplicity.valid.<group>``: that config group (backend, ssh, encryption, schedule,
  sources, packages) validated without problems; toggled every hook by ``evaluate``.
- ``duplicity.ssh-configured``: SSH key and known_hosts written (fixed); only while the
  backend needs SSH.
- ``duplicity.encryption-ready``: encryption usable: passphrase set, public key imported, or
  explicitly disabled (fixed).
- ``duplicity.ready``: everything valid, the runner's spec written; backups can run (fixed).
- ``duplicity.stopped``: the stop hook removed the unit's files; nothing is installed again.
- ``duplicity.valid.credentials``: ``credentials_secret`` and the s3-credentials relation
  (when used) were read without problems; toggled every hook by ``evaluate``.

Handlers read the *effective* config (``config()``): the charm config with the credentials
from ``credentials_secret`` and the s3-credentials relation filled in (lib/duplicity_credentials.py).
"""
import os

from charmhelpers.core import hookenv, unitdata
from charms.reactive import (clear_flag, endpoint_from_name, get_flags, hook, is_flag_set, set_flag,
                             toggle_flag, when, when_all, when_any, when_not, when_not_all)

import duplicity_charm as charm
import duplicity_credentials

VALID = ["duplicity.valid.{}".format(group) for group in charm.GROUPS] + [
    "duplicity.valid.credentials"]


@hookenv.cached
def credentials():
    return duplicity_credentials.load(hookenv.config(), endpoint_from_name("s3-credentials"),
                                      os.environ, unitdata.kv(), hookenv.application_name(),
                                      log=hookenv.log)


def config():
    """The effective config of this hook (read once)."""
    return credentials().config


@when_not("duplicity.installed")
@when_not("duplicity.stopped")
def install():
    ok = charm.install(config())
    toggle_flag("duplicity.installed", ok)
    toggle_flag("duplicity.install-failed", not ok)


@when("duplicity.installed")
@when_any("config.changed.install_sources", "config.changed.install_keys",
          "config.changed.backend")
def update_packages():
    charm.install(config())


@hook("upgrade-charm")
def upgrade_charm():
    # upstream set duplicity.installed too: do the install work here, whoever installed
    for flag in charm.upgrade_from_upstream(get_flags(), config()):
        clear_flag(flag)
    if not is_flag_set("duplicity.stopped"):
        install()


@when_any("duplicity.installed", "duplicity.install-failed")
def assess_status():
    hookenv.atexit(charm.assess_status)


@when("duplicity.installed")
def evaluate():
    results = charm.evaluate(config(), endpoint_from_name("backup"))
    for group, problems in results.items():
        toggle_flag("duplicity.valid.{}".format(group), not problems)
    charm.set_runtime_problems("credentials", credentials().problems)
    toggle_flag("duplicity.valid.credentials", not credentials().problems)


@hook("secret-changed")
def secret_changed():
    """A new revision: config() read it with --refresh; the handlers re-render the files."""
    hookenv.log("secret-changed: {} revision {}".format(
        os.environ.get("JUJU_SECRET_ID", "?")[:80], os.environ.get("JUJU_SECRET_REVISION", "?")))


@when("endpoint.s3-credentials.changed")
def s3_credentials_changed():
    clear_flag("endpoint.s3-credentials.changed")


@when("endpoint.s3-credentials.departed")
def s3_credentials_departed():
    clear_flag("endpoint.s3-credentials.departed")


@when("endpoint.backup.spec-changed")
def backup_spec_changed():
    charm.log_relation_mappings(endpoint_from_name("backup"))
    clear_flag("endpoint.backup.spec-changed")


@when("endpoint.backup.departed")
def backup_departed():
    clear_flag("endpoint.backup.departed")


@when("duplicity.installed", "duplicity.valid.backend", "duplicity.valid.ssh")
def write_ssh_material():
    toggle_flag("duplicity.ssh-configured",
                charm.write_ssh_material(config(), endpoint_from_name("backup")))


@when("duplicity.installed")
@when_not_all("duplicity.valid.backend", "duplicity.valid.ssh")
def remove_ssh_material():
    charm.remove_ssh_material()
    clear_flag("duplicity.ssh-configured")


@when("duplicity.installed", "duplicity.valid.encryption")
def prepare_encryption():
    toggle_flag("duplicity.encryption-ready", charm.prepare_encryption(config()))


@when("duplicity.installed")
@when_not("duplicity.valid.encryption")
def encryption_invalid():
    clear_flag("duplicity.encryption-ready")


@when_all("duplicity.installed", "duplicity.encryption-ready", *VALID)
def configure():
    ok = charm.configure(config(), endpoint_from_name("backup"))
    toggle_flag("duplicity.ready", ok)


@when("duplicity.installed")
@when_not_all("duplicity.encryption-ready", *VALID)
def unconfigure():
    charm.unconfigure()
    clear_flag("duplicity.ready")


@when("duplicity.ready")
def schedule():
    charm.render_schedule_for(config())


@when("endpoint.backup.joined")
def publish_outcome():
    charm.publish_outcome(endpoint_from_name("backup"))


@when("duplicity.installed")
def update_nrpe_checks():
    charm.update_nrpe_checks(config())


@hook("stop")
def stop():
    charm.stop()
    set_flag("duplicity.stopped")
    for flag in ["duplicity.installed", "duplicity.ready", "duplicity.ssh-configured",
                 "duplicity.encryption-ready"]:
        clear_flag(flag)
