"""Speed settings: compression per mode, encryption and duplicity version; parallel upload.

Pure functions, standard library only (the cron runner imports this with the system
python3, 3.8 or later). The figures behind the choices are printed by
``tests/bench/compression.py``; README.md ("Speed") gives them.

Compression (config ``compression``):

* Encrypting, gpg compresses before it encrypts. Its options travel in one
  ``--gpg-options=`` value: every duplicity version splits that value at white space and
  appends the words to gpg's command line (0.8.x ``gpg.py``; 2.x/3.x the same, and repeated
  ``--gpg-options`` are joined with a space). gpg's ``--compress-algo`` overrides a public
  key's preferences; every OpenPGP implementation reads uncompressed and ZIP data.
* Not encrypting, duplicity gzips each volume itself at a fixed level 6 (``gpg.py``
  ``GzipWriteFile`` in 0.8.x, 2.x and 3.x): the only choice is gzip or ``--no-compression``.
  2.x and 3.x also pass ``--compress-algo=none`` to gpg for ``--no-compression``; 0.8.x does
  not, so ``none`` with encryption is always said to gpg directly.
* Reading needs nothing: gpg records the algorithm in each packet, and duplicity reads
  ``.gz`` from the file name. Restore, verify and list therefore get no compression option
  and read backups made in any mode, including those made before this setting existed.

Modes, encrypting (gpg) / not encrypting (duplicity's gzip):

=========  ======================================  =====================
mode       gpg                                     unencrypted
=========  ======================================  =====================
auto       ``none`` or ``fast``, by a sample       the same choice
none       no compression                          ``--no-compression``
fast       ZIP (deflate) level 1                   gzip level 6
default    gpg's own choice (ZIP level 6, or a     gzip level 6
           public key's preferred algorithm,
           ZLIB for GnuPG 2 keys): the argv
           duplicity had before this setting
best       BZIP2 level 9                           gzip level 6
=========  ======================================  =====================

``auto``: gpg's deflate costs about as much CPU on incompressible data as on text (measured
by tests/bench/compression.py: AES256 alone 96-114 MB/s CPU on random bytes, with ZIP
level 1 or 6 24-30 MB/s, for no saving), so no single level fits every data set. When the hooks
write the runner's spec and the backup selection changed (or was never sampled), up to
``SAMPLE_BYTES`` spread over the selected files are deflated at level 1 (each file's ratio
weighted by its size): when that saves less than ``SAVING_THRESHOLD`` (10%) of the bytes
the data is treated as incompressible and ``none`` is used (4x the CPU throughput, at most
~1.11x the stored bytes), otherwise ``fast`` (1.16-1.21x the CPU throughput of level 6 on
the bench mix for 4% more bytes). No sample (nothing selected yet, unreadable) means
``fast``. The choice is kept in the spec (``config["compression_auto"]``) and logged with
its sample.

Parallel upload (config ``concurrency``): duplicity 3.x's ``--concurrency=N`` uploads up to
N volumes from a pool of background processes while the next volume is written (up to
N + 1 volumes in the temp dir). The charm passes it on 3.x for N >= 2 only: the pool has a
fixed cost (it spawns N interpreters that import duplicity's backends, and polls for the
last uploads every 2 s), measured at about 2 s of wall time on a small incremental to the
file backend (8.3 s -> 10.5 s, dup 3.2.1, loaded 2-core machine) with nothing gained on
a local disk, so 1 keeps the synchronous upload of bare duplicity. ``--asynchronous-upload``
is never passed: 0.8.x and 2.x lose a volume when its upload fails under it (fixed upstream
only by removing it in 3.0.0, commit 83f7fb68 "Volume missing if --asynchronous-upload and
put fails"), and 3.x ignores it with a warning that it "may result in data loss". Before
3.0 uploads are therefore synchronous, and a concurrency above 1 is logged as ignored.
"""

import os
import stat
import zlib

COMPRESSION_MODES = ('auto', 'none', 'fast', 'default', 'best')
DEFAULT_COMPRESSION = 'auto'
V_CONCURRENCY = (3, 0)          # --concurrency exists (and --asynchronous-upload is gone)

