"""Pure tests of lib/duplicity_actions.py: parameter checks, and that a bad parameter
never reaches the runner (so it touches no backup)."""
import os

import pytest

import duplicity_actions as a
from duplicity_records import Outcome


class RecordingRunner:
    """Stands in for duplicity_runner.Runner: records every operation asked of it."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return {}
        return call


# ------------------------------------------------------------------ time

@pytest.mark.parametrize("value", [
    "now", "1764227552", "3D", "12h", "2W", "1Y", "1h30m", "90s", "6M",
    "2026-11-27", "2026/11/27", "11/27/2026",
    "2026-11-27T02:00:00Z", "2026-11-27T02:00", "2026-11-27T02:00:00+01:00",
])
def test_check_time_accepts_what_duplicity_understands(value):
    assert a.check_time("time", value) == value


@pytest.mark.parametrize("value", [None, ""])
def test_check_time_treats_empty_as_latest(value):
    assert a.check_time("time", value) is None


@pytest.mark.parametrize("value", [
    "yesterday", "3 days", "3d", "-3D", "D3", "2026-11-27 02:00:00", "2026-13", "27.11.2026",
    "now; rm -rf /", "3D\n", "--force", "2026-11-27T02:00:00Zjunk",
])
def test_check_time_rejects_anything_else_naming_the_parameter(value):
    with pytest.raises(a.ParamError) as err:
        a.check_time("time", value)
    assert str(err.value).startswith("time ")
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("value,expected", [
    (1665058250, "1665058250"), (0, "0"), (1665058250.0, "1665058250"),
])
def test_check_time_reads_a_number_as_seconds_since_the_epoch_as_upstream_did(value, expected):
    assert a.check_time("time", value) == expected


@pytest.mark.parametrize("value", [-1, 1.5, True, False])
def test_check_time_rejects_negative_fractional_or_boolean_numbers(value):
    with pytest.raises(a.ParamError) as err:
        a.check_time("time", value)
    assert str(err.value).startswith("time ")


def test_remove_older_than_passes_a_numeric_time_on_as_a_string():
    runner = RecordingRunner()
    a.remove_older_than(runner, {"time": 1665058250})
    assert runner.calls == [("remove", ("remove-older-than",), {"time": "1665058250"})]


def test_remove_older_than_time_may_be_a_number_in_actions_yaml():
    import os
    import yaml
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "actions.yaml")) as f:
        spec = yaml.safe_load(f)["remove-older-than"]["params"]["time"]
    assert set(spec["type"]) == {"string", "number"}


# ------------------------------------------------------------------ do-backup output

OUTCOME = {"type": "full", "status": "ok", "backup-id": "2026-12-01T12:00:00Z", "elapsed-time": "1.52",
           "source-files": "12", "new-files": "12", "changed-files": "0", "errors": "0",
           "destination-size-change": "4096"}


def test_do_backup_keeps_upstreams_output_result_beside_the_new_results():
    class Backup(RecordingRunner):
        def backup(self, full=False):
            return Outcome.from_json(OUTCOME)

    results = a.do_backup(Backup(), {})
    assert results["backup-type"] == "full" and results["backup-id"] == OUTCOME["backup-id"]
    lines = results["output"].splitlines()
    assert lines[0] == "full backup 2026-12-01T12:00:00Z"
    assert "Backup Statistics" in lines[1]
    assert "ElapsedTime 1.52" in lines and "SourceFiles 12" in lines and "Errors 0" in lines
    assert "TotalDestinationSizeChange 4096" in lines


def test_do_backup_output_is_capped_and_holds_only_the_statistics():
    outcome = dict(OUTCOME, **{"elapsed-time": "9" * 5000, "warning": "run-after-backup: x"})
    output = a.backup_output(Outcome.from_json(outcome))
    assert len(output) <= a.MAX_OUTPUT
    assert "run-after-backup" not in output


# ------------------------------------------------------------------ count

@pytest.mark.parametrize("value", [1, 2, 100])
def test_check_count_accepts_whole_numbers_from_one(value):
    assert a.check_count("count", value) == value


@pytest.mark.parametrize("value", [0, -1, None, "2", 1.5, True, False])
def test_check_count_rejects_below_one_and_non_integers_naming_the_parameter(value):
    with pytest.raises(a.ParamError, match=r"^count must be a whole number of at least 1"):
        a.check_count("count", value)


# ------------------------------------------------------------------ source-unit

@pytest.mark.parametrize("value", ["duplicity/0", "backup-dup/12", "dup3x/7"])
def test_check_unit_accepts_unit_names(value):
    assert a.check_unit(value) == value


@pytest.mark.parametrize("value", [None, ""])
def test_check_unit_treats_empty_as_this_unit(value):
    assert a.check_unit(value) is None


@pytest.mark.parametrize("value", ["duplicity", "duplicity/x", "Duplicity/0", "../etc/0",
                                   "duplicity/0/1", "0dup/1", "dup licity/0", "/duplicity/0"])
def test_check_unit_rejects_non_unit_names_naming_the_parameter(value):
    with pytest.raises(a.ParamError, match=r"^source-unit "):
        a.check_unit(value)


@pytest.mark.parametrize("value", ["duplicity/0\n", "duplicity/0\r\n", "duplicity/\u0663",
                                   "dup-/0", "dup--x/0", "dup-0/0", 7, ["duplicity/0"]])
def test_check_unit_refuses_a_trailing_newline_other_digits_and_non_strings(value):
    with pytest.raises(a.ParamError, match=r"^source-unit "):
        a.check_unit(value)


@pytest.mark.parametrize("value", ["3D\n", "\u0663D", "2026-11-27T02:00:00Z\n", 3.5, True,
                                   -5, ["3D"]])
def test_check_time_refuses_a_trailing_newline_other_digits_and_non_strings(value):
    with pytest.raises(a.ParamError, match=r"^time "):
        a.check_time("time", value)


def test_check_time_takes_a_whole_number_as_upstream_did():
    assert a.check_time("time", 1764227552) == "1764227552"


@pytest.mark.parametrize("check", [
    lambda v: a.check_time("time", v), a.check_unit, a.check_key_file,
    lambda v: a.check_count("count", v)])
def test_parameter_messages_show_at_most_a_short_part_of_a_huge_value(check):
    with pytest.raises(a.ParamError) as err:
        check("x" * 100000)
    assert len(str(err.value)) < 400
    assert "\u2026" in str(err.value)


# ------------------------------------------------------------------ private-key-file

def test_check_key_file_accepts_an_existing_absolute_file(tmp_path):
    key = tmp_path / "key.asc"
    key.write_text("-----BEGIN PGP PRIVATE KEY BLOCK-----\n")
    assert a.check_key_file(str(key)) == str(key)


@pytest.mark.parametrize("value", [None, ""])
def test_check_key_file_treats_empty_as_no_key(value):
    assert a.check_key_file(value) is None


@pytest.mark.parametrize("value", ["/etc/hosts\0", 42, ["/etc/hosts"]])
def test_check_key_file_refuses_nul_bytes_and_non_strings_naming_the_parameter(value):
    with pytest.raises(a.ParamError, match=r"^private-key-file "):
        a.check_key_file(value)


@pytest.mark.parametrize("kind", ["missing", "directory", "relative"])
def test_check_key_file_rejects_missing_directories_and_relative_paths(tmp_path, kind,
                                                                       monkeypatch):
    key = tmp_path / "key.asc"
    if kind == "directory":
        key.mkdir()
    value = str(key)
    if kind == "relative":
        key.write_text("x")
        monkeypatch.chdir(tmp_path)
        value = "key.asc"
    with pytest.raises(a.ParamError, match=r"^private-key-file "):
        a.check_key_file(value)


# ------------------------------------------------------------------ path

@pytest.mark.parametrize("value, expected", [
    ("srv/app/data.db", "srv/app/data.db"),
    ("/srv/app", "srv/app"),
    ("srv/app/", "srv/app"),
    (" srv/app ", "srv/app"),
    ("srv/my file", "srv/my file"),
    ("srv/..hidden", "srv/..hidden"),
])
def test_check_path_gives_the_path_relative_to_the_backup_root(value, expected):
    assert a.check_path(value) == expected


@pytest.mark.parametrize("value", [None, ""])
def test_check_path_treats_empty_as_everything(value):
    assert a.check_path(value) is None


@pytest.mark.parametrize("value", ["/", "//", "../etc", "srv/../../etc", "srv/..",
                                   "srv/a\nb", "  /  ", "srv/a\0b", "srv/a\rb", "srv/./app",
                                   "./srv", "a/b/../../../etc"])
def test_check_path_rejects_paths_outside_the_backup_naming_the_parameter(value):
    with pytest.raises(a.ParamError, match=r"^path "):
        a.check_path(value)


# ------------------------------------------------------------------ target

def test_check_target_accepts_a_new_or_empty_directory(tmp_path):
    assert a.check_target(str(tmp_path / "new")) == str(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    assert a.check_target(str(tmp_path / "empty")) == str(tmp_path / "empty")


@pytest.mark.parametrize("value", [None, ""])
def test_check_target_treats_empty_as_the_restore_area(value):
    assert a.check_target(value) is None


@pytest.mark.parametrize("kind, message", [
    ("non-empty", "is not empty"),
    ("file", "is not a directory"),
    ("symlink-to-file", "is a symbolic link"),
    ("symlink-to-dir", "is a symbolic link"),
    ("dangling-symlink", "is a symbolic link"),
    ("symlink-in-path", "is a symbolic link"),
    ("group-writable-parent", "is writable by group or others"),
    ("relative", "must be an absolute path"),
])
def test_check_target_rejects_anything_but_a_new_or_empty_directory(tmp_path, kind, message):
    target = tmp_path / "target"
    if kind == "non-empty":
        target.mkdir()
        (target / "keep.txt").write_text("precious")
    elif kind == "file":
        target.write_text("precious")
    elif kind == "symlink-to-file":
        (tmp_path / "file").write_text("precious")
        target.symlink_to(tmp_path / "file")
    elif kind == "symlink-to-dir":
        (tmp_path / "dir").mkdir()
        target.symlink_to(tmp_path / "dir")
    elif kind == "dangling-symlink":
        target.symlink_to(tmp_path / "nowhere")
    elif kind == "symlink-in-path":
        (tmp_path / "dir").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "dir")
        target = tmp_path / "link" / "target"
    elif kind == "group-writable-parent":
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared").chmod(0o775)
        target = tmp_path / "shared" / "target"
    value = "restore/here" if kind == "relative" else str(target)
    with pytest.raises(a.ParamError, match=r"^target ") as err:
        a.check_target(value)
    assert message in str(err.value)
    if kind == "non-empty":
        assert (target / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "dir").exists() or os.listdir(tmp_path / "dir") == []


def test_restore_refuses_a_symlinked_target_and_an_in_place_path_under_a_writable_parent(
        tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "app").write_text("live")
    runner = RecordingRunner()
    with pytest.raises(a.ParamError, match=r"^target .*is a symbolic link"):
        a.restore(runner, {"target": str(tmp_path / "link")})
    with pytest.raises(a.ParamError, match=r"^path .*is writable by group or others"):
        a.restore(runner, {"path": str(shared / "app"), "in-place": True})
    assert runner.calls == []
    assert os.listdir(tmp_path / "dir") == [] and (shared / "app").read_text() == "live"


# ------------------------------------------------------------------ actions never reach the runner

@pytest.mark.parametrize("action, params, named", [
    ("restore", {"in-place": True}, "in-place needs path"),
    ("restore", {"in-place": True, "path": "srv/a", "target": "/tmp/new-dir-x"}, "target"),
    ("restore", {"time": "yesterday"}, "time 'yesterday'"),
    ("restore", {"path": "../etc"}, "path '../etc'"),
    ("restore", {"path": "srv/a\0b"}, "path 'srv/a\\x00b'"),
    ("restore", {"target": "/srv/../etc"}, "target /srv/../etc must not contain '..'"),
    ("restore", {"target": "/tmp/x\ny"}, "target '/tmp/x\\ny' must not contain NUL"),
    ("restore", {"path": "/nonexistent-dir-x/app", "in-place": True},
     "path /nonexistent-dir-x/app: in-place needs its parent directory"),
    ("restore", {"source-unit": "nobody"}, "source-unit 'nobody'"),
    ("restore", {"private-key-file": "/nonexistent/key.asc"}, "private-key-file"),
    ("list-current-files", {"time": "last week"}, "time 'last week'"),
    ("list-current-files", {"source-unit": "x"}, "source-unit"),
    ("list-backups", {"source-unit": "duplicity-0"}, "source-unit"),
    ("verify", {"time": "soon"}, "time 'soon'"),
    ("verify", {"private-key-file": "relative.asc"}, "private-key-file"),
    ("remove-older-than", {}, "time is required"),
    ("remove-older-than", {"time": "old"}, "time 'old'"),
    ("remove-all-but-n-full", {"count": 0}, "count must be"),
    ("remove-all-but-n-full", {}, "count must be"),
    ("remove-all-inc-of-but-n-full", {"count": -2}, "count must be"),
])
def test_invalid_parameters_fail_before_any_runner_operation(action, params, named):
    runner = RecordingRunner()
    with pytest.raises(a.ParamError) as err:
        a.ACTIONS[action](runner, params)
    assert named in str(err.value)
    assert runner.calls == []


def test_valid_parameters_reach_the_runner_normalised():
    runner = RecordingRunner()
    a.restore(runner, {"path": "/srv/app/", "time": "3D", "in-place": True,
                       "source-unit": "duplicity/1"})
    a.remove_all_but_n_full(runner, {"count": 2})
    a.remove_older_than(runner, {"time": "30D"})
    assert runner.calls == [
        ("restore", (), {"path": "srv/app", "time": "3D", "target": None, "in_place": True,
                         "source_unit": "duplicity/1", "private_key_file": None}),
        ("remove", ("remove-all-but-n-full",), {"count": 2}),
        ("remove", ("remove-older-than",), {"time": "30D"}),
    ]


def test_run_turns_a_parameter_error_into_the_failure_message(tmp_path, monkeypatch):
    class Loaded(RecordingRunner):
        pass

    loaded = Loaded()
    monkeypatch.setattr(a.Runner, "from_files", classmethod(lambda cls, spec: loaded))
    results, failure = a.run("remove-all-inc-of-but-n-full", {"count": 0},
                             str(tmp_path / "spec.json"))
    assert results is None
    assert failure.startswith("count must be a whole number of at least 1")
    assert loaded.calls == []


def test_run_says_the_unit_is_not_configured_without_a_spec(tmp_path):
    results, failure = a.run("do-backup", {"full": False}, str(tmp_path / "spec.json"))
    assert results is None
    assert failure.startswith("do-backup failed: the unit is not configured")


@pytest.mark.parametrize("action, error, message", [
    ("verify", "verify failed: decryption failed", "verify failed: decryption failed"),
    ("restore", "path srv/x is not in the backup", "restore failed: path srv/x is not in the "
                                                   "backup"),
    ("do-backup", "another duplicity operation is already running for duplicity/0 (backup)",
     "do-backup failed: another duplicity operation is already running for duplicity/0 "
     "(backup)"),
])
def test_run_names_the_failed_action_once(tmp_path, monkeypatch, action, error, message):
    class Failing:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise a.OperationError(error)
            return fail

    monkeypatch.setattr(a.Runner, "from_files", classmethod(lambda cls, spec: Failing()))
    results, failure = a.run(action, {}, str(tmp_path / "spec.json"))
    assert results is None and failure == message


# ------------------------------------------------------------------ list-backups

class ListingRunner:
    def __init__(self, sets):
        self.sets = sets

    def list_backups(self, source_unit):
        return [dict(s) for s in self.sets]


def test_list_backups_leaves_out_an_interrupted_set_and_names_it():
    full = {"backup-id": "2026-11-27T08:00:00Z", "backup-type": "full", "volumes": 3,
            "chain": "2026-11-27T08:00:00Z"}
    cut = {"backup-id": "2026-11-27T09:00:00Z", "backup-type": "incremental", "volumes": 2,
           "chain": "2026-11-27T08:00:00Z", "interrupted": True}
    results = a.list_backups(ListingRunner([full, cut]), {})
    assert results["count"] == 1
    assert results["backups"].splitlines()[2:] == [
        "2026-11-27T08:00:00Z | full | 3 | 2026-11-27T08:00:00Z"]
    assert results["interrupted"].startswith(
        "2026-11-27T09:00:00Z (incremental, 2 volumes uploaded): interrupted")
    assert "resumes" in results["interrupted"]


def test_list_backups_without_an_interruption_has_no_interrupted_result():
    full = {"backup-id": "2026-11-27T08:00:00Z", "backup-type": "full", "volumes": 3,
            "chain": "2026-11-27T08:00:00Z"}
    header = "backup-id | backup-type | volumes | chain"
    assert a.list_backups(ListingRunner([full]), {}) == {
        "backups": "\n".join([header, "-" * len(header),
                              "2026-11-27T08:00:00Z | full | 3 | 2026-11-27T08:00:00Z"]),
        "count": 1}


# ------------------------------------------------------------------ errors nobody foresaw

@pytest.mark.parametrize("spec_text", ["[]", '{"unit": "duplicity/0"}', "not json at all"])
def test_run_fails_on_a_broken_spec_with_a_message_and_no_exception(tmp_path, spec_text):
    spec = tmp_path / "spec.json"
    spec.write_text(spec_text)
    results, failure = a.run("do-backup", {}, str(spec))
    assert results is None
    assert failure.startswith("do-backup failed: the unit")
    assert "Traceback" not in failure


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   ValueError("remote_user: 'bad user' is not valid"),
                                   KeyError("type")])
def test_run_turns_any_unexpected_error_into_a_short_failure_message(tmp_path, monkeypatch,
                                                                      error):
    class Broken(RecordingRunner):
        def secrets(self):
            return ["hunter2-secret"]

        def list_backups(self, source_unit):
            raise error

    broken = Broken()
    monkeypatch.setattr(a.Runner, "from_files", classmethod(lambda cls, spec: broken))
    results, failure = a.run("list-backups", {}, str(tmp_path / "spec.json"))
    assert results is None
    assert failure.startswith("list-backups failed: unexpected error ({}".format(
        type(error).__name__))
    assert len(failure) <= 300
    recorded = [c for c in broken.calls if c[0] == "record"]
    assert recorded and recorded[0][1][1].status == "failed"


def test_an_unexpected_error_message_is_redacted(tmp_path, monkeypatch):
    class Leaky(RecordingRunner):
        def secrets(self):
            return ["hunter2-secret"]

        def cleanup(self):
            raise RuntimeError("password hunter2-secret refused\nsecond line")

    monkeypatch.setattr(a.Runner, "from_files", classmethod(lambda cls, spec: Leaky()))
    _, failure = a.run("cleanup", {}, str(tmp_path / "spec.json"))
    assert failure == "cleanup failed: unexpected error (RuntimeError: password *** refused)"


def test_do_backup_results_show_a_partial_backup_and_its_errors():
    class Partial:
        def backup(self, full):
            return Outcome.from_json({
                "status": "partial", "type": "full", "backup-id": "2026-12-01T12:00:00Z",
                "errors": "1", "unreadable": ["/srv/data/bad"],
                "warning": "1 file(s) could not be read and are not in this backup"})

    results = a.do_backup(Partial(), {})
    assert results["status"] == "partial"
    assert results["errors"] == "1"
    assert results["unreadable"] == "/srv/data/bad"
    assert results["warning"].startswith("1 file(s) could not be read")
