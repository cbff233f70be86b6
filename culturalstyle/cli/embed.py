"""`culturalstyle embed` (corpus -> style-space features and embeddings) and `culturalstyle compare`
(embedding directory -> statistics tables and figures)."""

from __future__ import annotations

import argparse

from . import options


def _csv_list(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def register(subparsers: argparse._SubParsersAction) -> None:
    embed = subparsers.add_parser(
        "embed",
        help="embed a corpus in VGG19 Gram style space (features, embeddings, colour baseline)",
        description=(
            "Extract VGG19 style statistics of every image of CORPUS (cached on disk by content), build the style "
            "embedding and the colour/texture baseline, and write them with a run record to a new directory."
        ),
    )
    embed.add_argument("corpus", help="manifest CSV or a directory containing manifest.csv")
    embed.add_argument(
        "--out", required=True, help="new output directory (an existing non-empty one is refused)"
    )
    embed.add_argument("--config", metavar="FILE.yaml", help="EmbedConfig YAML (options below override it)")
    embed.add_argument("--size", type=int, help="image size in px (default 256)")
    embed.add_argument("--resize-policy", choices=["shorter", "longer", "native"], help="default shorter")
    embed.add_argument("--layers", help="comma-separated VGG layers (default relu1_1,...,relu5_1)")
    embed.add_argument("--statistic", choices=["gram", "meanstd"], help="default gram")
    embed.add_argument("--normalization", choices=["signed_sqrt", "log", "none"], help="default signed_sqrt")
    embed.add_argument("--cultures", help="comma-separated cultures to keep (default all)")
    embed.add_argument("--split", help="comma-separated splits to keep (default all)")
    embed.add_argument("--batch-size", type=int, help="images per network batch (default 8)")
    embed.add_argument(
        "--backbones",
        help="comma-separated registered backbones whose statistics are saved too, for `compare --backbones` "
        "(e.g. vgg19-gram,vgg19-meanstd,inception-pool,colour-texture)",
    )
    _backbone_file_option(embed)
    embed.add_argument("--seed", type=int, help="seed for the PCA (default 0)")
    options.add_set_option(embed, "any EmbedConfig field")
    options.add_device_option(embed)
    embed.add_argument(
        "--workers", type=int, default=0, help="image-decoding processes of the store path (default 0)"
    )
    embed.add_argument(
        "--mode",
        choices=["auto", "exact", "store"],
        help="exact: Gram triangles in memory; store: feature store + sketches (resumable, torchrun); "
        "auto (default): store above scale.threshold (2000) images or under torchrun",
    )
    embed.add_argument("--sketch-dim", type=int, help="sketch size per Gram layer on the store path (4096)")
    embed.add_argument(
        "--no-cache", action="store_true", help="ignore the feature cache (recompute everything)"
    )
    embed.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="use manifest rows whose files lie outside the corpus root (reported); default: refuse them",
    )
    options.add_progress_option(embed)
    options.add_debug_option(embed)
    embed.set_defaults(handler=run_embed)

    compare = subparsers.add_parser(
        "compare",
        help="cross-culture statistics and figures of an embedding directory",
        description=(
            "Cluster quality, leave-artist-out culture classification per layer (and the colour baseline), "
            "between-culture distances with permutation p-values and bootstrap CIs, within-culture spread and "
            "nearest neighbours; CSV tables and PNG/PDF figures go to a new DIR/compare directory. The "
            "embedding's per-feature standardisation (no labels) is fitted on all images of DIR; classifiers are "
            "fitted inside artist-disjoint folds."
        ),
    )
    compare.add_argument("dir", help="directory written by `culturalstyle embed`")
    compare.add_argument("--out", help="output directory (default DIR/compare, or compare-2, ... if taken)")
    compare.add_argument(
        "--n-permutations",
        type=int,
        default=None,
        help="permutations per distance p-value (default: 999, or more when Holm over the culture pairs "
        "needs more to reach p < 0.05)",
    )
    compare.add_argument("--n-bootstrap", type=int, default=1000)
    compare.add_argument(
        "--n-splits", type=int, default=5, help="artist-disjoint folds (capped at n artists)"
    )
    compare.add_argument("--k", type=int, default=5, help="nearest neighbours per image")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument(
        "--thumbnails", type=int, default=2, help="thumbnails per culture in the scatter plot"
    )
    compare.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    compare.add_argument(
        "--subsample-above",
        type=int,
        default=4000,
        help="store-path runs with more images run the N x N tests on stratified subsamples (default 4000)",
    )
    compare.add_argument(
        "--per-culture", type=int, default=1000, help="images per culture in those subsamples (default 1000)"
    )
    compare.add_argument(
        "--pca-components",
        type=int,
        default=128,
        help="principal components for classifiers, clusters and neighbours above --subsample-above",
    )
    compare.add_argument(
        "--backbones",
        help="compare representations: comma-separated registered backbones, or 'all' (statistics saved by "
        "`embed --backbones` are reused, others are extracted now, cached)",
    )
    _backbone_file_option(compare)
    compare.add_argument("--reference", default="vgg19-gram", help="backbone the others are tested against")
    compare.add_argument("--alpha", type=float, default=0.1, help="conformal miscoverage (default 0.1)")
    compare.add_argument(
        "--conformal-score",
        choices=["knn", "classifier"],
        default="knn",
        help="nonconformity: distance to a culture's nearest works (can say 'none') or 1 - classifier p",
    )
    options.add_device_option(compare, "cpu, cuda, cuda:1 or auto (for backbones extracted now)")
    options.add_debug_option(compare)
    compare.set_defaults(handler=run_compare)


