"""Interactive style-space explorer (bokeh): browse a 2-D style embedding with the artworks' thumbnails.

One scatter per culture (toggled from the legend), a hover card with thumbnail, artist, title and date, a
selector that switches between embeddings (e.g. per layer, PCA vs t-SNE) entirely in the browser, and
translated images drawn as their own layers, one marker and colour per method (`palette.method_style`, the
same as in the figures), with a line back to each translation's source image. A translation's hover card
says what it is (method, direction) and which work it was made from; it never shows the source's artist
and date as its own. Where points overlap, the hover card lists at most `max_tooltips` of them per layer.

The plot fills its window (`sizing_mode="stretch_both"`, with a minimum size for JupyterLab's output area).
The same figure shows inside JupyterLab (`show_explorer`) and saves as one standalone HTML file
(`save_explorer`) with BokehJS and every thumbnail embedded, so it opens offline without a server or a CDN.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bokeh.models import LayoutDOM
    from PIL import Image

    from .corpus import Corpus

from .palette import culture_colour, method_style

META_COLUMNS = ("image_id", "culture", "artist", "title", "date")
# Above this many points the scatter is drawn with WebGL and coordinates travel as binary float32 arrays
# (an 80k-point WikiArt explorer stays responsive and its page small); below it nothing changes.
LARGE = 5000
MAX_TOOLTIPS = 3  # hover cards per layer where points overlap
# The standalone page gives the layout the whole window (bokeh's root element has no height of its own).
FULL_WINDOW_CSS = "<style>html,body{height:100%;margin:0}</style>"
TOOLTIP = """
<div style="max-width:240px">
  <img src="@thumb" style="max-width:120px;max-height:120px;display:block;margin-bottom:4px" alt="">
  <div><b>@title</b></div>
  <div>@artist, @date</div>
  <div><i>@culture</i></div>
</div>
"""
TRANSLATION_TOOLTIP = """
<div style="max-width:260px">
  <img src="@thumb" style="max-width:120px;max-height:120px;display:block;margin-bottom:4px" alt="">
  <div><b>@method translation</b>, @direction</div>
  <div>made from: @source_title</div>
  <div>@source_artist, @source_date (@source_image_id)</div>
