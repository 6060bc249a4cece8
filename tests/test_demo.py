"""``make demo`` (tests/demo.py): the round trip it shows works and leaves nothing on the host."""

import os
import re
import subprocess
import sys

import pytest

import demo

HERE = os.path.dirname(os.path.abspath(__file__))


def host_paths(unit_name):
    slug = unit_name.replace("/", "-")
    return ["/var/lib/charm-duplicity/" + slug, "/var/cache/charm-duplicity/" + slug,
            "/var/lib/charm-duplicity/status/{}.json".format(slug),
            "/var/log/charm-duplicity/{}.log".format(slug),
            "/etc/cron.d/charm-duplicity-" + slug, "/etc/logrotate.d/charm-duplicity-" + slug]


@pytest.mark.skipif(os.geteuid() != 0, reason="the demo deploys the charm: needs root")
def test_the_demo_restores_byte_equal_prints_every_step_and_leaves_nothing_on_the_host():
    app = "demotest-" + demo.letters(os.getpid())
    proc = subprocess.run([sys.executable, os.path.join(HERE, "demo.py"), "--app", app],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
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
