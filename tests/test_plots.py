"""Figures draw the numbers they are given and always show sample sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from culturalstyle import plots, stats


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(12, 3)), rng.normal(size=(8, 3)) + 3, rng.normal(size=(5, 3)) - 3])
    y = np.array(["impressionism"] * 12 + ["renaissance"] * 8 + ["ukiyo_e"] * 5)
    artists = np.array([f"a{i % 4}-{c}" for i, c in enumerate(y)])
    return x, y, artists


def all_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(texts)


def test_style_scatter_legend_counts_regions_and_thumbnails(data):
    x, y, _ = data
    thumbnails = {0: np.zeros((8, 8, 3)), 13: np.ones((8, 8, 3))}
    fig = plots.style_scatter(x[:, :2], y, thumbnails=thumbnails)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["impressionism (n=12)", "renaissance (n=8)", "ukiyo_e (n=5)"]
    assert "n=25" in ax.get_title()
    assert len(ax.patches) == 3  # one ellipse per culture
    assert sum(type(a).__name__ == "AnnotationBbox" for a in ax.artists) == 2
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(np.sort(offsets[:, 0]), np.sort(x[:, 0]))
    hull = plots.style_scatter(x[:, :2], y, region="hull").axes[0]
    assert len(hull.patches) == 3
    with pytest.raises(ValueError, match="N x 2"):
        plots.style_scatter(x, y)
    with pytest.raises(ValueError, match="unknown region"):
        plots.style_scatter(x[:, :2], y, region="blob")


def test_distance_heatmap_and_dendrogram(data):
    x, y, _ = data
    table = stats.between_culture_distances(x, y, n_permutations=49, n_bootstrap=20, seed=0)
    fig = plots.distance_heatmap(table)
    text = all_text(fig)
    assert "49 permutations" in text and "impressionism\n(n=12)" in text and "ukiyo_e\n(n=5)" in text
    row = table.iloc[0]
    assert f"{row.distance:.3g}\np={row.p_value:.3g}" in text
    image = fig.axes[0].images[0].get_array()
    assert image[0, 1] == pytest.approx(row.distance)
    dendro = plots.culture_dendrogram(table)
    labels = [t.get_text() for t in dendro.axes[0].get_yticklabels()]
    assert sorted(labels) == ["impressionism (n=12)", "renaissance (n=8)", "ukiyo_e (n=5)"]
    assert "n=25" in dendro.axes[0].get_title()


def test_layer_separability_and_confusion(data, tmp_path):
    x, y, artists = data
    result = stats.classify_by_layer(
        {"relu1_1": x[:, :2], "relu2_1": x[:, 2:]}, y, artists, n_splits=3, n_bootstrap=50
    )
    fig = plots.layer_separability(result.table)
    ax = fig.axes[0]
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(sorted(result.table["accuracy"]))
    assert "n=25 images" in ax.get_title() and "artists" in ax.get_title()
    matrix = result.confusion[("concat", "logreg")]
    cm = plots.confusion_matrix_plot(matrix)
    text = all_text(cm)
    assert "impressionism (n=12)" in text and "n=25" in text
    shares = cm.axes[0].images[0].get_array()
    np.testing.assert_allclose(shares.sum(1), 1.0)
    paths = plots.save_figure(cm, tmp_path / "confusion")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    assert isinstance(plots.confusion_matrix_plot(pd.DataFrame([[2, 0], [1, 3]]), normalize=False), Figure)
