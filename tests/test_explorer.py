"""The bokeh style-space explorer: model contents, offline HTML, and real rendering in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from culturalstyle import explorer as ex
from culturalstyle.corpus import Corpus

CULTURES = ("impressionism", "renaissance", "ukiyo_e")


@pytest.fixture(scope="module")
def small() -> dict:
    """Four real sample images per culture, two embeddings, and two 'translations' (copies) linked to sources."""
    corpus = Corpus.load(SAMPLE)
    df = pd.concat([corpus.df[corpus.df["culture"] == c].head(4) for c in CULTURES])
    points = Corpus(df, corpus.root)
    rng = np.random.default_rng(0)
    coords = {"relu1_1 (PCA)": rng.normal(size=(12, 2)), "all layers (PCA)": rng.normal(size=(12, 2)) + 5}
    tdf = df.iloc[[0, 1]].copy()
    tdf["source_image_id"] = tdf["image_id"]
    tdf["image_id"] = ["translated/a", "translated/b"]
    tdf["culture"] = "renaissance"
    tdf["method"] = "cyclegan"
    translations = Corpus(tdf, corpus.root)
    tcoords = {k: rng.normal(size=(2, 2)) for k in coords}
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
        "translated → renaissance (n=2)",
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
        assert np.allclose(links[f"x0_{k}"], small["coords"][name][[0, 1], 0])
        assert np.allclose(links[f"y1_{k}"], small["tcoords"][name][:, 1])
    translated = models["sources"]["translations:renaissance"].data
    assert translated["note"][0] == f"translated from {df['image_id'].iloc[0]} by cyclegan"

    tooltip = [t for t in layout.references() if type(t).__name__ == "HoverTool"][0].tooltips
    for field in ("@thumb", "@artist", "@title", "@date", "@culture"):
        assert field in tooltip


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

PROBE = """
<script>
(function () {
  function canvases(root) {
    let n = 0;
    root.querySelectorAll("*").forEach(function (el) {
      if (el.tagName === "CANVAS") n += 1;
      if (el.shadowRoot) n += canvases(el.shadowRoot);
    });
    return n;
  }
  function report(info) {
    const pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(info);
    document.body.appendChild(pre);
  }
  let tries = 0;
  const timer = setInterval(function () {
    tries += 1;
    const ready = window.Bokeh && Bokeh.documents.length > 0 && canvases(document) > 0;
    if (!ready && tries < 80) return;
    clearInterval(timer);
    if (!ready) { report({canvases: canvases(document), ready: false}); return; }
    const doc = Bokeh.documents[0];
    const models = Array.from(doc.all_models);
    const legend = models.find(function (m) { return m.type === "Legend"; });
    const select = doc.get_model_by_name("embedding-select");
    const info = {
      ready: true,
      canvases: canvases(document),
      legend: legend ? legend.items.map(function (it) { return it.label.value; }) : [],
      options: select.options,
    };
    select.value = select.options[1];  // runs the selector's CustomJS in the page
    setTimeout(function () {
      info.switched_x = doc.get_model_by_name("points:ukiyo_e").data.x;
      info.switched_links_x1 = doc.get_model_by_name("links").data.x1;
      report(info);
    }, 300);
  }, 100);
})();
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CULTURALSTYLE_REQUIRE_CHROMIUM") == "1":
        pytest.fail("headless Chromium is required here but not installed (apt-get install chromium)")
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_standalone_html_renders_in_headless_chromium(small: dict, tmp_path: Path) -> None:
    binary = _chromium()
    layout = ex.from_corpus(
        small["points"],
        small["coords"],
        translations=small["translations"],
        translation_coords=small["tcoords"],
        thumb_size=48,
    )
    page = ex.save_explorer(layout, tmp_path / "explorer.html")

    # 1. DOM: BokehJS built the plot (canvas inside its shadow DOM), the legend lists every culture, and the
    #    embedding selector's CustomJS moves the points to the other embedding's coordinates.
    head, tag, tail = page.read_text().rpartition("</body>")
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(head + PROBE + tag + tail)
    dom = _run_chromium(
        binary, tmp_path / "profile-dom", "--virtual-time-budget=15000", "--dump-dom", probe_page.as_uri()
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"the probe did not report; chromium stderr: {dom.stderr[-2000:]}"
    info = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert info["ready"] and info["canvases"] >= 1
    for culture in CULTURES:
        assert any(label.startswith(f"{culture} (n=4)") for label in info["legend"]), info["legend"]
    assert "translated → renaissance (n=2)" in info["legend"]
    assert info["options"] == list(small["coords"])
    df = small["points"].df
    ukiyo_rows = np.flatnonzero(df["culture"].to_numpy() == "ukiyo_e")
    assert np.allclose(info["switched_x"], small["coords"]["all layers (PCA)"][ukiyo_rows, 0])
    assert np.allclose(info["switched_links_x1"], small["tcoords"]["all layers (PCA)"][:, 0])

    # 2. Pixels: the screenshot of the unmodified page is not blank and shows each culture's colour.
    shot = tmp_path / "explorer.png"
    result = _run_chromium(
        binary,
        tmp_path / "profile-shot",
        "--virtual-time-budget=15000",
        "--window-size=1100,760",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert shot.exists(), f"no screenshot; chromium stderr: {result.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    non_white = (pixels.min(axis=2) < 235).mean()
    assert 0.005 < non_white < 0.6, f"{non_white:.3%} of the screenshot is not white"
    for i, _culture in enumerate(CULTURES):
        colour = np.array([int(ex.PALETTE[i][j : j + 2], 16) for j in (1, 3, 5)], dtype=float)
        blended = 0.75 * colour + 0.25 * 255  # markers are drawn with alpha 0.75 on white
        close = (np.abs(pixels - blended).max(axis=2) < 30).sum()
        assert close >= 20, f"colour of {_culture} ({ex.PALETTE[i]}) found in only {close} pixels"
    if os.environ.get("CULTURALSTYLE_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["CULTURALSTYLE_KEEP_SCREENSHOT"])
