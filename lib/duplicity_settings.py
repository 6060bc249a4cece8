"""The charm's configuration, parsed once: ``Settings.parse(config, ...) -> (Settings, problems)``.

Standard library only (the cron runner loads ``DuplicitySettings`` through the runner spec with
the system python3, which may be 3.8).

- ``DuplicitySettings``: what the duplicity command line and environment builders read
  (duplicity_helper), parsed and validated: the remote, the user, the encryption mode, sizes,
  intervals. It holds no secret value, only whether one is set: it is the part of the
  settings the runner spec carries (duplicity_records.RunnerSpec).
- ``Settings``: the whole configuration for the hooks: ``duplicity`` plus the SSH host keys,
  the CA certificate, the schedule and the selection.

``Settings.parse`` is the validation: its problems are the messages validate_all reports,
grouped as the ``duplicity.valid.<group>`` flags are; a part whose group has problems is
None. Builders take these values and never validate or parse the config again.
"""

from dataclasses import asdict, dataclass

from duplicity_helper import Remote

DEFAULT_RUN_TIMEOUT = 86400  # run_timeout's default: a duplicity run's deadline, seconds
# run_timeout's largest value: 21 days. The runner waits for duplicity with
# Popen.communicate(timeout), which overflows past 2147483 s (poll's milliseconds in a C int).
MAX_RUN_TIMEOUT = 21 * 86400


@dataclass(frozen=True)
class DuplicitySettings:
    """The validated settings the argv and environment builders read; no secret values."""
    backend: str
    remote: Remote
    user: str = ''                # remote_user, else the URL's user@ ('' none), validated
    encryption: str = ''          # 'disabled', 'public-key', 'passphrase' ('' not valid)
    ssh_key: bool = False         # private_ssh_key is set (its file is written)
    password: bool = False        # remote_password is set
    passphrase: bool = False      # encryption_passphrase is set
    ca_certificate: bool = False  # ca_certificate is set (its file is written for ftps and s3)
    s3_endpoint: str = ''         # s3_endpoint_url, else a non-AWS host of the URL ('' AWS)
    s3_region: str = ''
    volsize: int = 200
    concurrency: int = 1
    compression: str = 'auto'     # a duplicity_tuning.COMPRESSION_MODES mode
    compression_auto: str = ''    # compression=auto: the sample's choice (none, fast; '' not yet)
    full_if_older_than: str = '1M'   # 'always' or a duplicity interval
    retention: str = ''           # retention_period as a duplicity interval ('' manual)
    run_timeout: int = DEFAULT_RUN_TIMEOUT

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The inverse of to_dict; raises TypeError/ValueError on a malformed mapping."""
        if not isinstance(data, dict) or not isinstance(data.get('remote'), dict):
            raise ValueError('settings are not a mapping with a remote')
        values = dict(data, remote=Remote(**data['remote']))
        return cls(**values)


@dataclass(frozen=True)
class Schedule:
    """backup_frequency and deletion_frequency parsed ('manual', a named frequency or a
    normalised 5-field cron expression in Debian's grammar), and whether retention runs."""
    backup: str = 'manual'
    deletion: str = 'daily'
    retention: bool = False


@dataclass(frozen=True)
class Settings:
    """A parsed configuration; a part is None when its group has problems."""
    duplicity: DuplicitySettings = None    # groups backend (and encryption, schedule)
    known_hosts: tuple = ()                # normalised known_hosts lines (ssh)
    ca_pem: str = ''                       # the CA certificate file's content (ftps, s3)
    gpg_public_key: str = ''
    schedule: Schedule = None
    includes: tuple = ()                   # sources: absolute paths to back up
    excludes: tuple = ()                   # sources: exclude_paths patterns

    @property
    def uses_ssh(self):
        return self.duplicity is not None and self.duplicity.remote.uses_ssh

    @classmethod
    def parse(cls, config, declared_paths=(), relation_problems=(), unit=None, version=None):
        """(Settings, problems): problems is an OrderedDict group -> messages, every group
        present (empty: valid), each message naming its key (duplicity_config's rules).
        ``version``: the installed duplicity's, when known; what it cannot do is a problem."""
        import duplicity_config  # the rules; imported here so the runner never loads them
        return duplicity_config.parse_settings(cls, config, declared_paths, relation_problems,
                                               unit, version)
