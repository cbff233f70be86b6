"""`culturalstyle evaluate RUN_OR_DIR --target CULTURE`: FID/KID/LPIPS/ArtFID/attribution of translations.

RUN_OR_DIR is a folder of translations (a corpus with provenance columns, as written by
`culturalstyle translate`), a translator run directory, whose source images of the evaluation split are
translated first (into a new folder inside the run), or a plain folder of images made by another program:
then `--source-images DIR` pairs each image with the source of the same file name for LPIPS and the
identity baseline (without it, FID/KID, the real-target floor and attribution are reported). The table
(CSV), a short Markdown report and a run record are written next to the translations / into the run, under
new names if earlier ones exist.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="FID/KID, LPIPS, ArtFID and culture attribution of translations, with baselines",
        description=(
            "Evaluate translations against the real images of the target culture: FID (bootstrap CI), KID "
            "(subset size adapted to small sets), LPIPS source<->translation, ArtFID, culture attribution, and "
            "the identity (untranslated) and real-target (floor) baselines. Reference statistics are cached."
        ),
    )
    parser.add_argument(
        "run_or_dir",
        help="translator run directory, a folder with a translations manifest.csv, or a plain folder of images",
    )
    parser.add_argument(
        "--source-images",
        type=Path,
        help="plain folder only: the source images, paired with the translations by file name (for LPIPS)",
    )
    parser.add_argument("--method", help="plain folder only: method name in the table (default: folder name)")
    parser.add_argument("--target", required=True, help="target culture (e.g. renaissance)")
    parser.add_argument("--source", help="source culture (default: from the run / the translations' sources)")
    parser.add_argument("--split", default="test", help="split of the reference images (default test)")
    parser.add_argument(
        "--corpus",
        help="corpus manifest or folder (default: the corpus recorded in the run's run_record.json)",
    )
    parser.add_argument("--size", type=int, help="FID/KID resolution (default: the translations' size)")
    parser.add_argument(
        "--n-bootstrap", type=int, default=200, help="bootstrap resamples for CIs (default 200)"
    )
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="latest", help="checkpoint of a run to translate with")
    parser.add_argument("--no-attribution", action="store_true", help="skip the culture classifier")
    parser.add_argument("--no-baselines", action="store_true", help="skip the identity and real-target rows")
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="also compute this registered metric (repeatable), e.g. palette_distance (off by default)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, auto (default: CUDA when present)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.set_defaults(handler=run_evaluate)


def _find_record(folder: Path) -> dict[str, Any]:
    record = folder / "run_record.json"
    if record.exists():
        return json.loads(record.read_text(encoding="utf-8"))
    return {}


def _is_run(folder: Path) -> bool:
    return (folder / "config.yaml").exists() and not (folder / "manifest.csv").exists()


def _corpus_path(args: argparse.Namespace, folder: Path) -> str:
    if args.corpus:
        return args.corpus
    for candidate in (folder, folder.parent, folder.parent.parent):
        record = _find_record(candidate)
        corpus = (record.get("inputs") or {}).get("corpus")
        if corpus:
            return str(corpus)
    raise ValueError(f"no --corpus given and none recorded in {folder}/run_record.json; pass --corpus PATH")


def free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """`stem`, or `stem-2`, `stem-3`, ... so that no file `stem<suffix>` exists yet (never overwrite)."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _translate_run(run_dir: Path, corpus: Any, source: str, target: str, split: str, checkpoint: str) -> Path:
    """Translate the run's source images of `split` into a new folder inside the run."""
    from ..configs import load_yaml
    from ..translate.apply import translate_images
    from ..translate.config import TrainConfig

    config = load_yaml(TrainConfig, run_dir / "config.yaml")
    if {source, target} != {config.source, config.target}:
        raise ValueError(
            f"the run {run_dir} translates {config.source} <-> {config.target}, not {source} -> {target}"
        )
    direction = "A2B" if target == config.target else "B2A"
    inputs = corpus.filter(culture=source, split=split)
    if len(inputs) == 0:
        raise ValueError(f"the corpus has no {source} images in split {split!r} to translate")
    parent = run_dir / "translations"
    parent.mkdir(exist_ok=True)
    out = parent / free_stem(parent, f"{split}-{source}-to-{target}", ("",))
    translate_images(run_dir, inputs, direction, out, checkpoint=checkpoint)
    return out


def run_evaluate(args: argparse.Namespace) -> int:
    from .. import metrics, runs, weights
    from ..cache import atomic_write_text
    from ..corpus import Corpus

    metrics.registry.check_metric_names(args.metric)  # before any translating
    folder = Path(args.run_or_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such run or translations folder")
    corpus = Corpus.load(_corpus_path(args, folder))
    source = args.source
    if args.source_images is not None and ((folder / "manifest.csv").exists() or _is_run(folder)):
        raise ValueError(
            "--source-images is for a plain folder of images; translations with a manifest (or a run) "
            "already know their sources"
        )
    if _is_run(folder):
        if source is None:
            from ..configs import load_yaml
            from ..translate.config import TrainConfig

            config = load_yaml(TrainConfig, folder / "config.yaml")
            source = config.source if args.target == config.target else config.target
        translations_dir = _translate_run(folder, corpus, source, args.target, args.split, args.checkpoint)
        out_dir = folder
    elif not (folder / "manifest.csv").exists():
        translations_dir = metrics.folder_translations(
            folder, target=args.target, source=source, source_images=args.source_images, method=args.method
        )
        out_dir = folder
    else:
        translations_dir = folder
        # translations made by this command live in RUN/translations/NAME: report into the run itself
        out_dir = folder.parent.parent if _is_run(folder.parent.parent) else folder
    config = metrics.EvaluationConfig(
        split=args.split,
        size=args.size,
        n_bootstrap=args.n_bootstrap,
        kid_subsets=args.kid_subsets,
        attribution=not args.no_attribution,
        baselines=not args.no_baselines,
        seed=args.seed,
        extra_metrics=tuple(args.metric),
    )
    table = metrics.evaluate(
        translations_dir, source=source, target=args.target, corpus=corpus, config=config, device=args.device
    )
    first = table.iloc[0]
    stem = free_stem(
        out_dir,
        f"evaluation-{first['source'] or folder.name}-to-{args.target}-{args.split}",
        (".csv", ".md", ".record.json"),
    )
    csv_path = out_dir / f"{stem}.csv"
    md_path = out_dir / f"{stem}.md"
    atomic_write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(md_path, metrics.report_markdown(table))
    used = {metrics.FID_NETWORK: weights.sha256(metrics.FID_NETWORK)}
    if "lpips" in set(table["metric"]):
        used[metrics.LPIPS_NETWORK] = weights.sha256(metrics.LPIPS_NETWORK)
    if config.attribution:
        used["vgg19-gatys"] = weights.sha256("vgg19-gatys")
    runs.write_record(
        out_dir,
        kind="evaluation",
        config=config,
        seed=config.seed,
        inputs={
            "translations": str(Path(getattr(translations_dir, "root", translations_dir)).resolve()),
            "source_images": str(args.source_images.resolve()) if args.source_images else "",
            "translations_manifest_hash": table.attrs.get("translations_manifest_hash", ""),
            "corpus": str(corpus.root.resolve()),
            "corpus_manifest_hash": table.attrs.get("corpus_manifest_hash", ""),
        },
        weights=used,
        extra={"outputs": [csv_path.name, md_path.name]},
        name=f"{stem}.record.json",
    )
    print(metrics.report_markdown(table))
    print(f"wrote {csv_path}, {md_path} and {stem}.record.json")
    return 0
