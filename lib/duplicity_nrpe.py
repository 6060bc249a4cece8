"""NRPE checks through charmhelpers' nrpe support, while related to nrpe-external-master."""

import os

from charmhelpers.contrib.charmsupport import nrpe
from charmhelpers.core import hookenv, unitdata
from charms.reactive.helpers import data_changed

import duplicity_config

PLUGIN = "check_duplicity_backup"
PLUGIN_DIR = "/usr/local/lib/nagios/plugins"
RECORDS = "duplicity_records.py"   # the plugin imports it from PLUGIN_DIR


def shortname(paths):
    return "duplicity_backup_{}".format(paths.slug.replace("-", "_"))


def install_plugin():
    """Copy the charm's plugin, and the duplicity_records module it imports from its own
    directory, into PLUGIN_DIR when their content or mode differs (a new charm revision
    ships a changed plugin: upgrade-charm re-installs it); True if one changed."""
    import duplicity_charm
    os.makedirs(PLUGIN_DIR, exist_ok=True)
    changed = False
    for source, mode in ((os.path.join("lib", RECORDS), 0o644), (os.path.join("files", PLUGIN),
                                                                  0o755)):
        with open(os.path.join(hookenv.charm_dir(), source), "rb") as f:
            content = f.read()
        name = os.path.join(PLUGIN_DIR, os.path.basename(source))
        changed |= duplicity_charm.write_atomic(name, content, mode)
    return changed


def update(config, paths):
    if not hookenv.relation_ids("nrpe-external-master"):
        remove(paths)
        return
    if install_plugin():
        hookenv.log("installed {}".format(os.path.join(PLUGIN_DIR, PLUGIN)))
    max_age = duplicity_config.max_age_seconds(config) or 0
    wanted = {"max_age": max_age, "context": config.get("nagios_context"),
              "groups": config.get("nagios_servicegroups"), "status": paths.status_file}
    if not data_changed("duplicity.nrpe", wanted):
        return
    # a subordinate: the principal owns the host's checks (charmhelpers' primary=False)
    checks = nrpe.NRPE(primary=False)
    checks.add_check(shortname=shortname(paths),
                     description="duplicity backups of {}".format(paths.unit),
                     check_cmd="{} {} {}".format(PLUGIN, paths.status_file, max_age))
    checks.write()
    unitdata.kv().set("duplicity.nrpe-installed", True)


def remove(paths):
    """Remove this unit's check, if this unit installed one."""
    if unitdata.kv().get("duplicity.nrpe-installed"):
        remove_checks([shortname(paths)])
        unitdata.kv().unset("duplicity.nrpe-installed")
        data_changed("duplicity.nrpe", None)


def remove_checks(shortnames):
    """Remove the named checks that are configured here; return the names removed."""
    if not os.path.isdir(nrpe.NRPE.nrpe_confdir):
        return []
    # only checks that are there: otherwise write() restarts nagios-nrpe-server for nothing
    shortnames = [name for name in shortnames if os.path.exists(
        os.path.join(nrpe.NRPE.nrpe_confdir, "check_{}.cfg".format(name)))]
    if not shortnames:
        return []
    checks = nrpe.NRPE(primary=False)
    for name in shortnames:
        checks.remove_check(shortname=name)
    checks.write()
    return shortnames
