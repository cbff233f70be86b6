"""Shared helpers: config round-trips and overrides, atomic writes, run records, never-overwrite."""

from __future__ import annotations

import dataclasses
import json

import pytest

from culturalstyle import cache, configs, runs
from culturalstyle.cli import build_parser, main


@dataclasses.dataclass
class Inner:
    rate: float = 0.1
    layers: tuple[str, ...] = ("relu1_1", "relu2_1")


@dataclasses.dataclass
class Outer:
    name: str = "demo"
    steps: int = 10
    inner: Inner = dataclasses.field(default_factory=Inner)
    note: str | None = None


def test_config_round_trips_through_yaml(tmp_path):
    config = Outer(name="x", steps=3, inner=Inner(rate=0.5, layers=("relu3_1",)), note="n")
    configs.save_yaml(config, tmp_path / "c.yaml")
    assert configs.load_yaml(Outer, tmp_path / "c.yaml") == config


def test_overrides_are_typed_and_nested():
    config = configs.apply_overrides(
        Outer(), ["steps=7", "inner.rate=1e-3", "inner.layers=[relu5_1]", "note=hi"]
    )
    assert config.steps == 7 and isinstance(config.steps, int)
    assert config.inner.rate == pytest.approx(1e-3) and isinstance(config.inner.rate, float)
    assert config.inner.layers == ("relu5_1",)
    assert config.note == "hi"
    assert Outer().steps == 10  # the original is untouched


@pytest.mark.parametrize(
    "override, message",
    [
        ("stepz=1", "unknown config field 'stepz'"),
        ("nope.x=1", "unknown config section"),
        ("steps", "key=value"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ValueError, match=message):
        configs.apply_overrides(Outer(), [override])


def test_unknown_yaml_keys_are_refused(tmp_path):
    (tmp_path / "c.yaml").write_text("name: a\nstpes: 3\n")
    with pytest.raises(ValueError, match="stpes"):
        configs.load_yaml(Outer, tmp_path / "c.yaml")


def test_atomic_write_leaves_old_file_when_the_block_fails(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), cache.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = cache.atomic_write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_sha256_file_matches_hashlib(tmp_path):
    import hashlib

    data = bytes(range(256)) * 5000
    (tmp_path / "b").write_bytes(data)
    assert cache.sha256_file(tmp_path / "b") == hashlib.sha256(data).hexdigest()


def test_stable_hash_ignores_key_order_but_not_values():
    assert cache.stable_hash({"a": 1, "b": 2}) == cache.stable_hash({"b": 2, "a": 1})
    assert cache.stable_hash({"a": 1}) != cache.stable_hash({"a": 2})


def test_cache_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURALSTYLE_CACHE", str(tmp_path / "c"))
    assert cache.cache_dir("features") == tmp_path / "c" / "features"
    assert (tmp_path / "c" / "features").is_dir()


def test_output_dirs_are_never_overwritten(tmp_path):
    out = runs.new_output_dir(tmp_path / "run")
    (out / "table.csv").write_text("x")
    with pytest.raises(runs.OutputExistsError, match="already exists"):
        runs.new_output_dir(tmp_path / "run")
    assert runs.new_output_dir(tmp_path / "run", resume=True) == out
    assert (out / "table.csv").read_text() == "x"
    first = runs.unique_dir(tmp_path, "study")
    second = runs.unique_dir(tmp_path, "study")
    assert first != second and second.name == "study-2"


def test_run_record_holds_config_seed_versions_and_inputs(tmp_path):
    runs.write_record(tmp_path, kind="test", config=Outer(), seed=3, inputs={"manifest": "abc"})
    record = json.loads((tmp_path / runs.RECORD_NAME).read_text())
    assert record["seed"] == 3 and record["config"]["inner"]["layers"] == ["relu1_1", "relu2_1"]
    assert record["inputs"] == {"manifest": "abc"}
    assert record["versions"]["culturalstyle"] and record["versions"]["torch"] != "not installed"


def test_cli_without_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: culturalstyle" in capsys.readouterr().out


def _subcommands(parser) -> dict:
    import argparse

    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_cli_parser_has_every_sub_command_and_each_runs_something(monkeypatch):
    from culturalstyle import cli

    parser = build_parser()
    assert parser.prog == "culturalstyle"
    commands = _subcommands(parser)
    # every module of COMMAND_MODULES registers the command of its own name (plus these two), and the
    # documented commands are all there
    documented = {"weights", "corpus", "embed", "compare", "train", "translate", "export-translator"}
    documented |= {"evaluate", "stylize", "reproduce"}
    assert set(commands) == set(cli.COMMAND_MODULES) | {"compare", "export-translator"} == documented
    for name, sub in commands.items():  # a handler, or sub-commands that each have one
        leaves = _subcommands(sub) or {name: sub}
        assert all(leaf.get_default("handler") is not None for leaf in leaves.values()), name
    # a module that is missing is an error, never a silently absent command
    monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, "no_such_group"])
    with pytest.raises(ModuleNotFoundError, match="no_such_group"):
        build_parser()


def test_read_entry_treats_any_damage_as_a_miss_and_warns_once(tmp_path):
    entry = tmp_path / "e.json"
    assert cache.read_entry(entry, lambda p: json.loads(p.read_text())) is None  # absent: silent miss
    entry.write_text("{trunc")
    with pytest.warns(UserWarning, match=f"damaged test entry {entry} .*JSONDecodeError"):
        assert cache.read_entry(entry, lambda p: json.loads(p.read_text()), what="test entry") is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same damaged entry is not warned about twice
        assert cache.read_entry(entry, lambda p: json.loads(p.read_text())) is None
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"n": 2}')  # readable, but not what the caller needs

    def check(value):
        return None if value.get("n") == 3 else "n is not 3"

    with pytest.warns(UserWarning, match="n is not 3"):
        assert cache.read_entry(wrong, lambda p: json.loads(p.read_text()), check=check) is None
    (tmp_path / "ok.json").write_text('{"n": 3}')
    assert cache.read_entry(tmp_path / "ok.json", lambda p: json.loads(p.read_text()), check=check) == {
        "n": 3
    }


def test_write_failure_reasons_in_words(tmp_path):
    import errno

    def reason(code, **sizes):
        failure = cache.write_failure(tmp_path / "f", OSError(code, "x"), **sizes)
        return failure.reason if failure is not None else None

    assert reason(errno.EROFS) == "read-only file system"
    assert reason(errno.EACCES) == "permission denied"
    assert reason(errno.ENOSPC, needed=3_500_000).startswith("no space left on device (")
    assert reason(errno.ENOSPC, needed=3_500_000).endswith(", 3.5 MB needed)")
    assert reason(errno.ENOENT) is None  # not a refusal to write: the original error stands
    assert cache.format_bytes(999) == "999 bytes" and cache.format_bytes(1_234_567_890) == "1.2 GB"


def test_output_dir_with_only_empty_folders_is_reused_and_hint_is_appended(tmp_path):
    (tmp_path / "run" / "figures").mkdir(parents=True)
    assert not runs.has_files(tmp_path / "run")
    assert runs.new_output_dir(tmp_path / "run") == tmp_path / "run"
    (tmp_path / "run" / "figures" / "a.png").write_bytes(b"x")
    with pytest.raises(runs.OutputExistsError, match=r"choose another output directory; or pass --force$"):
        runs.new_output_dir(tmp_path / "run", hint="; or pass --force")
