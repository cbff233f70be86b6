"""The options every sub-command spells the same way: `-p/--set KEY=VALUE`, `--no-progress`, `--device`, `--debug`.

Sub-commands add them through these functions, so a user who learnt one command knows the others. Spellings
of earlier releases (`--parameter`, `--quiet`) keep working for one release: they print a deprecation line to
stderr and then act as the new option.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEPRECATED_NOTE = "{old} is deprecated and goes in the next release; use {new}"


class _DeprecatedAlias(argparse.Action):
    """An old spelling: says it is deprecated, then does what `new` does (store_true or append)."""

    def __init__(
        self, option_strings: list[str], dest: str, *, new: str, append: bool, **kwargs: Any
    ) -> None:
        self.new, self.append = new, append
        if not append:
            kwargs["nargs"] = 0
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:  # fmt: skip
        print(
            f"{parser.prog}: warning: " + DEPRECATED_NOTE.format(old=option_string, new=self.new),
            file=sys.stderr,
        )
        if self.append:
            items = list(getattr(namespace, self.dest, None) or [])
            setattr(namespace, self.dest, [*items, values])
        else:
            setattr(namespace, self.dest, True)


def add_set_option(parser: argparse.ArgumentParser, help: str, *, deprecated: tuple[str, ...] = ()) -> None:
    """`-p/--set KEY=VALUE`, repeatable, collected in `args.overrides` (a list of strings)."""
    parser.add_argument(
        "-p", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )
    for old in deprecated:
        parser.add_argument(
            old,
            dest="overrides",
            action=_DeprecatedAlias,
            new="-p/--set",
            append=True,
            help=argparse.SUPPRESS,
        )


def add_progress_option(parser: argparse.ArgumentParser, *, deprecated: tuple[str, ...] = ()) -> None:
    """`--no-progress`: no progress bars (`args.no_progress`)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    for old in deprecated:
        parser.add_argument(
            old,
            dest="no_progress",
            action=_DeprecatedAlias,
            new="--no-progress",
            append=False,
            help=argparse.SUPPRESS,
        )


def add_device_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """`--device`: where the networks run (`args.device`, None: CUDA when present, else CPU)."""
    parser.add_argument(
        "--device", default=None, help=help or "cpu, cuda, cuda:1 or auto (default: CUDA when present)"
    )


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """`--debug`: show the traceback of an error instead of its one line."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
