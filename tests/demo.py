#!/usr/bin/env python3
"""One-command local demo of the duplicity charm (``make demo``), no Juju controller needed.

Builds the charm and the example principal (tests/charms/backup-principal) with the test
stand-in for layer:basic, deploys both in the local agent harness (tests/harness), relates
them over ``backup`` (the principal declares a sample directory), configures the file
backend with a passphrase in a temporary directory, then runs do-backup (full), changes
some files, do-backup (incremental), list-backups and restore into a new directory, prints
every action's results and compares the restored tree with the sample byte for byte.

It runs as root in a private mount namespace (``unshare --mount``): the directories the
charm writes (/etc/cron.d, /var/lib/charm-duplicity, ...) are overlays on a tmpfs there,
so nothing reaches the host. Without unshare it runs on the host, says so, and removes
the unit (stop, remove) and its files at the end. Exit status 0 only when every step
succeeded and the restored files are identical.
"""

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)

from harness import Model, build_charm  # noqa: E402
from harness.build import INTERFACES_DIR, LAYERS_DIR, _tree_digest, charm_name  # noqa: E402
from e2e.helpers import letters, snapshot  # noqa: E402

NAMESPACE_ENV = "CHARM_DUPLICITY_DEMO_NAMESPACE"
DEFAULT_BUILD_DIR = os.path.join(TESTS, ".work", "demo-build")
# Where the charm writes on the machine (HACKING.md "Per-unit machine paths"; NRPE files,
# upstream leftovers; root's home for anything a tool writes there). In the namespace each
# one, or its nearest existing parent, is an overlay whose writes land on a private tmpfs.
PRIVATE_PATHS = ["/etc/cron.d", "/etc/logrotate.d", "/etc/nagios", "/var/lib/charm-duplicity",
                 "/var/cache/charm-duplicity", "/var/log/charm-duplicity",
                 "/usr/local/lib/nagios", "/root"]
# The charm's own directories, where tests running beside the demo write all the time (an
# overlay's lower layer must not change under it): an empty tmpfs instead when they exist.
CHARM_DIRS = {"/var/lib/charm-duplicity", "/var/cache/charm-duplicity",
              "/var/log/charm-duplicity"}


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def step(title):
    say()
    say("== " + title)


# ------------------------------------------------------------------ namespace

def unshare_works():
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    proc = subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode == 0


def reexec_in_namespace(argv):
    """Run this script again inside a private mount namespace; returns its exit status."""
    env = dict(os.environ)
    env[NAMESPACE_ENV] = "1"
    cmd = ["unshare", "--mount", "--propagation", "private", "--",
           sys.executable, os.path.abspath(__file__)] + list(argv)
    return subprocess.run(cmd, env=env).returncode