# What each explicit mode asks gpg for ('' = gpg's default, the old argv).
_GPG_OPTIONS = {
    'none': '--compress-algo=none',
    'fast': '--compress-algo=zip --compress-level=1',
    'default': '',
    'best': '--compress-algo=bzip2 --compress-level=9',
}
# What ``auto`` resolves to without a sample, and what a sample can choose.
AUTO_MODE = 'fast'
AUTO_CHOICES = ('none', 'fast')
SAMPLE_BYTES = 4 << 20          # at most this much is read for a sample
SAMPLE_CHUNK = 64 << 10         # from each file, at most this much
SAMPLE_PIECES = 4               # a larger file is read in this many pieces spread over it
SAMPLE_MAX_ENTRIES = 20000      # directory entries visited at most
SAVING_THRESHOLD = 0.1          # compress when the sample shrinks by at least this much
# Never sampled: kernel and device trees, and the charm's own state.
_SAMPLE_SKIP = ('/proc', '/sys', '/dev', '/run', '/var/lib/charm-duplicity',
                '/var/cache/charm-duplicity')


def _v(version):
    return tuple(version or (0,))


def _version_text(version):
    return '.'.join(str(x) for x in _v(version))


def compression_problem(value):
    """A message naming the key when ``value`` is not a compression mode, else ''.

    Unset or empty means the default (``auto``).
    """
    if value is None or value == '' or (isinstance(value, str) and value in COMPRESSION_MODES):
        return ''
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 20:
        text = text[:20] + '...'
    return 'compression must be one of {}, not {!r}'.format(', '.join(COMPRESSION_MODES), text)


def parse_compression(value):
    """The compression mode for a config value ('' or None: the default); ValueError if invalid."""
    problem = compression_problem(value)
    if problem:
        raise ValueError(problem)
    return value or DEFAULT_COMPRESSION


def effective_mode(mode, auto=None):
    """The explicit mode a (parsed) mode stands for: ``auto`` becomes ``auto`` (a sample's
    choice, see ``auto_compression``) or, without one, ``AUTO_MODE``."""
    if mode != 'auto':
        return mode
    return auto if auto in AUTO_CHOICES else AUTO_MODE


def compression_args(mode, encrypting, version, auto=None):
    """duplicity options for writing a backup in ``mode`` (parsed); [] for gpg's defaults.

    Only backups take them: gpg and duplicity detect compression when reading.
    """
    mode = effective_mode(mode, auto)
    if not encrypting:
        return ['--no-compression'] if mode == 'none' else []
    options = _GPG_OPTIONS[mode]
    return ['--gpg-options=' + options] if options else []


def concurrency_args(concurrency, version):
    """``--concurrency=N`` on 3.x for N >= 2 (uploads overlap with writing the next volume)."""
    if _v(version) >= V_CONCURRENCY and int(concurrency) > 1:
        return ['--concurrency={}'.format(int(concurrency))]
    return []


def notes(mode, encrypting, concurrency, version):
    """One line per setting the installed duplicity ignores or maps to something coarser."""
    out = []
    if concurrency > 1 and _v(version) < V_CONCURRENCY:
        out.append('concurrency={} ignored: duplicity {} uploads one volume at a time '
                   '(3.0 or later uploads in parallel)'.format(concurrency,
                                                               _version_text(version)))
    if not encrypting and mode in ('fast', 'best'):
        out.append('compression={} is gzip level 6 without encryption: duplicity has no other '
                   'gzip level'.format(mode))
    return out


# --------------------------------------------------------------------------- auto sample

def _skipped(path, excludes):
    for prefix in _SAMPLE_SKIP + tuple(excludes):
        prefix = prefix.rstrip('/')
        if prefix and (path == prefix or path.startswith(prefix + '/')):
            return True
    return False


