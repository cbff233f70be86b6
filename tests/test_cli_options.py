"""The shared CLI options: one spelling everywhere, old spellings warned about and still honoured."""

from __future__ import annotations

import argparse

import pytest

from culturalstyle.cli import options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="culturalstyle demo")
    options.add_set_option(parser, "a config field", deprecated=("--parameter",))
    options.add_progress_option(parser, deprecated=("--quiet",))
    options.add_device_option(parser)
    options.add_debug_option(parser)
    return parser


def test_new_spellings(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["-p", "a=1", "--set", "b=2", "--no-progress", "--device", "cpu", "--debug"])
    assert args.overrides == ["a=1", "b=2"] and args.no_progress and args.device == "cpu" and args.debug
    assert capsys.readouterr().err == ""
    defaults = _parser().parse_args([])
    assert (
        defaults.overrides == []
        and not defaults.no_progress
        and defaults.device is None
        and not defaults.debug
    )


def test_old_spellings_warn_and_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["--parameter", "a=1", "-p", "b=2", "--quiet"])
    assert args.overrides == ["a=1", "b=2"] and args.no_progress
    err = capsys.readouterr().err
    assert "--parameter is deprecated" in err and "use -p/--set" in err
    assert "--quiet is deprecated" in err and "use --no-progress" in err
    assert "--quiet" not in _parser().format_help()  # old spellings are not advertised


def test_defaults_are_not_shared_between_parses() -> None:
    parser = _parser()
    parser.parse_args(["-p", "a=1"])
    assert parser.parse_args([]).overrides == []
