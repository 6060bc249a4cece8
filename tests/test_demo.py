"""``make demo`` (tests/demo.py): the round trip it shows works and leaves nothing on the host."""

import os
import re
import shutil
import subprocess
import sys

import pytest

import demo
from harness import wheels

HERE = os.path.dirname(os.path.abspath(__file__))


def host_paths(unit_name):
    slug = unit_name.replace("/", "-")
    return ["/var/lib/charm-duplicity/" + slug, "/var/cache/charm-duplicity/" + slug,
            "/var/lib/charm-duplicity/status/{}.json".format(slug),
            "/var/log/charm-duplicity/{}.log".format(slug),
            "/etc/cron.d/charm-duplicity-" + slug, "/etc/logrotate.d/charm-duplicity-" + slug]


def unshare_net_works():
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--net", "true"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def offline_env(venv_cache):
    """A fresh machine's pip (no pip.conf, no index or find-links from the environment:
    nothing but the local wheels), a cold template venv cache."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                        "PIP_NO_INDEX", "HARNESS_WHEELS")}
    env.update(PIP_CONFIG_FILE=os.devnull, HARNESS_VENV_CACHE=str(venv_cache))
    return env


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo deploys the charm: needs root")
@pytest.mark.skipif(not unshare_net_works(), reason="unshare --net (a network namespace) fails")
@pytest.mark.skipif(wheels.read_manifest(wheels.DEFAULT_DIR) is None,
                    reason="no local wheels in tests/.wheels: run make wheels")
def test_the_demo_builds_cold_offline_restores_byte_equal_and_leaves_nothing_on_the_host(
        tmp_path):
    # make demo after make wheels, on a fresh machine with no network: a cold build
    # directory and template venv cache, in a network namespace with no interface up.
    app = "demotest-" + demo.letters(os.getpid())
    build_dir = tmp_path / "build"
    proc = subprocess.run(["unshare", "--net", sys.executable, os.path.join(HERE, "demo.py"),
                           "--app", app, "--build-dir", str(build_dir)],
                          env=offline_env(tmp_path / "venvs"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    assert "built {}".format(build_dir / "duplicity") in out
    assert list((tmp_path / "venvs").glob("template-*/.complete"))
    assert "backup-type: full" in out and "backup-type: incremental" in out
    assert "backup-id | backup-type | volumes | chain" in out
    assert re.search(r"== juju run {}/0 restore target=".format(app), out)
    assert "RESULT: the restore is byte-for-byte identical" in out
    assert "DIFF" not in out
    if demo.unshare_works():
        assert "private overlay: /etc/cron.d" in out
    work = re.search(r"^demo: work directory (\S+)$", out, re.M).group(1)
    left = [p for p in host_paths(app + "/0") + [work] if os.path.lexists(p)]
    assert not left, left


def test_the_comparison_counts_every_changed_missing_extra_or_relinked_entry(tmp_path, capsys):
    original, restored = tmp_path / "original", tmp_path / "restored"
    for root in (original, restored):
        demo.make_sample(str(root))
    assert demo.compare(str(original), str(restored)) == 0
    assert "byte-for-byte identical" in capsys.readouterr().out

    with open(restored / "blob.bin", "r+b") as f:  # one byte changed, same size
        f.seek(100)
        f.write(b"\xff")
    (restored / "docs" / "notes" / "todo.txt").unlink()
    (restored / "extra.txt").write_text("not in the original\n")
    (restored / "report-link").unlink()
    (restored / "report-link").symlink_to("README.txt")
    assert demo.compare(str(original), str(restored)) == 4
    out = capsys.readouterr().out
    assert "4 difference(s)" in out and "identical (" not in out
