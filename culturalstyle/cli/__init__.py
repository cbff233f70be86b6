"""The `culturalstyle` command: thin sub-commands that call the package's modules.

Each sub-command group lives in its own module under `culturalstyle.cli` and exposes
`register(subparsers)`; heavy imports happen inside the handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

COMMAND_MODULES = [
    "weights",
    "corpus",
    "embed",
    "train",
    "translate",
    "evaluate",
    "stylize",
    "reproduce",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="culturalstyle",
        description="Study how art styles differ across cultures (style spaces, translators, evaluation).",
    )
    parser.add_argument("--version", action="version", version=f"culturalstyle {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{name}":  # not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, KeyError) as error:
        if getattr(args, "debug", False):
            raise
        print(f"culturalstyle {args.command}: error: {error}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
