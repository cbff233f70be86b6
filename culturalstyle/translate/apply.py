"""Apply a trained translator to a folder or a Corpus; the result is a Corpus of translations with provenance.

Each input image is resized so its shorter side is the run's training size (or `size`), reflect-padded to a
multiple of 4 for the generator, translated, and cropped back, so the whole picture is kept (no centre crop).
Inputs are only read. The output folder gets one PNG per input, `manifest.csv` (a Corpus whose rows carry
`source_image_id`, `run`, `checkpoint`, `method`, `direction`) and `run_record.json`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .. import runs
from ..cache import sha256_file
from ..nst.common import pad_to_multiple
from .config import TrainConfig

log = logging.getLogger(__name__)

DIRECTIONS = ("A2B", "B2A")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def _input_rows(inputs: Any, source_culture: str) -> tuple[pd.DataFrame, Path, dict[str, Any]]:
    """Rows (source_image_id, abspath, culture, artist, title, date, license, split, sha256) of the inputs."""
    from ..corpus import MANIFEST_NAME, Corpus

    if not isinstance(inputs, Corpus):
        path = Path(inputs)
        if not path.exists():
            raise FileNotFoundError(f"translation input {path} does not exist")
        if (path.is_file() and path.suffix.lower() == ".csv") or (
            path.is_dir() and (path / MANIFEST_NAME).exists()
        ):
            inputs = Corpus.load(path)
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
            rows = pd.DataFrame(
                {
                    "source_image_id": [p.relative_to(path).with_suffix("").as_posix() for p in files],
                    "abspath": [p.resolve() for p in files],
                    "source_culture": source_culture,
                    "artist": "",
                    "title": [p.stem for p in files],
                    "date": "",
                    "license": "",
                    "split": "",
                    "source_sha256": [sha256_file(p) for p in files],
                }
            )
            return rows, path, {"folder": str(path.resolve()), "images": len(files)}
        else:
            raise ValueError(f"translation input {path} is neither a folder of images nor a corpus manifest")
    corpus = inputs
    if len(corpus) == 0:
        raise ValueError(f"the input corpus at {corpus.root} has no images")
    df = corpus.df
    rows = pd.DataFrame(
        {
            "source_image_id": df["image_id"].tolist(),
            "abspath": [corpus.abspath(row) for _, row in df.iterrows()],
            "source_culture": df["culture"].tolist(),
            "artist": df["artist"].tolist(),
            "title": df["title"].tolist(),
            "date": df["date"].tolist(),
            "license": df["license"].tolist(),
            "split": df["split"].tolist(),
            "source_sha256": df["sha256"].tolist(),
        }
    )
    return (
        rows,
        Path(corpus.root),
        {"corpus": str(Path(corpus.root).resolve()), "manifest_hash": corpus.manifest_hash()},
    )


def load_generator(run_dir: str | Path, direction: str, checkpoint: str | int = "last", device: Any = None):
    """(generator in eval mode, config, weights path) for one direction of a run or an exported translator.

    A run directory (any registered method): `checkpoint` is "last" (newest intact), "best" (lowest FID
    during training) or a step number. An exported directory (`culturalstyle export-translator`) holds one
    checkpoint. The generator carries `checkpoint_name` and `checkpoint_step` for provenance.
    """
    from ..device import default_device
    from .checkpoints import load_checkpoint
    from .export import is_exported, load_exported_generator
    from .models import translator_class
    from .networks import ResnetGenerator
    from .train import CONFIG_NAME

    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    run_dir = Path(run_dir)
    if is_exported(run_dir):
        weights, config, path, info = load_exported_generator(run_dir, direction, checkpoint)
        name, step = info["checkpoint"], int(info["step"])
    else:
        if not (run_dir / CONFIG_NAME).exists():
            raise FileNotFoundError(f"{run_dir} is not a translator run (no {CONFIG_NAME})")
        config = TrainConfig.load(run_dir / CONFIG_NAME)
        model = translator_class(config.method)
        if direction not in model.generators:
            raise ValueError(
                f"{run_dir} is a one-sided {config.method} translator ({config.source} -> {config.target}): "
                f"it has direction(s) {', '.join(model.generators)} only, not {direction}"
            )
        state, path = load_checkpoint(run_dir, checkpoint)
        weights, name, step = state["models"][model.generators[direction]], path.name, int(state["step"])
    generator = ResnetGenerator(config.ngf, config.n_blocks, upsample=config.upsample)
    generator.load_state_dict(weights)
    generator.requires_grad_(False)
    generator.checkpoint_name, generator.checkpoint_step = name, step
    return generator.to(default_device(device)).eval(), config, path


@torch.no_grad()
def translate_images(
    run_dir: str | Path,
    inputs: Any,
    direction: str = "A2B",
    out_dir: str | Path | None = None,
    *,
    checkpoint: str | int = "last",
    batch_size: int = 4,
    size: int | None = None,
    device: Any = None,
    progress: bool = True,
) -> Any:
    """Translate every image of `inputs` (a folder, a manifest/corpus folder, or a Corpus) with a trained run.

    `direction` "A2B" maps the run's source culture to its target, "B2A" the reverse (CycleGAN only).
    `checkpoint` is "last", "best" or a step number; outputs and record name it. `size` is the shorter
    side the images are resized to (default: the run's training size). `out_dir` must be new or empty.
    Returns the Corpus of translations (one row and one PNG per input), also saved as `out_dir/manifest.csv`.
    """
    from tqdm.auto import tqdm

    from ..corpus import Corpus
    from ..images import ImageError, load_image, resize_shorter, save_image, to_tensor

    if out_dir is None:
        raise ValueError("translate_images needs an out_dir for the translated images")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    generator, config, ckpt = load_generator(run_dir, direction, checkpoint, device)
    dev = next(generator.parameters()).device
    method = config.method
    source, target = (config.source, config.target) if direction == "A2B" else (config.target, config.source)
    size = int(size or config.size)
    if size < 4:
        raise ValueError(f"size must be >= 4 px, got {size}")
    rows, _, input_info = _input_rows(inputs, source)
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(run_dir).resolve():
        raise ValueError("out_dir must not be the run directory")
    runs.new_output_dir(out_dir)
    run_name = Path(run_dir).resolve().name

    def file_name(source_id: str) -> str:
        return source_id.replace("/", "__").replace("\\", "__") + ".png"

    names = [file_name(s) for s in rows["source_image_id"]]
    if len(set(names)) != len(names):
        raise ValueError("input image ids collide after making them file names; give unique image_ids")

    buckets: dict[tuple[int, int], list[tuple[int, torch.Tensor]]] = defaultdict(list)
    done: dict[int, tuple[int, int]] = {}
    bar = tqdm(total=len(rows), disable=not progress, desc=f"translate {direction}", unit="img")

    def flush(shape: tuple[int, int]) -> None:
        items = buckets.pop(shape)
        batch = torch.stack([t for _, t in items]).to(dev)
        padded, (h, w) = pad_to_multiple(batch, 4)
        out = generator(padded)[..., :h, :w].clamp(0, 1).cpu()
        for (index, _), image in zip(items, out):
            save_image(image, out_dir / names[index])
            done[index] = (w, h)
        bar.update(len(items))

    for index, path in enumerate(rows["abspath"]):
        try:
            img = load_image(path)
        except ImageError as error:
            raise ValueError(f"cannot translate {path}: {error}") from error
        tensor = to_tensor(resize_shorter(img, size))
        shape = tuple(tensor.shape[-2:])
        buckets[shape].append((index, tensor))
        if len(buckets[shape]) >= batch_size:
            flush(shape)
    for shape in list(buckets):
        flush(shape)
    bar.close()

    df = pd.DataFrame(
        {
            "image_id": [f"{s}@{run_name}:{direction}" for s in rows["source_image_id"]],
            "path": names,
            "culture": target,
            "artist": rows["artist"],
            "title": rows["title"],
            "date": rows["date"],
            "source": f"{method}:{run_name}:{direction}",
            "license": rows["license"],
            "split": rows["split"],
            "sha256": [sha256_file(out_dir / n) for n in names],
            "width": [done[i][0] for i in range(len(rows))],
            "height": [done[i][1] for i in range(len(rows))],
            "source_image_id": rows["source_image_id"],
            "source_culture": rows["source_culture"],
            "source_sha256": rows["source_sha256"],
            "run": run_name,
            "checkpoint": generator.checkpoint_name,
            "method": method,
            "direction": direction,
        }
    )
    corpus = Corpus(df, out_dir)
    corpus.save(out_dir)
    runs.write_record(
        out_dir,
        kind="translations",
        config=config,
        seed=config.seed,
        inputs={"run": str(Path(run_dir).resolve()), **input_info},
        weights={f"{run_name}/{ckpt.name}": sha256_file(ckpt)},
        extra={
            "method": method,
            "checkpoint_step": generator.checkpoint_step,
            "checkpoint_choice": str(checkpoint),
            "direction": direction,
            "source_culture": source,
            "target_culture": target,
            "size": size,
            "checkpoint": generator.checkpoint_name,
            "weights_file": str(ckpt.resolve()),
            "n": len(df),
        },
    )
    return corpus