def mount_points(paths):
    """Each path, or its nearest existing parent; outermost first, none inside another."""
    points = set()
    for path in paths:
        while not os.path.isdir(path):
            path = os.path.dirname(path)
        points.add(path)
    kept = []
    for point in sorted(points, key=len):
        if not any(point == k or point.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(point)
    return kept


def make_private(scratch):
    """Make PRIVATE_PATHS private to this namespace: overlays whose upper layers live on a
    tmpfs at scratch; the charm's own directories (CHARM_DIRS) an empty tmpfs."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "demo-scratch", scratch],
                   check=True)
    for number, point in enumerate(mount_points(PRIVATE_PATHS)):
        st = os.stat(point)
        if point in CHARM_DIRS:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode={:o}".format(
                st.st_mode & 0o7777), "demo-" + os.path.basename(point), point], check=True)
            say("   private tmpfs:   {}".format(point))
            continue
        upper = os.path.join(scratch, str(number), "upper")
        work = os.path.join(scratch, str(number), "work")
        os.makedirs(upper)
        os.makedirs(work)
        os.chmod(upper, st.st_mode & 0o7777)
        os.chown(upper, st.st_uid, st.st_gid)
        subprocess.run(["mount", "-t", "overlay", "demo-overlay", "-o",
                        "lowerdir={},upperdir={},workdir={}".format(point, upper, work),
                        point], check=True)
        say("   private overlay: {}".format(point))


# ------------------------------------------------------------------ output

def show_results(results, indent="   "):
    for key in sorted(results):
        value = results[key]
        if isinstance(value, dict):
            say("{}{}:".format(indent, key))
            show_results(value, indent + "  ")
        elif "\n" in str(value):
            say("{}{}:".format(indent, key))
            for line in str(value).splitlines():
                say("{}    {}".format(indent, line))
        else:
            say("{}{}: {}".format(indent, key, value))


def run_action(unit, name, **params):
    shown = " ".join("{}={}".format(k, v) for k, v in sorted(params.items()))
    step("juju run {} {} {}".format(unit.name, name, shown).rstrip())
    started = time.monotonic()
    result = unit.run_action(name, params)
    say("   status: {} ({:.1f} s)".format(result.status, time.monotonic() - started))
    if result.message:
        say("   message: {}".format(result.message))
    show_results(result.results)
    if result.status != "completed":
        raise DemoFailed("{} failed: {}".format(name, result.message))
    return result.results


# ------------------------------------------------------------------ data

def make_sample(root):
    """A small sample tree: text, binary, an empty file, a nested directory, a symlink."""
    os.makedirs(os.path.join(root, "docs", "notes"))
    files = {
        "README.txt": b"sample data the backup-principal example declares for backup\n",
        "docs/report.txt": "".join("line {} of the report\n".format(i)
                                   for i in range(200)).encode(),
        "docs/notes/todo.txt": b"- back up\n- restore\n",
        "blob.bin": bytes(range(256)) * 64,
        "empty": b"",
    }
    for rel, data in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    os.symlink("docs/report.txt", os.path.join(root, "report-link"))


def change_sample(root):
    with open(os.path.join(root, "docs", "report.txt"), "ab") as f:
        f.write(b"an appended line\n")
    with open(os.path.join(root, "new-file.txt"), "wb") as f:
        f.write(b"added after the full backup\n")
    os.unlink(os.path.join(root, "blob.bin"))
    return ["appended to docs/report.txt", "added new-file.txt", "deleted blob.bin"]


def describe(root, rel, entry):
    """A snapshot entry for a reader: its size, link target or 'directory'."""
    if entry == "dir":
        return "directory"
    if entry.startswith("link:"):
        return "-> " + entry[len("link:"):]
    return "{} bytes".format(os.lstat(os.path.join(root, rel)).st_size)


def compare(original, restored):
    """Print a line per entry; returns the number of differences."""
    step("byte-for-byte comparison: {} vs {}".format(original, restored))
    want, got = snapshot(original), snapshot(restored)
    differences = 0
    for rel in sorted(set(want) | set(got)):
        a, b = want.get(rel), got.get(rel)
        if a is None or b is None:
            verdict = "MISSING from the restore" if b is None else "EXTRA in the restore"
        elif a != b:
            verdict = "DIFFERENT"
        else:
            verdict = "identical"
        if verdict != "identical":
            differences += 1
        detail = describe(original, rel, a) if a is not None else describe(restored, rel, b)
        say("   {:<9} {:<22} {}".format("ok" if verdict == "identical" else "DIFF", rel,
                                       verdict if verdict != "identical" else detail))
    files = [rel for rel, entry in want.items() if entry != "dir" and not entry.startswith("link:")]
    size = sum(os.lstat(os.path.join(original, rel)).st_size for rel in files)
    if differences:
        say("RESULT: {} difference(s) between the data and its restore".format(differences))
    else:
        say("RESULT: the restore is byte-for-byte identical ({} entries, {} files, {} bytes)"
            .format(len(want), len(files), size))
    return differences


# ------------------------------------------------------------------ the demo

def unit_files(unit_name):
    slug = unit_name.replace("/", "-")
    return ["/var/lib/charm-duplicity/" + slug, "/var/cache/charm-duplicity/" + slug,
            "/etc/cron.d/charm-duplicity-" + slug, "/etc/logrotate.d/charm-duplicity-" + slug,
            "/var/lib/charm-duplicity/status/{}.json".format(slug),
            "/var/log/charm-duplicity/{}.log".format(slug)]


def build(src, build_dir):
    """charm build of src into build_dir, reused while the sources it is built from (the
    layer, the test stand-in for layer:basic, interfaces/) are unchanged."""
    digest = _tree_digest(src, LAYERS_DIR, INTERFACES_DIR)
    name = charm_name(src)
    target = os.path.join(build_dir, name)
    stamp = os.path.join(build_dir, name + ".digest")
    if os.path.exists(stamp) and os.path.exists(os.path.join(target, "hooks", "install")):
        with open(stamp) as f:
            if f.read().strip() == digest:
                say("   {}: unchanged since the last build, reused".format(target))
                return target
    if os.path.exists(stamp):
        os.unlink(stamp)
    target = str(build_charm(src, build_dir, use_cache=False))
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    say("   built " + target)
    return target


def demo(work, build_dir, app_name, duplicity_bin, remove):
    started = time.monotonic()
    step("build the charms (charm build, test stand-in for layer:basic) into " + build_dir)
    charm = build(REPO, build_dir)
    principal_charm = build(os.path.join(TESTS, "charms", "backup-principal"), build_dir)
    say("   ({:.1f} s)".format(time.monotonic() - started))

    data = os.path.join(work, "srv", "sample")
    backups = os.path.join(work, "backups")
    restored = os.path.join(work, "restored")
    make_sample(data)

    step("deploy in the local agent harness (model in {})".format(work))
    t = time.monotonic()
    model = Model(os.path.join(work, "model"), juju_version="3.4.0")
    principal_app = model.add_application("backup-principal", charm=principal_charm,
                                          config={"fileset": data})
    principal = principal_app.add_unit()
    app = model.add_application(app_name, charm=charm)
    unit = app.add_unit(principal=principal, deploy=False,
                        extra_path=[duplicity_bin] if duplicity_bin else [])
    unit.deploy()
    try:
        model.relate("{}:backup".format(app_name), "backup-principal:backup")
        say("   {} (principal) declares fileset={}".format(principal.name, data))
        say("   {}: {}".format(unit.name, " ".join(unit.status)))

        step("juju config {} backend=file remote_backup_url=file://{} encryption_passphrase=..."
             .format(app_name, backups))
        passphrase = secrets.token_urlsafe(18)
        app.set_config(backend="file", remote_backup_url="file://" + backups,
                       encryption_passphrase=passphrase)
        say("   (a random {}-character passphrase, not shown)".format(len(passphrase)))
        status = unit.status
        say("   {}: {} ({:.1f} s since deploy)".format(unit.name, " ".join(status),
                                                      time.monotonic() - t))
        if status[0] != "active":
            raise DemoFailed("the unit is {}: {}".format(*status))

        full = run_action(unit, "do-backup", full=True)
        if full.get("backup-type") != "full":
            raise DemoFailed("the first backup is not full")
        time.sleep(1.1)  # duplicity's backup times have one-second resolution

        step("change some files in " + data)
        for line in change_sample(data):
            say("   " + line)

        incremental = run_action(unit, "do-backup")
        if incremental.get("backup-type") != "incremental":
            raise DemoFailed("the second backup is not incremental")
        listing = run_action(unit, "list-backups")
        if listing.get("count") != "2":
            raise DemoFailed("list-backups does not list the two backups")
        run_action(unit, "restore", target=restored)

        hook_log = principal.dir / "hook-runs.log"
        if hook_log.exists():
            step("the principal's hook scripts ran (its hook-runs.log)")
            for line in hook_log.read_text().splitlines():
                say("   " + line)

        differences = compare(data, os.path.join(restored, data.lstrip("/")))
    finally:
        if remove:
            step("remove the unit (stop, remove hooks)")
            unit.remove()
            say("   removed {} (the backups were not touched)".format(unit.name))
    say()
    say("demo finished in {:.1f} s".format(time.monotonic() - started))
    return 1 if differences else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default=None,
                        help="application name (default: duplicity in the namespace, "
                             "a unique name on the host)")
    parser.add_argument("--build-dir", default=DEFAULT_BUILD_DIR,
                        help="where the charms are built (default: tests/.work/demo-build)")
    parser.add_argument("--duplicity-bin", default=None,
                        help="a directory with the duplicity to use first on PATH "
                             "(default: the system's)")
    parser.add_argument("--no-namespace", action="store_true",
                        help="run on the host (cleans up at the end) even if unshare works")
    args = parser.parse_args(argv)
    raw_argv = sys.argv[1:] if argv is None else argv

    if os.geteuid() != 0:
        say("demo: must run as root (the charm writes /etc/cron.d, /var/lib/...; "
            "in a private mount namespace, none of it reaches the host)")
        return 2
    in_namespace = os.environ.get(NAMESPACE_ENV) == "1"
    if not in_namespace and not args.no_namespace:
        if unshare_works():
            return reexec_in_namespace(raw_argv)
        say("demo: unshare --mount is not available here: running ON THE HOST. "
            "The unit is removed and its files deleted at the end.")
    elif args.no_namespace:
        say("demo: --no-namespace: running ON THE HOST. "
            "The unit is removed and its files deleted at the end.")

    app_name = args.app or ("duplicity" if in_namespace
                            else "duplicity-demo-" + letters(os.getpid()))
    work = tempfile.mkdtemp(prefix="charm-duplicity-demo-")
    say("demo: work directory {}".format(work))
    try:
        if in_namespace:
            say("demo: private mount namespace; what the charm writes on the machine stays "
                "on a tmpfs:")
            scratch = os.path.join(work, ".overlays")
            os.mkdir(scratch, 0o700)
            make_private(scratch)
        # On the host the unit is removed (stop, remove) at the end; in the namespace what
        # it wrote vanishes with the namespace's tmpfs.
        return demo(work, args.build_dir, app_name, args.duplicity_bin,
                    remove=not in_namespace)
    except Exception as err:  # the harness's HookFailed, BuildFailed, DemoFailed ...
        say()
        say("DEMO FAILED: {}: {}".format(type(err).__name__, err))
        return 1
    finally:
        if not in_namespace:
            for path in unit_files(app_name + "/0"):
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.lexists(path):
                    os.unlink(path)
        if in_namespace:
            subprocess.run(["umount", "--lazy", os.path.join(work, ".overlays")],
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
