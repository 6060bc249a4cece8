"""Reading what duplicity printed and logged: backup statistics, the backup sets of
collection-status, listed files, verify's differences, and the failure classification that
turns a failed run into a short, secret-free reason naming fault and fix.

Pure functions of text (no process, no file): standard library only, python3.8.
"""

import datetime
import re

import duplicity_helper
from duplicity_process import DEADLINE_MARK, MAX_MESSAGE, ID_FORMAT, redact
from duplicity_records import STATISTICS

MAX_LISTED_FILES = 200

_STAT_KEYS = {name: key for key, name in STATISTICS}   # duplicity's name -> record key


def backup_id(dup_time):
    """duplicity's 20261127T071232Z -> 2026-11-27T07:12:32Z."""
    return datetime.datetime.strptime(dup_time, "%Y%m%dT%H%M%SZ").strftime(ID_FORMAT)


def parse_statistics(text):
    """The 'Backup Statistics' block -> result keys (numbers as strings, sizes in bytes)."""
    stats = {}
    for line in text.splitlines():
        line = line.lstrip(". ").strip()
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in _STAT_KEYS:
            stats[_STAT_KEYS[parts[0]]] = parts[1]
    return stats


def parse_collection_status(log_text):
    """The machine-readable 'INFO 3' block of collection-status -> backup sets, oldest first.

    Each set: {'backup-id', 'backup-type' (full|incremental), 'volumes', 'chain'} where chain
    is the backup-id of the full backup starting its chain.
    """
    sets = []
    lines = log_text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "INFO 3":
            i += 1
            chain = None
            while i < len(lines) and not lines[i].startswith(". ") and lines[i].strip() != "":
                line = lines[i]
                if line.startswith("chain-"):
                    chain = None
                elif line.startswith(" full ") or line.startswith(" inc "):
                    fields = line.split()
                    kind, stamp, volumes = fields[0], fields[1], fields[2]
                    bid = backup_id(stamp)
                    if kind == "full":
                        chain = bid
                    sets.append({"backup-id": bid,
                                 "backup-type": "full" if kind == "full" else "incremental",
                                 "volumes": int(volumes), "chain": chain or "?"})
                i += 1
        else:
            i += 1
    uniq = {s["backup-id"]: s for s in sets}
    return sorted(uniq.values(), key=lambda s: s["backup-id"])


def backups_table(sets):
    header = "backup-id | backup-type | volumes | chain"
    rows = ["{} | {} | {} | {}".format(s["backup-id"], s["backup-type"], s["volumes"], s["chain"])
            for s in sets]
    return "\n".join([header, "-" * len(header)] + rows)


_ERROR_CODES = {
    3: "the backups at the destination were made on another host (hostname mismatch): "
       "use source-unit to read another unit's backups",
    8: "the destination URL is not valid for duplicity: check remote_backup_url",
    21: "a backup volume at the destination is corrupt (hash mismatch): run verify, "
        "then do-backup full=true to start a sound chain",
    35: "not enough free space in the unit's temp dir (/var/cache/charm-duplicity): free "
        "some, or lower volsize",
    38: "backend unreachable: the backup server refused or dropped the connection",
    42: "the backups at the destination were made from another source directory (as after "
        "switching from the upstream duplicity charm): run do-backup full=true to start a "
        "new chain there",
    44: "a backup volume at the destination has the wrong size (corrupt or cut short): run "
        "verify, then do-backup full=true to start a sound chain",
    45: "the backups at the destination were encrypted another way (passphrase vs public "
        "key): restore the encryption settings they were made with, or start a new chain "
        "with do-backup full=true",
    51: "permission denied by the backup server: check the credentials and the remote "
        "directory's permissions",
    52: "not found at the destination: check remote_backup_url (bucket, container or "
        "directory)",
    53: "no space left on the destination",
}


_BACKEND_CODES = {38, 51, 52}


_TEXT_CHECKS = [
    (DEADLINE_MARK, None),   # replaced by the deadline message
    (r"Another duplicity instance is already running",
     "another duplicity run holds this unit's archive directory (a run outside the charm, or "
     "one left from a killed run): wait for it to end, or end it"),
    (r"Connection refused|Name or service not known|No route to host|timed out|"
     r"Could not connect|Unable to connect|getaddrinfo|Network is unreachable|"
     r"EndpointConnectionError|Max retries exceeded|Connection reset",
     "backend unreachable"),
    (r"Authentication failed|Permission denied \(publickey|Login incorrect|530 |"
     r"InvalidAccessKeyId|SignatureDoesNotMatch|AuthenticationFailed|AccessDenied|"
     r"Access Denied|AuthorizationFailure",
     "authentication refused by the backup server"),
    (r"[Hh]ost key|REMOTE HOST IDENTIFICATION|not found in known_hosts|"
     r"Host key verification failed|BadHostKey",
     "SSH host key verification failed (check known_host_key)"),
    (r"Bad session key|decryption failed|bad passphrase|BAD PASSPHRASE|"
     r"No secret key|GPGError|gpg: decryption",
     "decryption failed: wrong passphrase or private key"),
    (r"No space left on device|ENOSPC|Disk quota exceeded",
     "no space left on the destination or in the temp dir"),
    (r"No backup chains with active signatures found|No such file or directory.*manifest|"
     r"Found 0 backup chains|No backup chains found|No signature chains found",
     "no backup found at the destination"),
    (r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|Certificate verification",
     "TLS certificate verification failed (check ca_certificate)"),
]


