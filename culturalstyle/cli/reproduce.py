"""`culturalstyle reproduce`: run the study's notebooks into a fresh results directory and index them."""

from __future__ import annotations

import argparse

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run the study notebooks with papermill and index their figures and tables",
        description=(
            "Run notebooks/<number>_*.ipynb in order with papermill, parameters from "
            "notebooks/params/<profile>.yaml, into results/<profile>/<timestamp-or-name>/, then write "
            "index.html and index.md. Heavy steps come from the package's caches when they exist."
        ),
    )
    parser.add_argument(
        "--profile", default="smoke", help="parameter profile: smoke, cpu, paper (default smoke)"
    )
    parser.add_argument("--params", metavar="FILE.yaml", help="extra parameter file applied over the profile")
    options.add_set_option(
        parser,
        "set a parameter for every notebook declaring it, or NOTEBOOK.KEY=VALUE for one notebook",
        deprecated=("--parameter",),
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NOTEBOOK",
        help="run only this notebook (file name, stem or number); repeatable",
    )
    parser.add_argument("--name", help="output directory name instead of a timestamp")
    parser.add_argument(
        "--force",
        action="store_true",
        help="redo an existing --name reproduction (its re-run notebooks' old outputs are removed first)",
    )
    parser.add_argument("--notebooks", metavar="DIR", help="notebooks directory (default: the repository's)")
    parser.add_argument("--results", metavar="DIR", default="results", help="results root (default results/)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    options.add_debug_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce

    if args.force and not args.name:
        raise ValueError("--force only applies together with --name (a new reproduction never overwrites)")
    if args.log_output:  # papermill streams cell output through the logging module
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    # A failing notebook raises NotebookFailed (a RuntimeError): the CLI prints it and exits with status 1.
    reproduce(
        args.profile,
        params_file=args.params,
        overrides=args.overrides,
        only=args.only,
        name=args.name,
        force=args.force,
        notebooks_dir=args.notebooks,
        results_root=args.results,
        log_output=args.log_output,
    )
    return 0
