"""Every path the charm writes on the machine, namespaced per unit (design.md section 7).

Standard library only: the scheduled runner imports this with the system python3.
"""

import os
import re
from dataclasses import dataclass

_SLUG_OK = re.compile(r"^[A-Za-z0-9_-]+$")


def unit_slug(unit_name):
    """``duplicity/0`` -> ``duplicity-0``: safe as a file name, a cron.d name and a URL part."""
    slug = unit_name.replace("/", "-")
    if not _SLUG_OK.match(slug):
        raise ValueError("unit name {!r} cannot be used in file names".format(unit_name))
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
        """Directories the charm owns: always excluded from backups."""
        return [self.state_dir, self.cache_dir]
