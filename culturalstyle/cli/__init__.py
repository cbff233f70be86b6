"""The `culturalstyle` command: thin sub-commands that call the package's modules.

Each sub-command group lives in its own module under `culturalstyle.cli` and exposes
`register(subparsers)`; heavy imports happen inside the handlers so `--help` stays fast.

Errors reach the user as one line `culturalstyle COMMAND: error: ...` with a non-zero exit status (`--debug`
shows the traceback). Filesystem refusals say what could not be written, where and why (`error_line`), and
output directories the failed command created but never filled are removed again.
"""

from __future__ import annotations

import argparse
import errno
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
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def error_line(error: BaseException, output: str | None = None) -> str:
    """The one line a user sees for `error`; filesystem refusals name the file (or `output`) and the reason."""
    from ..cache import WriteError, write_failure

    if isinstance(error, WriteError):
        return str(error)
    if isinstance(error, (OSError, RuntimeError)) and not isinstance(
        error, (FileNotFoundError, FileExistsError)
    ):
        where = getattr(error, "filename", None) or output or "an output file"
        translated = write_failure(where, error)
        if translated is not None:
            return str(translated)
    if isinstance(error, OSError) and error.errno is not None and error.strerror:  # raised by the OS itself
        where = f" {error.filename}" if error.filename else ""
        if error.errno == errno.ENOENT:
            return f"no such file or directory:{where}"
        return f"could not access{where}: {error.strerror}"
    return str(error)


def main(argv: list[str] | None = None) -> int:
    from .. import runs

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        runs.discard_empty_outputs()
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        runs.discard_empty_outputs()
        if getattr(args, "debug", False):
            raise
        output = getattr(args, "out", None) or getattr(args, "results", None)
        print(f"culturalstyle {args.command}: error: {error_line(error, output)}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
