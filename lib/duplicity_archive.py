"""What the local archive cache (duplicity's --archive-dir) says about the backup sets:
the newest complete set, and the set an interrupted backup left (its manifest still
``.part``, so the next backup resumes it).

Pure functions of the cache's file names, plus ``cache_names`` to list them. Standard
library only, python3.8.
"""

import os
import re

from duplicity_output import backup_id

_MANIFEST = re.compile(r"^duplicity-(full|inc)\.(?:\w+\.to\.)?(\d{8}T\d{6}Z)\.manifest$")
_PARTIAL = re.compile(r"^duplicity-(?:full|inc)\.(?:\w+\.to\.)?(\d{8}T\d{6}Z)\.manifest\.part$")


def cache_names(archive_dir, slug):
    """The file names in the cache of the backup name ``slug``; none when it is missing."""
    try:
        return os.listdir(os.path.join(archive_dir, slug))
    except OSError:
        return []


def newest_set(names):
    """(backup-id, "full" | "incremental") of the newest complete set, or None."""
    newest = None
    for name in names:
        m = _MANIFEST.match(name)
        if m and (newest is None or m.group(2) > newest[0]):
            newest = (m.group(2), "full" if m.group(1) == "full" else "incremental")
    return newest and (backup_id(newest[0]), newest[1])


def interrupted_set(names):
    """backup-id of the newest set whose backup was interrupted, or None."""
    stamps = [m.group(1) for m in map(_PARTIAL.match, names) if m]
    return backup_id(max(stamps)) if stamps else None
