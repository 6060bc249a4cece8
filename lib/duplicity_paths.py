"""Every path the charm writes on the machine, namespaced per unit (design.md section 7).

Standard library only: the scheduled runner imports this with the system python3.
"""

import os
import re
from dataclasses import dataclass

# A slug is also the last directory of every remote target (a remote shell may read it: see
# duplicity_helper.remote_path_problem): no leading '-', no trailing newline (fullmatch).
_SLUG_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def unit_slug(unit_name):
    """``duplicity/0`` -> ``duplicity-0``: safe as a file name, a cron.d name and a URL part."""
    slug = unit_name.replace("/", "-")
    if not _SLUG_OK.fullmatch(slug):
        raise ValueError("unit name {!r} cannot be used in file names".format(unit_name[:80]))
    return slug


@dataclass(frozen=True)
class UnitPaths:
    unit: str
    slug: str
    state_dir: str
    secrets_dir: str
    env_file: str
    ssh_dir: str
    ssh_key: str
    known_hosts: str
    ssh_home: str      # HOME of sftp/scp runs before duplicity 0.8.20; its .ssh is ssh_dir
    gnupg_home: str
    ca_file: str
    spec_file: str
    lock_file: str
    restore_dir: str
    cache_dir: str
    archive_dir: str
    temp_dir: str
    status_dir: str
    status_file: str
    log_dir: str
    log_file: str
    cron_file: str
    logrotate_file: str

    @classmethod
    def for_unit(cls, unit_name, root="/"):
        slug = unit_slug(unit_name)

        def p(*parts):
            return os.path.join(root, *parts)

        state = p("var/lib/charm-duplicity", slug)
        secrets = os.path.join(state, "secrets")
        ssh = os.path.join(secrets, "ssh")
        cache = p("var/cache/charm-duplicity", slug)
        status_dir = p("var/lib/charm-duplicity/status")
        log_dir = p("var/log/charm-duplicity")
        return cls(
            unit=unit_name,
            slug=slug,
            state_dir=state,
            secrets_dir=secrets,
            env_file=os.path.join(secrets, "env"),
            ssh_dir=ssh,
            ssh_key=os.path.join(ssh, "id_key"),
            known_hosts=os.path.join(ssh, "known_hosts"),
            ssh_home=os.path.join(secrets, "home"),
            gnupg_home=os.path.join(secrets, "gnupg"),
            ca_file=os.path.join(secrets, "ca.pem"),
            spec_file=os.path.join(state, "spec.json"),
            lock_file=os.path.join(state, "lock"),
            restore_dir=os.path.join(state, "restore"),
            cache_dir=cache,
            archive_dir=os.path.join(cache, "archive"),
            temp_dir=os.path.join(cache, "tmp"),
            status_dir=status_dir,
            status_file=os.path.join(status_dir, slug + ".json"),
            log_dir=log_dir,
            log_file=os.path.join(log_dir, slug + ".log"),
            cron_file=p("etc/cron.d", "charm-duplicity-" + slug),
            logrotate_file=p("etc/logrotate.d", "charm-duplicity-" + slug),
        )

    def own_dirs(self):
        """Directories this unit owns."""
        return [self.state_dir, self.cache_dir]

    def machine_dirs(self):
        """Directories holding every duplicity unit's state, secrets, caches and logs.

        Derived from this unit's paths, so a unit test's root applies. Every backup excludes
        them: a unit backing up /var/lib or / must not carry another unit's credentials.
        """
        return [os.path.dirname(self.state_dir), os.path.dirname(self.cache_dir), self.log_dir]


# Files every charm directory (/var/lib/juju/agents/unit-*/charm/) may hold with secrets in
# them: charmhelpers' hookenv.config() keeps the whole config (credentials included) in
# .juju-persistent-config; charmhelpers' unitdata store .unit-state.db (a SQLite file, with its
# -journal/-wal companions) holds what charms keep between hooks: reactive flags with values,
# layer:leadership's copy of the leader settings (often generated passwords), config deltas.
# Matched anywhere (duplicity globs starting with **), so a copy of an agent directory kept
# elsewhere is excluded too. Also every Juju agent's agent.conf: it holds the agent's API
# password, and Juju writes it anew when a machine is redeployed, so a backup has no use for
# it. Always excluded from backups (design.md section 3, exclude_paths).
CHARM_SECRET_FILE_PATTERNS = ("**/.juju-persistent-config", "**/.unit-state.db",
                              "**/.unit-state.db-*", "/var/lib/juju/agents/*/agent.conf")
