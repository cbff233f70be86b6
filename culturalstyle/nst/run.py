"""Batch style transfer: every content image x every style target -> a Corpus of translations with provenance.

The output folder holds the images, `manifest.csv` (a Corpus: the usual columns plus `source_image_id`, `run`,
`checkpoint`, `method`, `style_target`, `target_kind`, `target_culture`, `target_n_images`, `parameters`) and
`run_record.json`, so the evaluation can put Gatys and AdaIN next to the GAN translators in one table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..cache import sha256_file
from .adain import AdaIN, AdaINConfig
from .common import load_content
from .gatys import Gatys, GatysConfig
from .targets import StyleSource

METHODS = ("gatys", "adain")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


@dataclass(frozen=True)
class ContentImage:
    """One content image and what its translations inherit (split, licence, title)."""

    image_id: str
    path: Path
    sha256: str
    split: str = ""
    license: str = ""
    title: str = ""


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def load_contents(spec: str | Path, corpus: Any = None) -> list[ContentImage]:
    """Content images: an image file, a folder of images, `culture:NAME` / `NAME` or an image_id of `corpus`."""
    text = str(spec)
    name = text.split(":", 1)[1] if text.startswith("culture:") else text
    by_culture = corpus is not None and name in set(corpus.df["culture"])
    by_id = corpus is not None and not by_culture and text in set(corpus.df["image_id"])
    if (by_culture and (text.startswith("culture:") or not Path(text).exists())) or by_id:
        df = corpus.df
        rows = (df[df["culture"] == name] if by_culture else df[df["image_id"] == text]).sort_values(
            "image_id"
        )
        return [
            ContentImage(
                str(r["image_id"]),
                Path(corpus.abspath(r)),
                str(r["sha256"]) or sha256_file(corpus.abspath(r)),
                str(r["split"]),
                str(r["license"]),
                str(r["title"]),
            )
            for _, r in rows.iterrows()
        ]
    if text.startswith("culture:"):
        raise ValueError(f"content {text!r} names a culture; give the corpus that holds it (--corpus DIR)")
    path = Path(text)
    if path.is_file():
        return [ContentImage(path.stem, path, sha256_file(path))]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(
                f"content folder {path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        return [ContentImage(p.stem, p, sha256_file(p)) for p in files]
    raise FileNotFoundError(
        f"content {text!r} is neither an image file, a folder, nor a culture of the corpus"
    )


def _columns(method: str, source: str, label: str, kind: str, culture: str | None, n: int) -> dict[str, Any]:
    return {
        "method": method,
        "style_target": label,
        "target_kind": kind,
        "target_culture": culture or "",
        "target_n_images": n,
        "source_image_id": source,
    }


def stylize_all(
    contents: Sequence[ContentImage],
    styles: Sequence[StyleSource],
    method: str,
    out_dir: str | Path,
    config: GatysConfig | AdaINConfig | None = None,
    *,
    mix: Sequence[float] | None = None,
    model: Gatys | AdaIN | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    suffix: str = ".png",
) -> Any:
    """Stylise every content image with every style (or with one `mix` of all styles) into `out_dir`.

    `out_dir` must exist (create it with `runs.new_output_dir`, which refuses to overwrite results). Returns the
    translations Corpus (also saved as `out_dir/manifest.csv`, with `run_record.json` beside it).
    """
    from ..corpus import Corpus
    from ..images import save_image
    from ..runs import write_record

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not contents or not styles:
        raise ValueError("stylize_all needs at least one content image and one style")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = (
            Gatys(device=device, config=config) if method == "gatys" else AdaIN(device=device, config=config)
        )
    config = model.config
    groups: list[list[StyleSource]] = [list(styles)] if mix is not None else [[s] for s in styles]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    histories: list[pd.DataFrame] = []
    for group in groups:
        slug = group[0].slug if len(group) == 1 else "mix-" + "-".join(s.slug for s in group)
        culture = group[0].culture if len(group) == 1 else None
        n_images = sum(len(s.paths) for s in group)
        if isinstance(model, AdaIN):
            target = model.target(group, mix, progress=progress)
            label = target.label
            outputs = _adain_outputs(model, contents, target, progress)
        else:
            label = ""
            outputs = {}
            for content in _bar(contents, progress, f"gatys -> {slug}"):
                result = model.stylize(
                    load_content(content.path, config.size), group, mix=mix, progress=progress
                )
                outputs[content.image_id] = result.image
                label = result.target_label
                histories.append(result.history.assign(source_image_id=content.image_id, style=slug))
        for content in contents:
            image = outputs[content.image_id]
            image_id = f"{method}-{slug}-{_safe(content.image_id)}"
            file = out_dir / f"{_safe(image_id)}{suffix}"
            save_image(image[0], file)
            rows.append(
                {
                    "image_id": image_id,
                    "path": file.name,
                    "culture": culture or "custom",
                    "artist": "",
                    "title": f"{content.title or content.image_id} as {label}",
                    "date": "",
                    "source": f"culturalstyle.nst {method}",
                    "license": content.license,
                    "split": content.split,
                    "sha256": sha256_file(file),
                    "width": str(image.shape[-1]),
                    "height": str(image.shape[-2]),
                    "run": out_dir.name,
                    "checkpoint": _checkpoint(model),
                    "parameters": json.dumps(asdict(config), sort_keys=True),
                    **_columns(
                        method,
                        content.image_id,
                        label,
                        group[0].kind if len(group) == 1 else "mix",
                        culture,
                        n_images,
                    ),
                }
            )
    translations = Corpus(pd.DataFrame(rows), out_dir)
    translations.save(out_dir / "manifest.csv")
    if histories:
        pd.concat(histories, ignore_index=True).to_csv(out_dir / "loss_history.csv", index=False)
    write_record(
        out_dir,
        kind=f"stylize-{method}",
        config=config,
        seed=getattr(config, "seed", None),
        inputs={
            "contents": {c.image_id: c.sha256 for c in contents},
            "styles": [s.describe() for s in styles],
            "mix": list(mix) if mix is not None else None,
        },
        weights=network_weights(model),
        extra={"seconds": round(time.perf_counter() - started, 2), "n_outputs": len(rows)},
    )
    return translations


def _bar(items: Sequence[Any], progress: bool, desc: str):
    if progress and len(items) > 1:
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, unit="img")
    return items


def _adain_outputs(
    model: AdaIN, contents: Sequence[ContentImage], target: Any, progress: bool
) -> dict[str, torch.Tensor]:
    """AdaIN over contents, batching images that share a shape after resizing."""
    tensors = {c.image_id: load_content(c.path, model.config.size) for c in contents}
    by_shape: dict[tuple[int, ...], list[str]] = {}
    for image_id, t in tensors.items():
        by_shape.setdefault(tuple(t.shape), []).append(image_id)
    batches = [
        ids[i : i + model.config.batch_size]
        for ids in by_shape.values()
        for i in range(0, len(ids), model.config.batch_size)
    ]
    outputs: dict[str, torch.Tensor] = {}
    for ids in _bar(batches, progress, f"adain -> {target.label}"):
        result = model.stylize(torch.cat([tensors[i] for i in ids]), target)
        outputs.update({i: result[k : k + 1] for k, i in enumerate(ids)})
    return outputs


def network_weights(model: Gatys | AdaIN) -> dict[str, str]:
    if isinstance(model, AdaIN):
        return {
            model.encoder.weights_name: model.encoder.weights_sha256,
            "adain-decoder": model.decoder_sha256,
        }
    return {model.extractor.weights_name: model.extractor.weights_sha256}


def _checkpoint(model: Gatys | AdaIN) -> str:
    return ";".join(f"{name}@{digest[:12]}" for name, digest in network_weights(model).items())


# --------------------------------------------------------------------------------------------------------------
# Figure: content photos x (method, target) grid


def make_grid(
    tiles: Sequence[Sequence[Any]],
    col_labels: Sequence[str],
    row_labels: Sequence[str] | None = None,
    tile: int = 160,
    pad: int = 4,
    header: int = 34,
) -> Any:
    """Assemble PIL images / CHW tensors into a labelled grid (each tile letterboxed into `tile` x `tile`)."""
    from PIL import Image, ImageDraw, ImageFont

    from ..images import to_pil

    n_rows, n_cols = len(tiles), max(len(r) for r in tiles)
    if len(col_labels) != n_cols:
        raise ValueError(f"{len(col_labels)} column labels for {n_cols} columns")
    left = 0 if not row_labels else 110
    width = left + n_cols * (tile + pad) + pad
    height = header + n_rows * (tile + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for j, text in enumerate(col_labels):
        x = left + pad + j * (tile + pad)
        for k, line in enumerate(str(text).split("\n")[:2]):
            draw.text((x + 2, 3 + 14 * k), line, fill="black", font=font)
    for i, row in enumerate(tiles):
        y = header + pad + i * (tile + pad)
        if row_labels:
            for k, line in enumerate(str(row_labels[i]).split("\n")[:3]):
                draw.text((4, y + 4 + 14 * k), line, fill="black", font=font)
        for j, item in enumerate(row):
            img = item if isinstance(item, Image.Image) else to_pil(item)
            img = img.copy()
            img.thumbnail((tile, tile), Image.Resampling.LANCZOS)
            x = left + pad + j * (tile + pad)
            canvas.paste(img, (x + (tile - img.width) // 2, y + (tile - img.height) // 2))
    return canvas


def grid_from_translations(
    translations: Sequence[Any], contents: Sequence[ContentImage], tile: int = 160
) -> Any:
    """Rows = content images, columns = the content itself then every (method, style target) in the corpora."""
    from ..images import load_image

    columns: list[tuple[Any, str, str]] = []  # (corpus, method, style_target)
    for corpus in translations:
        for (method, target), _ in corpus.df.groupby(["method", "style_target"], sort=False):
            columns.append((corpus, method, target))
    labels = ["content"] + [f"{'Gatys' if m == 'gatys' else 'AdaIN'}\n{_short(t)}" for _, m, t in columns]
    tiles = []
    for content in contents:
        row = [load_image(content.path)]
        for corpus, method, target in columns:
            df = corpus.df
            hit = df[
                (df["method"] == method)
                & (df["style_target"] == target)
                & (df["source_image_id"] == content.image_id)
            ]
            if hit.empty:
                raise ValueError(
                    f"no {method} translation of {content.image_id} to {target} in {corpus.root}"
                )
            row.append(load_image(corpus.abspath(hit.iloc[0])))
        tiles.append(row)
    return make_grid(tiles, labels, tile=tile)


def _short(label: str) -> str:
    return label.replace("culture:", "").replace("[train]", "")
