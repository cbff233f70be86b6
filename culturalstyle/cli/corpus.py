"""`culturalstyle corpus import|check|summary`: build, validate and describe culture-labelled corpora.

Exit status of `check`: 0 when the corpus is clean or has only warnings (exact/near duplicates, which the
splits keep on one side, and unmapped WikiArt styles); 1 when any error-level problem exists — a file
missing, unreadable, truncated, too small/large, a sha256 mismatch, a bad split name, an empty culture
label, a path outside the corpus root, an artist or a duplicate straddling splits, or files skipped at import
(recorded in problems.csv). `--strict` makes warnings fail too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("corpus", help="import, check and summarise culture-labelled corpora")
    sub = parser.add_subparsers(dest="corpus_command", metavar="ACTION")
    parser.set_defaults(handler=_usage(parser))

    imp = sub.add_parser("import", help="build a manifest from a folder tree, WikiArt or CycleGAN layout")
    layouts = imp.add_subparsers(dest="layout", metavar="LAYOUT")
    imp.set_defaults(handler=_usage(imp))

    def common(p: argparse.ArgumentParser, default_splits: str) -> None:
        p.add_argument("root", type=Path, help="the dataset folder")
        p.add_argument(
            "--out", type=Path, required=True, help="manifest CSV path, or a folder for manifest.csv"
        )
        p.add_argument("--cultures", default=None, help="comma-separated allowed culture labels")
        p.add_argument(
            "--splits",
            choices=("make", "source"),
            default=default_splits,
            help=f"make artist-disjoint splits, or keep the layout's own (default: {default_splits})",
        )
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--test-fraction", type=float, default=0.2)
        p.add_argument("--val-fraction", type=float, default=0.0)
        p.add_argument("--min-side", type=int, default=32, help="reject images whose shorter side is smaller")
        p.add_argument(
            "--max-pixels", type=int, default=None, help="reject larger images (default: PIL's limit)"
        )
        p.add_argument("--near-threshold", type=int, default=6, help="pHash bits for near duplicates")
        p.add_argument("--force", action="store_true", help="overwrite an existing manifest")
        p.add_argument(
            "--allow-outside-root",
            action="store_true",
            help="import symlinks to files outside ROOT (they are listed as warnings); default: skip them",
        )
        options.add_progress_option(p)
        options.add_debug_option(p)
        p.set_defaults(handler=_import)

    folder = layouts.add_parser("folder", help="ROOT/<culture>/<image> with an optional metadata CSV")
    common(folder, "make")
    folder.add_argument("--metadata", type=Path, default=None, help="CSV with path,artist,title,... columns")

    wikiart = layouts.add_parser("wikiart", help="WikiArt/ArtGAN ROOT/<Style>/<artist>_<title>.jpg")
    common(wikiart, "make")
    wikiart.add_argument("--mapping", type=Path, default=None, help="YAML or CSV style->culture overrides")
    wikiart.add_argument(
        "--csv-dir", type=Path, default=None, help="folder with style_train.csv/style_val.csv"
    )

    cyclegan = layouts.add_parser("cyclegan", help="CycleGAN trainA/trainB/testA/testB")
    common(cyclegan, "source")
    cyclegan.add_argument("--culture-a", required=True)
    cyclegan.add_argument("--culture-b", required=True)

    check = sub.add_parser("check", help="re-validate a corpus; exit 1 on error-level problems")
    check.add_argument("corpus", type=Path, help="manifest CSV or folder holding manifest.csv")
    check.add_argument("--strict", action="store_true", help="fail on warnings (duplicates) too")
    check.add_argument("--no-hashes", action="store_true", help="skip sha256 verification")
    check.add_argument("--near-threshold", type=int, default=6)
    check.add_argument("--min-side", type=int, default=32)
    check.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="accept rows whose files lie outside the corpus root (reported as warnings, not errors)",
    )
    options.add_debug_option(check)
    check.set_defaults(handler=_check)

    summary = sub.add_parser("summary", help="counts per culture, artist, split and problem kind")
    summary.add_argument("corpus", type=Path, help="manifest CSV or folder holding manifest.csv")
    options.add_debug_option(summary)
    summary.set_defaults(handler=_summary)


def _usage(parser: argparse.ArgumentParser):
    """Handler for a command given without its action: print that command's help, exit 2."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def _manifest_target(out: Path) -> Path:
    return out if out.suffix.lower() == ".csv" else out / "manifest.csv"


