"""`stylize`: Gatys / AdaIN style transfer of content images to style targets (images or cultures), as one
image file or a translations folder (what `culturalstyle stylize` does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass
class StylizeResult:
    """An image file (`record` beside it) or a translations folder (`translations`, a Corpus)."""

    out: Path
    method: str
    translations: Any = None
    record: Path | None = None
    style_label: str = ""
    size: tuple[int, int] = (0, 0)
    counts: dict[str, int] = field(default_factory=dict)


def stylize(
    contents: Sequence[str],
    styles: Sequence[str],
    out: str | Path,
    config: Any,
    *,
    method: str = "gatys",
    corpus: str | Path | None = None,
    split: str | None = "train",
    mix: Sequence[float] | None = None,
    device: Any = None,
    force: bool = False,
    progress: bool = True,
) -> StylizeResult:
    """Stylise every content (image files, folders, or culture:NAME of `corpus`) with every style target
    (an image path, paths joined by '+', or culture:NAME: its `split` images), or with one `mix` of all
    targets. One content and an `out` with an image suffix writes that file and its record; otherwise `out`
    is a new folder with one image per content x style, manifest.csv and run_record.json. `config` is a
    `GatysConfig` or `AdaINConfig`."""
    from ..corpus import Corpus
    from ..nst import AdaIN, Gatys, load_contents, parse_style, stylize_all

    real = Corpus.load(corpus) if corpus else None
    targets = [parse_style(text, real, split=split) for text in styles]
    if mix is not None and len(mix) != len(targets):
        raise ValueError(f"--mix has {len(mix)} weights for {len(targets)} --style targets")
    images = list({c.image_id: c for spec in contents for c in load_contents(spec, real)}.values())
    model = Gatys(device=device, config=config) if method == "gatys" else AdaIN(device=device, config=config)
    out = Path(out)
    single = len(images) == 1 and out.suffix.lower() in IMAGE_SUFFIXES and (len(targets) == 1 or mix)
    if out.suffix.lower() in IMAGE_SUFFIXES and not single:
        raise ValueError(f"--out {out} is an image file but the run makes several outputs; give a folder")
    if single:
        return _stylize_one(images[0], targets, out, model, config, method, mix, force, progress)
    from ..runs import new_output_dir

    out_dir = new_output_dir(out, force=force, hint="; or pass --force to write into it")
    translations = stylize_all(
        images, targets, method, out_dir, config, mix=mix, model=model, progress=progress
    )
    counts = {str(k): int(v) for k, v in translations.df.groupby("style_target").size().items()}
    return StylizeResult(out_dir, method, translations=translations, counts=counts)


def _stylize_one(
    content: Any,
    styles: list[Any],
    out: Path,
    model: Any,
    config: Any,
    method: str,
    mix: Sequence[float] | None,
    force: bool,
    progress: bool,
) -> StylizeResult:
    from ..images import save_image
    from ..nst.common import load_content
    from ..nst.run import network_weights
    from ..runs import write_record

    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another --out or pass --force")
    x = load_content(content.path, config.size)
    if method == "gatys":
        result = model.stylize(x, styles, mix=mix, progress=progress)
        image, label = result.image, result.target_label
        extra = {
            "steps_run": result.steps_run,
            "stopped_early": result.stopped_early,
            "final_loss": result.history.iloc[-1].to_dict(),
            "seconds": round(result.seconds, 2),
        }
    else:
        target = model.target(styles, mix, progress=progress)
        image, label, extra = model.stylize(x, target), target.label, {}
    save_image(image[0], out)
    record = write_record(
        out.parent,
        kind=f"stylize-{method}",
        config=config,
        seed=getattr(config, "seed", None),
        inputs={
            "contents": {content.image_id: content.sha256},
            "styles": [s.describe() for s in styles],
            "mix": mix,
        },
        weights=network_weights(model),
        extra={
            "output": out.name,
            "method": method,
            "style_target": label,
            "source_image_id": content.image_id,
            **extra,
        },
        name=f"{out.name}.run_record.json",
    )
    return StylizeResult(
        out, method, record=record, style_label=label, size=(int(image.shape[-1]), int(image.shape[-2]))
    )
