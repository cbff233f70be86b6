"""The explorer at WikiArt size: 81,444 points, WebGL, a bounded thumbnail sample, a page under 50 MB."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_explorer import _chromium, _run_chromium

from culturalstyle import explorer as ex
from culturalstyle.corpus import Corpus

N = 81_444
CULTURES = ("chinese_ink", "impressionism", "renaissance", "ukiyo_e")

PROBE = """
<script>
(function () {
  let tries = 0;
  const timer = setInterval(function () {
    tries += 1;
    const ready = window.Bokeh && Bokeh.documents.length > 0;
    if (!ready && tries < 300) return;
    clearInterval(timer);
    const doc = Bokeh.documents[0];
    const sources = Array.from(doc.all_models).filter(function (m) {
      return m.name && m.name.startsWith("points:");
    });
    const info = {ready: ready, points: 0, thumbs: 0, backends: []};
    for (const s of sources) {
      info.points += s.data.x.length;
      info.thumbs += Array.from(s.data.thumb).filter(function (t) { return t.length > 0; }).length;
    }
    info.backends = Array.from(doc.all_models).filter(function (m) { return m.type === "Figure" || m.type === "Plot"; })
      .map(function (p) { return p.output_backend; });
    const select = doc.get_model_by_name("embedding-select");
    select.value = select.options[1];
    setTimeout(function () {
      const s = doc.get_model_by_name("points:ukiyo_e");
      info.switched_x = Array.from(s.data.x).slice(0, 5);
      const pre = document.createElement("pre");
      pre.id = "probe";
      pre.textContent = JSON.stringify(info);
      document.body.appendChild(pre);
    }, 500);
  }, 100);
})();
</script>
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer_big")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, size=(120, 100, 3), dtype=np.uint8)).save(root / f"{i}.jpg")
    df = pd.DataFrame(
        {
            "image_id": [f"w{i:05d}" for i in range(N)],
            "path": [f"{i % 4}.jpg" for i in range(N)],
            "culture": np.asarray(CULTURES)[rng.integers(0, 4, size=N)],
            "artist": [f"painter-{i % 1119}" for i in range(N)],
            "title": [f"a typical painting title, number {i}" for i in range(N)],
            "date": "1850",
            "source": "synthetic",
            "license": "test",
            "split": "",
            "sha256": [f"{i:064x}" for i in range(N)],
            "width": 100,
            "height": 120,
        }
    )
    coords = {"all layers (PCA)": rng.normal(size=(N, 2)), "relu3_1 (PCA)": rng.normal(size=(N, 2)) + 5}
    return Corpus(df, root), coords


@pytest.mark.slow
def test_80k_points_make_a_small_webgl_page_that_renders(big, tmp_path):
    corpus, coords = big
    start = time.perf_counter()
    layout = ex.from_corpus(corpus, coords, thumbnails_per_culture=200)
    page = ex.save_explorer(layout, tmp_path / "explorer.html")
    build_seconds = time.perf_counter() - start
    size = page.stat().st_size
    assert size < 50e6, f"the page has {size / 1e6:.1f} MB"
    assert build_seconds < 120
    binary = _chromium()
    head, tag, tail = page.read_text().rpartition("</body>")
    probe = tmp_path / "probe.html"
    probe.write_text(head + PROBE + tag + tail)
    dom = _run_chromium(
        binary, tmp_path / "profile", "--virtual-time-budget=60000", "--dump-dom", probe.as_uri()
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"the probe did not report; chromium stderr: {dom.stderr[-2000:]}"
    info = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert info["ready"] and info["points"] == N
    assert info["thumbs"] == 4 * 200  # a bounded, stratified sample carries thumbnails
    assert info["backends"] == ["webgl"]
    rows = np.flatnonzero(corpus.df["culture"].to_numpy() == "ukiyo_e")[:5]
    np.testing.assert_allclose(info["switched_x"], coords["relu3_1 (PCA)"][rows, 0], rtol=1e-6)


def test_small_explorers_are_unchanged(tmp_path):
    """Below the size threshold: canvas, coordinates as plain lists, every thumbnail embedded."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    df = pd.DataFrame(
        {
            "image_id": ["a", "b", "c"],
            "path": ["a.jpg"] * 3,
            "culture": ["x", "y", "x"],
            "artist": "p",
            "title": "t",
            "date": "",
            "source": "",
            "license": "",
            "split": "",
            "sha256": ["1" * 64, "2" * 64, "3" * 64],
            "width": 40,
            "height": 40,
        }
    )
    layout = ex.from_corpus(Corpus(df, tmp_path), {"pca": rng.normal(size=(3, 2))}, thumb_size=16)
    plot = layout.children[1]
    assert plot.output_backend == "canvas"
    source = next(r.data_source for r in plot.renderers if r.data_source.name == "points:x")
    assert isinstance(source.data["x"], list) and all(
        t.startswith("data:image/jpeg") for t in source.data["thumb"]
    )
