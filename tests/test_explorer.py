"""The bokeh style-space explorer: model contents, offline HTML, and real rendering in headless Chromium."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from pathlib import Path

import browser
import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from culturalstyle import explorer as ex
from culturalstyle import palette
from culturalstyle.corpus import Corpus

CULTURES = ("impressionism", "renaissance", "ukiyo_e")


@pytest.fixture(scope="module")
def small() -> dict:
    """Four real sample images per culture, two embeddings, and three 'translations' (copies of impressionism
    images) linked to their sources: two by CycleGAN and one by AdaIN, all to renaissance."""
    corpus = Corpus.load(SAMPLE)
    df = pd.concat([corpus.df[corpus.df["culture"] == c].head(4) for c in CULTURES])
    points = Corpus(df, corpus.root)
    rng = np.random.default_rng(0)
    coords = {"relu1_1 (PCA)": rng.normal(size=(12, 2)), "all layers (PCA)": rng.normal(size=(12, 2)) + 5}
    tdf = df.iloc[[0, 1, 2]].copy()
    tdf["source_image_id"] = tdf["image_id"]
    tdf["image_id"] = ["translated/a", "translated/b", "translated/c"]
    tdf["culture"] = "renaissance"
    tdf["method"] = ["cyclegan", "cyclegan", "adain"]
    translations = Corpus(tdf, corpus.root)
    tcoords = {k: rng.normal(size=(3, 2)) for k in coords}
    return {"points": points, "coords": coords, "translations": translations, "tcoords": tcoords}


def _models(layout) -> dict:
    from bokeh.models import ColumnDataSource, Legend, Select

    found: dict = {"sources": {}, "legend": None, "select": None}
    for model in layout.references():
        if isinstance(model, ColumnDataSource):
            found["sources"][model.name] = model
        elif isinstance(model, Legend):
            found["legend"] = model
        elif isinstance(model, Select):
            found["select"] = model
    return found


def test_thumbnail_uri_is_a_small_jpeg_of_the_image() -> None:
    img = Image.new("RGB", (300, 150), (200, 40, 10))
    uri = ex.thumbnail_uri(img, size=64)
    assert uri.startswith("data:image/jpeg;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert back.size == (64, 32)
    assert np.abs(np.asarray(back, dtype=float).mean(axis=(0, 1)) - [200, 40, 10]).max() < 6


def test_model_has_one_layer_per_culture_translations_links_and_selector(small: dict) -> None:
    layout = ex.from_corpus(
        small["points"],
        small["coords"],
        translations=small["translations"],
        translation_coords=small["tcoords"],
        thumb_size=48,
    )
    models = _models(layout)
    labels = [item.label.value for item in models["legend"].items]
    assert labels == [
        "impressionism (n=4)",
        "renaissance (n=4)",
        "ukiyo_e (n=4)",
        "adain → renaissance (n=1)",
        "cyclegan → renaissance (n=2)",
        "translation → source",
    ]
    assert models["legend"].click_policy == "hide"
    assert models["select"].options == list(small["coords"]) and models["select"].value == "relu1_1 (PCA)"

    df = small["points"].df
    ukiyo = models["sources"]["points:ukiyo_e"].data
    rows = np.flatnonzero(df["culture"].to_numpy() == "ukiyo_e")
    assert ukiyo["image_id"] == df["image_id"].iloc[rows].tolist()
    assert (
        ukiyo["artist"] == df["artist"].iloc[rows].tolist()
        and ukiyo["date"] == df["date"].iloc[rows].tolist()
    )
    assert np.allclose(ukiyo["x"], small["coords"]["relu1_1 (PCA)"][rows, 0])
    assert np.allclose(ukiyo["y1"], small["coords"]["all layers (PCA)"][rows, 1])
    assert all(t.startswith("data:image/jpeg;base64,") for t in ukiyo["thumb"])

    # Each link starts at the translation's source point and ends at the translation, in every embedding.
    links = models["sources"]["links"].data
    for k, name in enumerate(small["coords"]):
        assert np.allclose(links[f"x0_{k}"], small["coords"][name][[0, 1, 2], 0])
        assert np.allclose(links[f"y1_{k}"], small["tcoords"][name][:, 1])
    # A translation's card says what it is; the source's artist/title/date are given as the source's.
    translated = models["sources"]["translations:cyclegan:renaissance"].data
    assert translated["title"] == ["cyclegan translation"] * 2 and translated["artist"] == ["", ""]
    assert translated["date"] == ["", ""] and translated["direction"] == ["impressionism → renaissance"] * 2
    assert translated["source_image_id"] == df["image_id"].iloc[:2].tolist()
    assert translated["source_artist"] == df["artist"].iloc[:2].tolist()
    assert translated["source_title"] == df["title"].iloc[:2].tolist()
    assert models["sources"]["translations:adain:renaissance"].data["method"] == ["adain"]

    hovers = {t.name: t for t in layout.references() if type(t).__name__ == "HoverTool"}
    for field in ("@thumb", "@artist", "@title", "@date", "@culture"):
        assert field in hovers["hover-points"].tooltips
    for field in ("@method", "@direction", "@source_title", "@source_artist", "@source_date"):
        assert field in hovers["hover-translations"].tooltips
    assert "@artist" not in hovers["hover-translations"].tooltips
    assert hovers["hover-points"].limit == ex.MAX_TOOLTIPS == hovers["hover-translations"].limit

    # One marker and one colour per method, the palette's (the same as in the figures).
    renderers = {r.name: r for r in layout.references() if type(r).__name__ == "GlyphRenderer" and r.name}
    cyc, ada = (
        renderers["translations:cyclegan:renaissance"].glyph,
        renderers["translations:adain:renaissance"].glyph,
    )
    assert (cyc.marker, cyc.fill_color) == (
        palette.method_style("cyclegan").bokeh_marker,
        palette.method_colour("cyclegan"),
    )
    assert (ada.marker, ada.fill_color) == (
        palette.method_style("adain").bokeh_marker,
        palette.method_colour("adain"),
    )
    assert cyc.marker != ada.marker and cyc.fill_color != ada.fill_color


def test_bad_input_is_refused_with_the_problem_named(small: dict) -> None:
    points, coords = small["points"].df, small["coords"]
    with pytest.raises(ex.ExplorerError, match=r"'relu1_1 \(PCA\)' has shape \(11, 2\); expected \(12, 2\)"):
        ex.build_explorer(points, {"relu1_1 (PCA)": coords["relu1_1 (PCA)"][:11]})
    bad = coords["relu1_1 (PCA)"].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ex.ExplorerError, match="NaN"):
        ex.build_explorer(points, {"a": bad})
    with pytest.raises(ex.ExplorerError, match="lacks column.*culture"):
        ex.build_explorer(points.drop(columns=["culture"]), coords)
    orphan = small["translations"].df.copy()
    orphan.loc[0, "source_image_id"] = "nowhere/123"
    with pytest.raises(ex.ExplorerError, match="not among the points: nowhere/123"):
        ex.build_explorer(points, coords, translations=orphan, translation_coords=small["tcoords"])
    with pytest.raises(ex.ExplorerError, match="translation_coords must have the embeddings"):
        ex.build_explorer(points, coords, translations=small["translations"].df, translation_coords={})
    with pytest.raises(ex.ExplorerError, match="3 thumbnails for 12 points"):
        ex.build_explorer(points, coords, thumbnails=["", "", ""])


def test_saved_html_is_standalone_and_never_overwritten(small: dict, tmp_path: Path) -> None:
    layout = ex.from_corpus(small["points"], small["coords"], thumb_size=32)
    path = ex.save_explorer(layout, tmp_path / "explorer.html")
    page = path.read_text()
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+href=[\"']http", page)
    assert (
        "cdn.bokeh.org" not in page and "Bokeh.embed" in page and page.count("data:image/jpeg;base64,") >= 12
    )
    with pytest.raises(FileExistsError, match="already exists"):
        ex.save_explorer(layout, path)
    # After saving, the same layout can still be shown (added to another document), as the notebooks do.
    from bokeh.document import Document

    Document().add_root(layout)
    assert ex.explorer_html(layout).count("data:image/jpeg;base64,") == page.count("data:image/jpeg;base64,")


# ------------------------------------------------------------------------------------------ Chromium

_chromium, _run_chromium = browser.chromium, browser.run  # the names other explorer tests import

# Waits for BokehJS, then reports the plot's size, the legend, the markers drawn, what the selector's
# CustomJS does, and how many hover cards a pointer over `STACK` overlapping points opens.
PROBE = """
function walk(root, visit) {
  root.querySelectorAll("*").forEach(function (el) {
    visit(el);
    if (el.shadowRoot) walk(el.shadowRoot, visit);
  });
}
function canvases() {
  const found = [];
  walk(document, function (el) {
    if (el.tagName === "CANVAS") { const r = el.getBoundingClientRect(); found.push([r.width, r.height]); }
  });
  return found;
}
function hover_cards() {  // one thumbnail per card in the visible tooltips
  let cards = 0;
  walk(document, function (el) {
    if (el.classList && el.classList.contains("bk-tooltip-content") && el.offsetParent !== null) {
      cards += el.querySelectorAll("img").length;
    }
  });
  return cards;
}
let tries = 0;
const timer = setInterval(function () {
  tries += 1;
  const ready = window.Bokeh && Bokeh.documents.length > 0 && canvases().length > 0;
  if (!ready && tries < 80) return;
  clearInterval(timer);
  if (!ready) { report({ready: false}); return; }
  setTimeout(function () {
    const doc = Bokeh.documents[0];
    const models = Array.from(doc.all_models);
    const legend = models.find(function (m) { return m.type === "Legend"; });
    const select = doc.get_model_by_name("embedding-select");
    const plot = doc.get_model_by_name("style-plot");
    const view = Bokeh.index.find_one(plot);
    const markers = {};
    models.filter(function (m) { return m.type === "GlyphRenderer" && m.name; }).forEach(function (r) {
      markers[r.name] = [r.glyph.marker.value || r.glyph.marker, r.glyph.fill_color.value || r.glyph.fill_color];
    });
    const info = {
      ready: true,
      canvas: canvases().sort(function (a, b) { return b[0] * b[1] - a[0] * a[1]; })[0],
      window: [window.innerWidth, window.innerHeight],
      legend: legend ? legend.items.map(function (it) { return it.label.value; }) : [],
      options: select.options,
      markers: markers,
    };
    // Hover over the stacked points: BokehJS hit-tests the pointer and opens its hover cards.
    const stack = doc.get_model_by_name("points:ukiyo_e").data;
    const hit = view.canvas_view.events_el;
    const box = hit.getBoundingClientRect();
    const sx = view.frame.x_scale.compute(stack.x[0]), sy = view.frame.y_scale.compute(stack.y[0]);
    const init = {clientX: box.left + sx, clientY: box.top + sy, bubbles: true, composed: true,
                  isPrimary: true, pointerId: 1, pointerType: "mouse"};
    hit.dispatchEvent(new PointerEvent("pointerover", init));
    hit.dispatchEvent(new PointerEvent("pointerenter", init));
    hit.dispatchEvent(new PointerEvent("pointermove", init));
    setTimeout(function () {
      info.hover_cards = hover_cards();
      select.value = select.options[1];  // runs the selector's CustomJS in the page
      setTimeout(function () {
        info.switched_x = doc.get_model_by_name("points:renaissance").data.x;
        info.switched_links_x1 = doc.get_model_by_name("links").data.x1;
        report(info);
      }, 300);
    }, 500);
  }, 300);
}, 100);
"""
STACK = 8  # ukiyo-e points drawn on top of each other


@pytest.mark.slow
@pytest.mark.parametrize("window", [(1000, 700), (1600, 1100)])
def test_standalone_html_renders_in_headless_chromium(small: dict, tmp_path: Path, window) -> None:
    binary = browser.chromium()
    corpus = Corpus.load(SAMPLE)
    ukiyo = corpus.df[corpus.df["culture"] == "ukiyo_e"].head(STACK)
    df = pd.concat([small["points"].df[small["points"].df["culture"] != "ukiyo_e"], ukiyo])
    points = Corpus(df, corpus.root)
    rng = np.random.default_rng(1)
    coords = {name: rng.normal(size=(len(df), 2)) for name in small["coords"]}
    for xy in coords.values():
        xy[df["culture"].to_numpy() == "ukiyo_e"] = [0.1, -0.2]  # collapsed: one place, STACK points
    layout = ex.from_corpus(
        points,
        coords,
        translations=small["translations"],
        translation_coords=small["tcoords"],
        thumb_size=48,
    )
    page = ex.save_explorer(layout, tmp_path / "explorer.html")

    # 1. DOM: the plot fills the window, the legend lists cultures and methods, methods have distinct
    #    markers, hovering the stack opens at most MAX_TOOLTIPS cards, the selector's CustomJS works.
    info = browser.probe(binary, page, PROBE, tmp_path, window=window)
    assert info["ready"], info
    width, height = info["window"]
    assert info["canvas"][0] >= 0.95 * width and info["canvas"][1] >= 0.8 * height, info
    for culture in CULTURES:
        assert any(label.startswith(f"{culture} (n=") for label in info["legend"]), info["legend"]
    assert {"cyclegan → renaissance (n=2)", "adain → renaissance (n=1)"} <= set(info["legend"])
    markers = info["markers"]
    assert markers["translations:cyclegan:renaissance"][0] != markers["translations:adain:renaissance"][0]
    assert markers["translations:cyclegan:renaissance"][1] == palette.method_colour("cyclegan")
    assert info["hover_cards"] == ex.MAX_TOOLTIPS < STACK, info["hover_cards"]  # capped, not all STACK
    assert info["options"] == list(coords)
    renaissance = np.flatnonzero(df["culture"].to_numpy() == "renaissance")
    assert np.allclose(info["switched_x"], coords["all layers (PCA)"][renaissance, 0])
    assert np.allclose(info["switched_links_x1"], small["tcoords"]["all layers (PCA)"][:, 0])

    # 2. Pixels: the page is not blank and shows each culture's and each method's colour.
    pixels = browser.screenshot(binary, page, tmp_path, window=window)
    non_white = (pixels.min(axis=2) < 235).mean()
    assert 0.002 < non_white < 0.6, f"{non_white:.3%} of the screenshot is not white"
    for name, hex_colour, alpha in [(c, palette.culture_colour(c), 0.75) for c in CULTURES] + [
        (m, palette.method_colour(m), 0.9) for m in ("cyclegan", "adain")
    ]:
        colour = np.array([int(hex_colour[j : j + 2], 16) for j in (1, 3, 5)], dtype=float)
        blended = alpha * colour + (1 - alpha) * 255  # markers are drawn with alpha on white
        close = (np.abs(pixels - blended).max(axis=2) < 30).sum()
        assert close >= 15, f"colour of {name} ({hex_colour}) found in only {close} pixels"
    if os.environ.get("CULTURALSTYLE_KEEP_SCREENSHOT"):
        shutil.copy(
            tmp_path / f"shot-{window[0]}x{window[1]}.png", os.environ["CULTURALSTYLE_KEEP_SCREENSHOT"]
        )
