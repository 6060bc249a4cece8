"""Example principal: declare a fileset and hook scripts over `backup`.

The requires side of the `backup` interface layer does the relation work:
``declare()`` writes the application data (on the leader only, and only what
changed), ``last_backup()`` reads what the backup charm published.
"""

import os

from charmhelpers.core import hookenv
from charms.reactive import clear_flag, endpoint_from_flag, hook, when, when_not

HOOK_KINDS = ('run-before-backup', 'run-after-backup',
              'run-before-restore', 'run-after-restore')


def declaration():
    """(fileset, {kind: path}) from config and the shipped scripts."""
    config = hookenv.config()
    scripts = {}
    for kind in HOOK_KINDS:
        path = (config.get(kind) or '').strip()
        if not path and config.get('declare-hooks'):
            path = os.path.join(hookenv.charm_dir(), 'files', kind)
        scripts[kind] = path or None
    return config.get('fileset') or '', scripts


@hook('install', 'config-changed', 'upgrade-charm')
def create_fileset_dirs():
    fileset, _ = declaration()
    for path in (p.strip() for p in fileset.split(',')):
        if os.path.isabs(path) and not os.path.exists(path):
            os.makedirs(path, mode=0o755)
            with open(os.path.join(path, 'example.txt'), 'w') as out:
                out.write('backed up by the backup-principal example\n')


@when('endpoint.backup.joined')
def declare_backup():
    """Runs in every hook while related; declare() is idempotent."""
    backup = endpoint_from_flag('endpoint.backup.joined')
    fileset, scripts = declaration()
    try:
        backup.declare(fileset,
                       run_before_backup=scripts['run-before-backup'],
                       run_after_backup=scripts['run-after-backup'],
                       run_before_restore=scripts['run-before-restore'],
                       run_after_restore=scripts['run-after-restore'])
    except ValueError as err:  # InvalidDeclaration
        hookenv.status_set('blocked', f'invalid backup config: {err}')
        return
    last = backup.last_backup()
    if last is None:
        message = 'backup declared; no backup yet'
    else:
        message = 'last backup: {} {} at {}'.format(
            last['type'] or '?', last['status'] or '?', last['time'] or '?')
    hookenv.status_set('active', message)


@when('endpoint.backup.backup-status-changed')
def log_backup_status():
    backup = endpoint_from_flag('endpoint.backup.joined')
    if backup is not None:
        hookenv.log(f'backup status: {backup.last_backup()}')
    clear_flag('endpoint.backup.backup-status-changed')


@when('endpoint.backup.departed')
def backup_departed():
    clear_flag('endpoint.backup.departed')


@when_not('endpoint.backup.joined')
def not_related():
    hookenv.status_set('active', 'ready (no backup relation)')