def _read_regular(path, limit, size=0):
    """Up to ``limit`` bytes of a regular file: from its start, or for a file larger than
    ``limit`` (``size``) SAMPLE_PIECES pieces spread over it; b'' for anything else.

    Never follows a symlink, never blocks on a FIFO or device (O_NONBLOCK, then fstat).
    """
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return b''
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b''
        if size <= limit:
            return os.read(fd, limit)
        piece = max(1, limit // SAMPLE_PIECES)
        return b''.join(os.pread(fd, piece, size * i // SAMPLE_PIECES)
                        for i in range(SAMPLE_PIECES))
    except OSError:
        return b''
    finally:
        os.close(fd)


def sample_files(includes, excludes=()):
    """(path, size) of the regular files under ``includes`` to sample, in a deterministic
    order, spread over the tree: directories are walked breadth first, so one huge subtree
    cannot use up the entry budget."""
    files = []
    queue = [p for p in includes if p.startswith('/') and not _skipped(p, excludes)]
    seen = 0
    while queue and seen < SAMPLE_MAX_ENTRIES:
        path = queue.pop(0)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        seen += 1
        if stat.S_ISREG(st.st_mode):
            if st.st_size:
                files.append((path, st.st_size))
        elif stat.S_ISDIR(st.st_mode):
            try:
                names = sorted(os.listdir(path))
            except OSError:
                continue
            queue.extend(p for p in (os.path.join(path, n) for n in names)
                         if not _skipped(p, excludes))
    return files


def sample_ratio(includes, excludes=()):
    """(estimated stored / raw at deflate level 1, bytes read, files read) for the selection.

    Up to SAMPLE_CHUNK bytes of each sampled file (in SAMPLE_PIECES pieces spread over a
    larger file, whose start may not be like the rest: a database's first pages) are
    deflated on their own, and the file's ratio is weighted by its whole size, so a large
    file counts for its bytes, not for one sample; a stratum's sample stands for all its
    files. Ratio None when nothing could be read.
    """
    files = sample_files(includes, excludes)
    if not files:
        return None, 0, 0
    # Two strata: files of at least SAMPLE_CHUNK (most of the bytes: up to 3/4 of the
    # budget goes to the largest of them) and smaller ones (every n-th fills the rest).
    # Each stratum's ratio (weighted by file size) counts for all its bytes.
    large = sorted((f for f in files if f[1] >= SAMPLE_CHUNK), key=lambda f: -f[1])
    small = [f for f in files if f[1] < SAMPLE_CHUNK]
    picked = large[:SAMPLE_BYTES * 3 // 4 // SAMPLE_CHUNK]
    budget = SAMPLE_BYTES - len(picked) * SAMPLE_CHUNK
    step = max(1, sum(size for _, size in small) // max(1, budget))
    raw = 0
    count = 0
    strata = []
    for stratum, members in ((large, picked), (small, small[::step])):
        weighted = 0.0
        weight = 0
        for path, size in members:
            if raw >= SAMPLE_BYTES:
                break
            chunk = _read_regular(path, min(SAMPLE_CHUNK, SAMPLE_BYTES - raw), size)
            if not chunk:
                continue
            compressor = zlib.compressobj(1)
            packed = len(compressor.compress(chunk)) + len(compressor.flush())
            raw += len(chunk)
            weighted += size * packed / len(chunk)
            weight += size
            count += 1
        if weight:
            strata.append((weighted / weight, sum(size for _, size in stratum)))
    if not raw:
        return None, 0, 0
    total = sum(t for _, t in strata)
    return sum(r * t for r, t in strata) / total, raw, count


def choose_auto(ratio):
    """``none`` when a sample saved less than SAVING_THRESHOLD, else ``fast``."""
    if ratio is None:
        return AUTO_MODE
    return 'none' if ratio > 1 - SAVING_THRESHOLD else 'fast'


def auto_compression(mode, includes, excludes, previous=None):
    """(choice, log line) for ``compression=auto``: (None, '') for any other mode.

    The choice in the previous runner spec (``previous``, a duplicity_records.RunnerSpec the
    hooks wrote, or None) is kept while the selection (includes, excludes) is the same;
    otherwise the selection is sampled and the line says what the sample showed.
    """
    if mode != 'auto':
        return None, ''
    includes, excludes = tuple(includes), tuple(excludes)
    if previous is not None and previous.settings.compression_auto in AUTO_CHOICES \
            and (previous.includes, previous.excludes) == (includes, excludes):
        return previous.settings.compression_auto, ''
    ratio, raw, count = sample_ratio(includes, excludes)
    choice = choose_auto(ratio)
    if ratio is None:
        return choice, 'compression=auto: nothing to sample yet, using {}'.format(choice)
    return choice, ('compression=auto: a sample of {} KiB from {} files deflates to {:.0%}, '
                    'using {}'.format(raw >> 10, count, ratio, choice))