def log_records(machine_log, level):
    """The records of one level (ERROR, WARNING) in duplicity's --log-file output, as
    (code, extra, message) tuples; the message is the record's '. '-prefixed lines."""
    records = []
    lines = machine_log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^" + level + r" (\d+)(?: (.*))?$", line)
        if m:
            body = []
            for follow in lines[i + 1:]:
                if not follow.startswith("."):
                    break
                body.append(follow[2:])
            records.append((int(m.group(1)), m.group(2) or "", "\n".join(body).strip()))
    return records


def _meaningful_line(text, prefer_fatal=False):
    lines = [line.strip().lstrip(". ").strip() for line in text.splitlines()]
    if prefer_fatal:
        for line in lines:
            if line.startswith(("Fatal Error:", "Fatal error:")):
                return line
    for line in reversed(lines):
        if line and not line.startswith(("Traceback", "File ", "^", "=====")):
            return line
    return ""


def classify_failure(text, secrets=(), returncode=None, machine_log="", deadline=None):
    """A short, secret-free reason for a failed duplicity run: what went wrong and, where
    known, what to do.

    By precedence: a run the runner stopped at its deadline; duplicity's exit code and the
    codes of the ERROR records it wrote to its --log-file (``machine_log``); patterns in the
    error records and the output. The quoted detail is the fatal error's own line, not
    whatever duplicity printed last.
    """
    errors = log_records(machine_log or "", "ERROR")
    if deadline is not None or DEADLINE_MARK in text:
        return ("deadline: duplicity ran longer than run_timeout ({}) and was stopped; the "
                "backend may hang: check it, or raise run_timeout".format(
                    "{}s".format(deadline) if deadline is not None else "see the log"))
    codes = [code for code, _, _ in errors] + ([returncode] if returncode else [])
    error_text = "\n".join(message for _, _, message in errors)
    # codes a backend may use for any failure (azure: 38 or 52 for a refused key too) yield
    # to what the error says; the others name their fault whatever the text
    by_code = [_ERROR_CODES[code] for code in reversed(codes) if code in _ERROR_CODES]
    definite = [_ERROR_CODES[code] for code in reversed(codes)
                if code in _ERROR_CODES and code not in _BACKEND_CODES]
    by_text = [label for pattern, label in _TEXT_CHECKS[1:]
               if re.search(pattern, error_text) or re.search(pattern, text)]
    reason = (definite or by_text or by_code or [None])[0]
    if errors and errors[-1][2]:
        detail = _meaningful_line(errors[-1][2].splitlines()[0])
    else:
        detail = _meaningful_line(text, prefer_fatal=True)
    detail = redact(detail, secrets)[:200]
    if reason and detail:
        message = "{} ({})".format(reason, detail)
    else:
        message = reason or detail or "duplicity failed{}".format(
            " with exit code {}".format(returncode) if returncode else "")
    return message[:MAX_MESSAGE]


MAX_UNREADABLE = 10


def unreadable_files(machine_log):
    """The files duplicity could not read (its 'cannot read' warnings, code 10), first few."""
    files = []
    for code, extra, message in log_records(machine_log or "", "WARNING"):
        if code == 10:
            path = extra.strip()
            if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
                path = path[1:-1]
            files.append((path or message)[:200])
    return files[:MAX_UNREADABLE]


def partial_warning(errors, unreadable):
    return ("{} file(s) could not be read and are not in this backup{}; see the unit's log"
            .format(errors, " (e.g. {})".format(unreadable[0]) if unreadable else ""))


def real_differences(output, includes):
    """verify's 'Difference found' lines, less those about the parent directories of the
    backed-up paths: duplicity stores them only to hold the tree, their mtimes move with
    every file created beside them."""
    ancestors = set()
    for include in includes:
        parts = include.strip("/").split("/")
        ancestors.update("/".join(parts[:i]) for i in range(1, len(parts)))
    found = []
    for line in output.splitlines():
        m = re.match(r"^Difference found: (?:File|Directory) (.+?) has (mtime|metadata)", line)
        if m and m.group(1) in ancestors and m.group(2) == "mtime":
            continue
        if line.startswith("Difference found: "):
            found.append(line[len("Difference found: "):])
    return found


def time_to_id(time):
    return time if duplicity_helper.is_backup_id(time) else None


def parse_file_list(output):
    """list-current-files output -> paths (relative to /), as restore's path takes them.

    The root itself (``.``) is not listed: it is not something to restore by path.
    """
    files = []
    for line in output.splitlines():
        m = re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} (.*)$", line)
        if m and m.group(1) != ".":
            files.append(m.group(1))
    return files




def verify_compared(output):
    """The number of files verify compared, or None when it did not finish comparing.
    0.8: "3 files compared, 0 differences found"; 2.x/3.x: "file(s)", "difference(s)"."""
    m = re.search(r"Verify complete: (\d+) file(?:s|\(s\))? compared, "
                  r"(\d+) difference(?:s|\(s\))? found", output)
    return int(m.group(1)) if m else None


def deleted_count(output):
    """How many files a remove-* run said it deleted."""
    return len(re.findall(r"^Deleting |^\. Deleting ", output, re.M))