def _import(args: argparse.Namespace) -> int:
    from .. import corpus as corpus_mod
    from .. import runs
    from ..images import ImageLimits

    target = _manifest_target(args.out)
    if target.exists() and not args.force:
        raise FileExistsError(f"{target} exists; choose another --out or pass --force to overwrite it")
    limits = ImageLimits(min_side=args.min_side, max_pixels=args.max_pixels)
    cultures = [c.strip() for c in args.cultures.split(",")] if args.cultures else None
    options = dict(
        limits=limits,
        near_threshold=args.near_threshold,
        progress=not args.no_progress,
        allow_outside_root=args.allow_outside_root,
    )
    if args.layout == "folder":
        corpus = corpus_mod.from_folder(args.root, args.metadata, cultures=cultures, **options)
    elif args.layout == "wikiart":
        corpus = corpus_mod.from_wikiart(
            args.root, args.mapping, csv_dir=args.csv_dir, cultures=cultures, **options
        )
    else:
        for label in (args.culture_a, args.culture_b):
            if cultures is not None and label not in cultures:
                raise ValueError(f"unknown culture label {label!r}; allowed: {cultures}")
        corpus = corpus_mod.from_cyclegan(args.root, args.culture_a, args.culture_b, **options)
    if args.splits == "make":
        corpus = corpus_mod.make_splits(
            corpus,
            test_fraction=args.test_fraction,
            val_fraction=args.val_fraction,
            seed=args.seed,
            near_threshold=args.near_threshold,
        )
    manifest = corpus.save(target)
    record_name = "import_record.json" if target.name == "manifest.csv" else f"{target.stem}.record.json"
    runs.write_record(
        manifest.parent,
        kind="corpus_import",
        config={k: str(v) for k, v in vars(args).items() if k != "handler"},
        seed=args.seed,
        inputs={"manifest_hash": corpus.manifest_hash(), "root": str(args.root)},
        name=record_name,
    )
    print(corpus_mod.format_summary(corpus))
    _print_problems(corpus.problems, "problems found while importing")
    print(f"wrote {manifest} ({len(corpus)} images)")
    return 0


def _print_problems(problems, title: str) -> None:
    if len(problems) == 0:
        return
    print(f"{title} ({len(problems)}):")
    for row in problems.itertuples(index=False):
        print(f"  [{row.kind}] {row.path}: {row.reason}")


def _check(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..corpus import ERROR_KINDS, NOTE_KINDS, Corpus, check_corpus
    from ..images import ImageLimits

    corpus = Corpus.load(args.corpus, allow_outside_root=args.allow_outside_root)
    found = check_corpus(
        corpus,
        verify_hashes=not args.no_hashes,
        near_threshold=args.near_threshold,
        limits=ImageLimits(min_side=args.min_side),
    )
    everything = pd.concat(
        [corpus.problems.assign(when="import"), found.assign(when="check")], ignore_index=True
    )
    notes = found["kind"].isin(NOTE_KINDS)
    _print_problems(found[notes], "notes")
    _print_problems(corpus.problems, "problems recorded at import (files skipped)")
    _print_problems(found[~notes], "problems found now")
    everything = everything[~everything["kind"].isin(NOTE_KINDS)]
    errors = everything[everything["kind"].isin(ERROR_KINDS)]
    warnings_ = everything[~everything["kind"].isin(ERROR_KINDS)]
    print(f"{len(corpus)} images checked: {len(errors)} errors, {len(warnings_)} warnings")
    failed = len(errors) > 0 or (args.strict and len(warnings_) > 0)
    return 1 if failed else 0


def _summary(args: argparse.Namespace) -> int:
    from ..corpus import Corpus, format_summary

    corpus = Corpus.load(args.corpus)
    sys.stdout.write(format_summary(corpus))
    return 0
