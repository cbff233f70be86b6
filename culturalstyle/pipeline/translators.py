"""Translator runs: train or reuse one by content key, apply one, and the shipped pretrained translators.

A run's home is `cache_dir("translators")/<source>2<target>-<label>-<key>`, keyed by its full config and
the corpus's manifest hash (`translator_key`), for the CLI and the notebooks alike: the same settings on the
same corpus reuse the run (or resume it when it was interrupted). An explicit run directory (the CLI's
`--out`, `--name`/`--runs-dir`) is trained as given instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import runs
from ..cache import cache_dir, stable_hash

if TYPE_CHECKING:
    from ..corpus import Corpus
    from ..translate import TrainConfig

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "translators"  # pretrained, in the repository


def translator_key(config: Any, corpus: Corpus) -> str:
    """Content key of a translator run: its full config and the corpus's manifest hash."""
    from .. import __version__
    from ..configs import to_dict

    settings = to_dict(config)
    settings.pop("progress", None)  # display only
    return stable_hash({"config": settings, "corpus": corpus.manifest_hash(), "version": __version__})


def translator_home(
    config: TrainConfig, corpus: Corpus, label: str, runs_root: str | Path | None = None
) -> Path:
    """The content-keyed run directory of `config` on `corpus` (default root: the cache's `translators/`)."""
    root = Path(runs_root) if runs_root is not None else cache_dir("translators")
    return root / f"{config.source}2{config.target}-{label}-{translator_key(config, corpus)}"


def train_or_reuse(
    corpus: Corpus,
    config: TrainConfig,
    *,
    label: str | None = None,
    runs_root: str | Path | None = None,
    run_dir: str | Path | None = None,
) -> tuple[Path, str]:
    """The run of `config` on `corpus`, trained only if no complete run with the same key exists.

    Without `run_dir` the run lives in its content-keyed home (`translator_home`, named with `label`,
    default the method): an interrupted run is resumed, a complete one reused as is, and a folder left
    without any checkpoint (killed before the first) is moved aside before training starts over. With
    `run_dir` (explicit, must be new or empty) the run is trained there. Returns (run_dir, status) with
    status "trained", "resumed" or "reused".
    """
    from ..translate.train import list_checkpoints, load_checkpoint, resume, train

    config.validate()
    if run_dir is not None:
        run_dir = runs.new_output_dir(
            run_dir, hint="; continue a run with `culturalstyle train --resume RUN`"
        )
        train(config, corpus, run_dir)
        return Path(run_dir), "trained"
    run_dir = translator_home(config, corpus, label or config.method, runs_root)
    if run_dir.exists() and list_checkpoints(run_dir):
        state, _ = load_checkpoint(run_dir)
        if int(state["step"]) >= int(state["total_steps"]):
            return run_dir, "reused"
        resume(run_dir, corpus=corpus)
        return run_dir, "resumed"
    if run_dir.exists():
        aside = run_dir.with_name(f"{run_dir.name}.incomplete-{runs.timestamp()}")
        shutil.move(str(run_dir), aside)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    train(config, corpus, run_dir)
    return run_dir, "trained"


def translator_run(
    corpus: Corpus,
    source: str,
    target: str,
    *,
    preset: str = "smoke",
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    seed: int = 0,
    runs_root: str | Path | None = None,
    progress: bool = False,
) -> tuple[Path, str]:
    """`train_or_reuse` of the `preset` config (with `overrides`) for source -> target (the notebooks'
    spelling); the run is named `<source>2<target>-<preset>-<key>`."""
    from ..translate import make_config

    if isinstance(overrides, Mapping):
        overrides = dict(overrides)
    config = make_config(
        preset, overrides or None, source=source, target=target, seed=seed, progress=progress
    )
    return train_or_reuse(corpus, config, label=preset, runs_root=runs_root)


def translate(
    run_dir: str | Path,
    inputs: Any,
    direction: str,
    out_dir: str | Path,
    *,
    culture: str | None = None,
    split: str | None = None,
    checkpoint: str = "last",
    batch_size: int | None = None,
    size: int | None = None,
    device: Any = None,
    progress: bool = True,
) -> Corpus:
    """Translate `inputs` (a corpus path or Corpus, its `culture`/`split` rows; or image files) with a run
    or an exported translator into the new `out_dir`; returns the translations corpus (with provenance)."""
    from ..corpus import Corpus as _Corpus
    from ..translate.apply import translate_images

    if culture or split:
        corpus = inputs if isinstance(inputs, _Corpus) else _Corpus.load(inputs)
        inputs = corpus.filter(culture=culture, split=split)
    options: dict[str, Any] = {"checkpoint": checkpoint, "device": device, "progress": progress}
    if batch_size is not None:
        options["batch_size"] = batch_size
    if size is not None:
        options["size"] = size
    return translate_images(run_dir, inputs, direction, out_dir, **options)


def translate_split(
    run_dir: str | Path, corpus: Corpus, source: str, target: str, split: str, checkpoint: str = "latest"
) -> Path:
    """Translate the run's `source` images of `split` into a new folder `RUN/translations/<split>-...`."""
    from ..configs import load_yaml
    from ..translate.apply import translate_images
    from ..translate.config import TrainConfig
    from .evaluation import free_stem

    run_dir = Path(run_dir)
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


# ------------------------------------------------------------------------------------- shipped translators


def shipped_translator(name: str) -> Path:
    """The directory of a pretrained translator shipped with the repository (`data/translators/<name>`).

    Shipped translators are exported runs (see `translate.export`): generator weights with their sha256,
    config, training record and curves, and the command that trains them again.
    """
    from ..translate.export import is_exported

    folder = SHIPPED_DIR
    path = folder / name
    if not is_exported(path):
        available = sorted(p.name for p in folder.iterdir() if is_exported(p)) if folder.is_dir() else []
        raise FileNotFoundError(
            f"no shipped translator {name!r} in {folder}; available: {', '.join(available) or 'none'}"
        )
    return path


def shipped_translators(names: Sequence[str], source: str, target: str) -> list[Path]:
    """The shipped translators among `names` that translate `source` -> `target` (others are skipped,
    with a message: a study of other cultures has no shipped translator to compare with)."""
    from ..translate import TrainConfig

    chosen = []
    for name in names:
        path = shipped_translator(name)
        config = TrainConfig.load(path / "config.yaml")
        if (config.source, config.target) == (source, target):
            chosen.append(path)
        else:
            print(
                f"shipped translator {name} ({config.source} -> {config.target}) skipped: not {source} -> {target}"
            )
    return chosen


def translator_label(run_dir: str | Path, preset: str | None = None) -> str:
    """The method label of a translator's rows: `shipped-<method>` for a shipped (exported) translator,
    `<method>-smoke (code-path check)` for a run of the smoke preset, else the method name."""
    from ..translate import TrainConfig
    from ..translate.export import is_exported

    method = TrainConfig.load(Path(run_dir) / "config.yaml").method
    if is_exported(run_dir) and Path(run_dir).resolve().parent.name == "translators":
        return f"shipped-{method}"
    if preset == "smoke":
        return f"{method}-smoke (code-path check)"
    return method


def translator_directions(run_dir: str | Path, wanted: Sequence[str] = ("A2B", "B2A")) -> list[str]:
    """The directions of `wanted` that this translator has (CUT/FastCUT are one-sided: A2B only)."""
    from ..translate import TrainConfig
    from ..translate.models import translator_class

    config = TrainConfig.load(Path(run_dir) / "config.yaml")
    return [d for d in wanted if d in translator_class(config.method).generators]
