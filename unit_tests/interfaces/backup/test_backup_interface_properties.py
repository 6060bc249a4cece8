"""Property-based: no relation data, however odd, breaks the spec, validation or the status.

hypothesis publishes hostile values for every key of the backup relation (fileset and the
four hook scripts, plus an unknown key); merging, validating and deriving the status never
raise, a problem names the relation and the key, and the status message stays short.
"""
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import duplicity_config as dc

KEYS = ('fileset', 'run-before-backup', 'run-after-backup', 'run-before-restore',
        'run-after-restore', 'unknown-key')
CONFIG = {'backend': 'file', 'remote_backup_url': 'file:///srv/backups',
          'encryption_passphrase': 'passphrase-1', 'backup_frequency': 'manual',
          'deletion_frequency': 'daily', 'retention_period': 'manual', 'full_if_older_than': '1M',
          'volsize': 200, 'concurrency': 1}
VALUES = st.one_of(
    st.text(max_size=60),
    st.text(alphabet='/,. \n\t\x00*?[]\\$`;|&<>"\'abc', max_size=200),
    st.lists(st.sampled_from(['/srv', 'srv', '/srv/../etc', '/a b', ' /x', '/x\n', '']),
             max_size=50).map(','.join),
    st.sampled_from(['/' + 'x' * 300000, ','.join(['bad'] * 30000), '/srv\n' * 30000,
                     '/var/lib/juju/agents/unit-app-0/charm/hooks/x']),
)


def hostile_data():
    return st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(hostile_data())
@example({'fileset': '/' + 'x' * 300000})
@example({'fileset': ','.join('relative{}'.format(n) for n in range(20000))})
@example({'fileset': '/srv', 'run-before-backup': 'x' * 300000})
def test_any_relation_data_gives_a_short_status_naming_the_relation_and_key(provides, data):
    spec = provides.merge_specs([('backup:3', 'principal', data, 'principal/0')])
    results = dc.validate_all(CONFIG, spec.paths, spec.problems, unit='duplicity/0')
    state, message = dc.status_message(results, config=CONFIG)
    assert len(message) <= dc.STATUS_MESSAGE_MAX and '\n' not in message
    for problem in spec.problems:
        assert len(problem) < 300
        assert problem.startswith('backup:3 (principal): ')
        assert any(key in problem for key in KEYS[:-1])
    if spec.problems:
        assert state == 'blocked' and 'backup:3 (principal)' in message