def _backbone_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backbone-file",
        action="append",
        default=[],
        metavar="NAME=PATH[,statistic=S][,input=I]",
        help="register a network from a local file (torch.export .pt2 or TorchScript) as backbone NAME; "
        "statistic for feature maps: meanstd (default), gram, mean; input: unit, symmetric, imagenet, clip",
    )


def _register_backbone_files(specs: list[str]) -> list[str]:
    from ..features import parse_backbone_file, register_local_backbone

    names = []
    for spec in specs:
        name, path, options = parse_backbone_file(spec)
        register_local_backbone(name, path, overwrite=True, **options)
        names.append(name)
    return names


def _backbone_names(text: str | None, files: list[str]) -> list[str]:
    from ..features import available_backbones

    if not text:
        return files
    names = available_backbones() if text.strip() == "all" else list(_csv_list(text) or ())
    return list(dict.fromkeys(names + files))


def run_embed(args: argparse.Namespace) -> int:
    from ..configs import apply_overrides, load_yaml
    from ..corpus import Corpus
    from ..embedding import EmbedConfig
    from ..pipeline import embed

    config = load_yaml(EmbedConfig, args.config) if args.config else EmbedConfig()
    options = {
        "size": args.size,
        "resize_policy": args.resize_policy,
        "layers": _csv_list(args.layers),
        "statistic": args.statistic,
        "normalization": args.normalization,
        "cultures": _csv_list(args.cultures),
        "split": _csv_list(args.split),
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    for key, value in options.items():
        if value is not None:
            setattr(config, key, value)
    if args.mode is not None:
        config.scale.mode = args.mode
    if args.sketch_dim is not None:
        config.scale.sketch_dim = args.sketch_dim
    files = _register_backbone_files(args.backbone_file)
    backbones = _backbone_names(args.backbones, files)
    if backbones:
        config.backbones = tuple(backbones)
    if args.overrides:
        config = apply_overrides(config, args.overrides)
    corpus = Corpus.load(args.corpus, allow_outside_root=args.allow_outside_root)
    out = embed(
        corpus,
        args.out,
        config,
        device=args.device,
        cache=not args.no_cache,
        progress=not args.no_progress,
        workers=args.workers,
    )
    if out is None:  # a torchrun rank other than 0: rank 0 writes the directory and reports
        return 0
    from ..runs import read_record

    record = read_record(out)
    cache = record["feature_cache"]
    print(
        f"embedded {record['inputs']['n_images']} images of {args.corpus} -> {out} "
        f"({cache['network_images']} through the network, {cache['hits']} from the feature cache)"
    )
    if record["inputs"].get("n_problems"):
        print(f"skipped {record['inputs']['n_problems']} unusable images: see {out / 'problems.csv'}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    import sys

    from ..pipeline import CompareConfig, compare

    backbones = _backbone_names(args.backbones, _register_backbone_files(args.backbone_file))
    config = CompareConfig(
        n_permutations=args.n_permutations,
        n_bootstrap=args.n_bootstrap,
        n_splits=args.n_splits,
        k=args.k,
        seed=args.seed,
        thumbnails=args.thumbnails,
        formats=_csv_list(args.formats) or ("png",),
        subsample_above=args.subsample_above,
        per_culture=args.per_culture,
        pca_components=args.pca_components,
        backbones=tuple(backbones),
        reference=args.reference,
        alpha=args.alpha,
        conformal_score=args.conformal_score,
        device=args.device,
    )
    result = compare(args.dir, config, out=args.out)
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    _print_comparison(result, args.reference)
    return 0


def _print_comparison(result, reference: str) -> None:
    """The classification table, the paired test against colour and the backbone comparison, as text."""
    table = result.tables["classification"]
    print(
        table[["feature", "classifier", "n", "accuracy", "ci_low", "ci_high", "balanced_accuracy"]].to_string(
            index=False
        )
    )
    if "paired_tests" in result.tables:
        paired = result.tables["paired_tests"]
        print("\nstyle (concat) vs colour alone, same folds and images:")
        print(
            paired[["classifier", "difference", "ci_low", "ci_high", "bootstrap_p", "mcnemar_p"]].to_string(
                index=False
            )
        )
    if result.backbone_tables:
        shown = ["backbone", "family", "accuracy", "ci_low", "ci_high", "balanced_accuracy", "precision_at_k"]
        print("\nbackbones:")
        print(
            result.backbone_tables["backbones"][
                shown + ["silhouette", "conformal_coverage", "loco_unknown_rate"]
            ].to_string(index=False)
        )
        if "backbone_paired" in result.backbone_tables:
            paired = result.backbone_tables["backbone_paired"]
            print(f"\npaired against {reference}:")
            print(
                paired[
                    ["backbone", "difference", "ci_low", "ci_high", "bootstrap_p_holm", "mcnemar_p"]
                ].to_string(index=False)
            )
    n_tables = len(result.tables) + len(result.backbone_tables)
    print(f"wrote {n_tables} tables and {len(result.figures)} figures to {result.out}")