</div>
"""
SWITCH_JS = """
const k = names.indexOf(select.value);
for (const src of sources) {
  const d = Object.assign({}, src.data);
  d.x = d["x" + k];
  d.y = d["y" + k];
  src.data = d;
}
const l = Object.assign({}, links.data);
l.x0 = l["x0_" + k]; l.y0 = l["y0_" + k]; l.x1 = l["x1_" + k]; l.y1 = l["y1_" + k];
links.data = l;
plot.title.text = title_prefix + " — " + select.value;
"""


class ExplorerError(ValueError):
    """Inconsistent explorer input (shapes, missing columns, unknown source images)."""


def thumbnail_uri(image: Image.Image | str | os.PathLike, size: int = 96, quality: int = 80) -> str:
    """A base64 JPEG data URI of `image` (a PIL image or a file) whose longer side is `size` pixels.

    Embedding the thumbnails in the page is what lets the saved HTML work offline and be moved around.
    """
    from PIL import Image as PILImage

    if not isinstance(image, PILImage.Image):
        from .images import load_image

        image = load_image(image, max_side=max(size * 4, 256))
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _check_coords(coords: Mapping[str, np.ndarray], n: int, what: str) -> dict[str, np.ndarray]:
    checked = {}
    for name, xy in coords.items():
        xy = np.asarray(xy, dtype=float)
        if xy.shape != (n, 2):
            raise ExplorerError(
                f"{what} embedding {name!r} has shape {xy.shape}; expected ({n}, 2), one row per image"
            )
        if not np.isfinite(xy).all():
            raise ExplorerError(f"{what} embedding {name!r} contains NaN or infinite coordinates")
        checked[str(name)] = xy
    return checked


def _metadata(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in ("image_id", "culture") if c not in frame.columns]
    if missing:
        raise ExplorerError(f"{what} table lacks column(s) {', '.join(missing)}")
    meta = frame.reset_index(drop=True).copy()
    for column in ("artist", "title", "date"):
        meta[column] = meta[column].fillna("").astype(str) if column in meta else ""
    meta["image_id"] = meta["image_id"].astype(str)
    meta["culture"] = meta["culture"].astype(str)
    return meta


def _columns(
    meta: pd.DataFrame, rows: np.ndarray, coords: dict[str, np.ndarray], thumbs: Sequence[str]
) -> dict:
    data: dict[str, Any] = {c: meta[c].to_numpy()[rows].tolist() for c in META_COLUMNS}
    data["thumb"] = [thumbs[i] for i in rows]  # "" where none is embedded: the hover card shows no image
    large = len(meta) > LARGE
    for k, xy in enumerate(coords.values()):
        data[f"x{k}"] = xy[rows, 0].astype(np.float32) if large else xy[rows, 0].tolist()
        data[f"y{k}"] = xy[rows, 1].astype(np.float32) if large else xy[rows, 1].tolist()
    data["x"], data["y"] = data["x0"], data["y0"]
    return data


def build_explorer(
    points: pd.DataFrame,
    coords: Mapping[str, np.ndarray],
    *,
    thumbnails: Sequence[str] | None = None,
    translations: pd.DataFrame | None = None,
    translation_coords: Mapping[str, np.ndarray] | None = None,
    translation_thumbnails: Sequence[str] | None = None,
    title: str = "Style space",
    min_width: int = 600,
    min_height: int = 450,
    max_tooltips: int = MAX_TOOLTIPS,
) -> LayoutDOM:
    """The explorer layout: embedding selector above a window-filling scatter of `points` (and translations).

    `points` has one row per real image (`image_id`, `culture`, optional `artist`, `title`, `date`);
    `coords` maps an embedding name (shown in the selector) to an (N, 2) array aligned with `points`.
    `translations` has `image_id`, `source_image_id`, `culture` (the target culture) and optionally
    `method`, with `translation_coords` holding the same embedding names as `coords`.
    """
    from bokeh.layouts import column
    from bokeh.models import (
        ColumnDataSource,
        CustomJS,
        HoverTool,
        Legend,
        LegendItem,
        Select,
    )
    from bokeh.plotting import figure

    meta = _metadata(points, "points")
    if not coords:
        raise ExplorerError("coords is empty: give at least one embedding")
    if max_tooltips < 1:
        raise ExplorerError(f"max_tooltips must be at least 1, got {max_tooltips}")
    coords = _check_coords(coords, len(meta), "points")
    names = list(coords)
    thumbs = list(thumbnails) if thumbnails is not None else [""] * len(meta)
    if len(thumbs) != len(meta):
        raise ExplorerError(f"{len(thumbs)} thumbnails for {len(meta)} points")

    cultures = sorted(meta["culture"].unique())
    n_translated = 0 if translations is None else len(translations)
    prefix = f"{title} (N = {len(meta)} artworks" + (
        f", {n_translated} translations)" if n_translated else ")"
    )
    plot = figure(
        sizing_mode="stretch_both",
        min_width=min_width,
        min_height=min_height,
        title=f"{prefix} — {names[0]}",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        active_scroll="wheel_zoom",
        x_axis_label="dimension 1",
        y_axis_label="dimension 2",
        output_backend="webgl" if len(meta) > LARGE else "canvas",
        name="style-plot",
    )
    point_renderers, translation_renderers, sources, items = [], [], [], []
    for culture in cultures:
        rows = np.flatnonzero(meta["culture"].to_numpy() == culture)
        data = _columns(meta, rows, coords, thumbs)
        source = ColumnDataSource(data, name=f"points:{culture}")
        renderer = plot.scatter(
            "x", "y", source=source, size=9, color=culture_colour(culture), alpha=0.75, line_color="white"
        )
        point_renderers.append(renderer)
        sources.append(source)
        items.append(LegendItem(label=f"{culture} (n={len(rows)})", renderers=[renderer]))

    link_data: dict[str, list] = {f"{p}_{k}": [] for k in range(len(names)) for p in ("x0", "y0", "x1", "y1")}
    if translations is not None and len(translations):
        tmeta = _metadata(translations, "translations")
        if "source_image_id" not in translations.columns:
            raise ExplorerError("translations table lacks column source_image_id")
        tmeta["source_image_id"] = translations["source_image_id"].astype(str).to_numpy()
        unknown = sorted(set(tmeta["source_image_id"]) - set(meta["image_id"]))
        if unknown:
            raise ExplorerError(
                f"{len(unknown)} translation source image(s) are not among the points: {', '.join(unknown[:5])}"
            )
        if translation_coords is None or set(translation_coords) != set(names):
            got = sorted(translation_coords or {})
            raise ExplorerError(f"translation_coords must have the embeddings {names}; got {got}")
        tcoords = _check_coords({k: translation_coords[k] for k in names}, len(tmeta), "translations")
        tthumbs = list(translation_thumbnails) if translation_thumbnails is not None else [""] * len(tmeta)
        if len(tthumbs) != len(tmeta):
            raise ExplorerError(f"{len(tthumbs)} translation thumbnails for {len(tmeta)} translations")
        tmeta["method"] = (
            translations["method"].fillna("translation").astype(str).to_numpy()
            if "method" in translations
            else "translation"
        )
        position = {image_id: i for i, image_id in enumerate(meta["image_id"])}
        src_rows = np.array([position[s] for s in tmeta["source_image_id"]])
        for k, name in enumerate(names):
            link_data[f"x0_{k}"] = coords[name][src_rows, 0].tolist()
            link_data[f"y0_{k}"] = coords[name][src_rows, 1].tolist()
            link_data[f"x1_{k}"] = tcoords[name][:, 0].tolist()
            link_data[f"y1_{k}"] = tcoords[name][:, 1].tolist()
        groups = tmeta.groupby(["method", "culture"], sort=True).indices
        for (method, target), rows in groups.items():
            rows = np.sort(rows)
            data = _columns(tmeta, rows, tcoords, tthumbs)
            # A translation is not the work it was made from: its card names method and direction, and gives
            # the source's title, artist and date as the source's.
            src = src_rows[rows]
            data["method"] = [method] * len(rows)
            data["direction"] = [f"{meta['culture'].iat[i]} → {target}" for i in src]
            data["source_image_id"] = tmeta["source_image_id"].to_numpy()[rows].tolist()
            for key in ("title", "artist", "date"):
                data[f"source_{key}"] = meta[key].to_numpy()[src].tolist()
                data[key] = [""] * len(rows)
            data["title"] = [f"{method} translation" for _ in rows]
            style = method_style(method)
            source = ColumnDataSource(data, name=f"translations:{method}:{target}")
            renderer = plot.scatter(
                "x",
                "y",
                source=source,
                marker=style.bokeh_marker,
                size=12,
                fill_color=style.colour,
                line_color="#222222",
                line_width=0.8,
                alpha=0.9,
                name=f"translations:{method}:{target}",
            )
            translation_renderers.append(renderer)
            sources.append(source)
            items.append(LegendItem(label=f"{method} → {target} (n={len(rows)})", renderers=[renderer]))
    for p in ("x0", "y0", "x1", "y1"):
        link_data[p] = link_data[f"{p}_0"]
    links = ColumnDataSource(link_data, name="links")
    if n_translated:
        segments = plot.segment(
            "x0", "y0", "x1", "y1", source=links, color="#555555", alpha=0.45, line_width=1
        )
        items.append(LegendItem(label="translation → source", renderers=[segments]))

    plot.add_tools(
        HoverTool(renderers=point_renderers, tooltips=TOOLTIP, limit=max_tooltips, name="hover-points")
    )
    if translation_renderers:
        plot.add_tools(
            HoverTool(
                renderers=translation_renderers,
                tooltips=TRANSLATION_TOOLTIP,
                limit=max_tooltips,
                name="hover-translations",
            )
        )
    plot.toolbar.logo = None
    legend = Legend(items=items, click_policy="hide", title="click to hide")
    plot.add_layout(legend, "right")

    select = Select(title="Embedding", value=names[0], options=names, width=320, name="embedding-select")
    select.js_on_change(
        "value",
        CustomJS(
            args={
                "select": select,
                "sources": sources,
                "links": links,
                "names": names,
                "plot": plot,
                "title_prefix": prefix,
            },
            code=SWITCH_JS,
        ),
    )
    return column(select, plot, sizing_mode="stretch_both", name="explorer")


def from_corpus(
    corpus: Corpus,
    coords: Mapping[str, np.ndarray],
    *,
    translations: Corpus | None = None,
    translation_coords: Mapping[str, np.ndarray] | None = None,
    thumb_size: int = 96,
    thumbnails_per_culture: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> LayoutDOM:
    """`build_explorer` for corpora: thumbnails are made from the images (rows of `coords` follow `corpus.df`).

    Images outside a corpus's root are refused (`Corpus.require_usable`). `thumbnails_per_culture` bounds the
    embedded thumbnails to a seeded sample of that many images per culture (the others are points with hover
    metadata): what keeps an 80k-image explorer under ~50 MB.
    """
    for images in (corpus, translations):
        if images is not None and hasattr(images, "require_usable"):
            images.require_usable("the explorer", labels=False)
    chosen = np.arange(len(corpus.df))
    if thumbnails_per_culture is not None:
        from .streaming import stratified_indices

        chosen = stratified_indices(corpus.df["culture"].astype(str).to_numpy(), thumbnails_per_culture, seed)
    paths = corpus.paths()
    thumbs = [""] * len(corpus.df)
    for i in chosen:
        thumbs[i] = thumbnail_uri(paths[i], thumb_size)
    tthumbs = None
    tframe = None
    if translations is not None:
        tframe = translations.df
        tthumbs = [thumbnail_uri(translations.abspath(row), thumb_size) for _, row in tframe.iterrows()]
    return build_explorer(
        corpus.df,
        coords,
        thumbnails=thumbs,
        translations=tframe,
        translation_coords=translation_coords,
        translation_thumbnails=tthumbs,
        **kwargs,
    )


def _detach(layout: LayoutDOM) -> LayoutDOM:
    """Remove `layout` from a document it was added to (by saving or showing), so it can be used again."""
    if layout.document is not None:
        layout.document.remove_root(layout)
    return layout


def show_explorer(layout: LayoutDOM) -> None:
    """Show the explorer in JupyterLab/Notebook, with BokehJS inlined (works without internet)."""
    from bokeh.io import output_notebook, show
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)
    show(_detach(layout))


def explorer_html(layout: LayoutDOM, title: str = "culturalstyle style-space explorer") -> str:
    """A standalone HTML page with BokehJS and all data inlined: no server, no CDN."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    page = file_html(_detach(layout), resources=INLINE, title=title)
    page = page.replace("</head>", FULL_WINDOW_CSS + "</head>", 1)
    _detach(layout)  # file_html leaves the models in its temporary document; free them for show_explorer
    return page


def save_explorer(
    layout: LayoutDOM,
    path: str | os.PathLike,
    *,
    title: str = "culturalstyle style-space explorer",
    overwrite: bool = False,
) -> Path:
    """Write the standalone explorer page atomically; an existing file is kept unless `overwrite`."""
    from .cache import atomic_write_text

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    return atomic_write_text(path, explorer_html(layout, title))
