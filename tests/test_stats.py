"""Cross-culture statistics on synthetic data with known answers, checked against hand-written references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist, pdist

from culturalstyle import stats


def separable(n_artists: int = 4, per_artist: int = 6, dim: int = 5, gap: float = 6.0, seed: int = 0):
    """Three cultures as well separated Gaussian blobs; every artist belongs to one culture."""
    rng = np.random.default_rng(seed)
    x, cultures, artists = [], [], []
    for c, name in enumerate(["impressionism", "renaissance", "ukiyo_e"]):
        centre = np.zeros(dim)
        centre[c] = gap
        for a in range(n_artists):
            x.append(centre + rng.normal(size=(per_artist, dim)))
            cultures += [name] * per_artist
            artists += [f"{name}-artist{a}"] * per_artist
    return np.concatenate(x), np.array(cultures), np.array(artists)


# ---- distances and permutation tests --------------------------------------------------------------------------


def two_pairs(seed: int = 0):
    """Cultures A and B from the same distribution; C shifted by one standard deviation in every dimension."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 1.0])
    return x, np.repeat(["A", "B", "C"], 30)


@pytest.mark.parametrize("metric", ["energy", "mmd", "mean"])
def test_permutation_test_rejects_only_the_shifted_pair(metric):
    x, y = two_pairs()
    table = stats.between_culture_distances(x, y, metric=metric, n_permutations=199, n_bootstrap=100, seed=0)
    p = {(r.culture_a, r.culture_b): r.p_value for r in table.itertuples()}
    assert p[("A", "B")] > 0.05
    assert p[("A", "C")] == pytest.approx(1 / 200) and p[("B", "C")] == pytest.approx(1 / 200)
    assert (table["n_permutations"] == 199).all() and (table["n_a"] == 30).all()
    assert (table["ci_low"] <= table["distance"]).all() and (table["distance"] <= table["ci_high"]).all()
    again = stats.between_culture_distances(x, y, metric=metric, n_permutations=199, n_bootstrap=100, seed=0)
    pd.testing.assert_frame_equal(table, again)


def test_distances_match_hand_written_formulas():
    x, y = two_pairs(1)
    a, c = x[y == "A"], x[y == "C"]
    table = stats.between_culture_distances(x, y, metric="energy", n_permutations=9, n_bootstrap=9)
    energy = 2 * cdist(a, c).mean() - cdist(a, a).mean() - cdist(c, c).mean()
    got = table.set_index(["culture_a", "culture_b"]).loc[("A", "C"), "distance"]
    assert got == pytest.approx(energy, rel=1e-9)

    bandwidth = np.median(pdist(x))
    table = stats.between_culture_distances(x, y, metric="mmd", n_permutations=9, n_bootstrap=9)
    assert table["bandwidth"].iloc[0] == pytest.approx(bandwidth)

    def k(u, v):
        return np.exp(-cdist(u, v, "sqeuclidean") / (2 * bandwidth**2))

    mmd = k(a, a).mean() + k(c, c).mean() - 2 * k(a, c).mean()
    got = table.set_index(["culture_a", "culture_b"]).loc[("A", "C"), "distance"]
    assert got == pytest.approx(mmd, rel=1e-9)

    table = stats.between_culture_distances(x, y, metric="mean", n_permutations=9, n_bootstrap=9)
    got = table.set_index(["culture_a", "culture_b"]).loc[("A", "C"), "distance"]
    assert got == pytest.approx(np.linalg.norm(a.mean(0) - c.mean(0)), rel=1e-9)


def test_mean_gram_distance_is_frobenius_of_mean_difference():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(20, 5, 9))
    grams = np.einsum("ncp,ndp->ncd", f, f) / 9
    y = np.repeat(["x", "y"], 10)
    table = stats.mean_gram_distances({"relu1_1": grams}, y, n_permutations=19, n_bootstrap=19)
    expected = np.linalg.norm(grams[:10].mean(0) - grams[10:].mean(0))
    assert table.loc[0, "layer"] == "relu1_1"
    assert table.loc[0, "distance"] == pytest.approx(expected, rel=1e-9)
    assert table.loc[0, "relative_distance"] == pytest.approx(
        expected / np.linalg.norm(grams.mean(0)), rel=1e-9
    )
    square = stats.distance_matrix(table)
    assert (
        square.loc["x", "y"] == square.loc["y", "x"] == pytest.approx(expected) and square.loc["x", "x"] == 0
    )


def test_holm_adjustment():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_within_culture_spread_matches_pdist():
    x, y = two_pairs(3)
    table = stats.within_culture_spread(x, y, n_bootstrap=200, seed=0).set_index("culture")
    for name in "ABC":
        members = x[y == name]
        assert table.loc[name, "n"] == 30
        assert table.loc[name, "mean_pairwise_distance"] == pytest.approx(pdist(members).mean(), rel=1e-9)
        rms = np.sqrt(((members - members.mean(0)) ** 2).sum(1).mean())
        assert table.loc[name, "rms_to_centroid"] == pytest.approx(rms, rel=1e-9)
        assert (
            table.loc[name, "ci_low"] < table.loc[name, "mean_pairwise_distance"] < table.loc[name, "ci_high"]
        )


# ---- classification -------------------------------------------------------------------------------------------


def test_leave_artist_out_on_separable_data():
    x, y, artists = separable()
    result = stats.leave_artist_out(x, y, artists, n_splits=4, seed=0, n_bootstrap=500)
    table = result.table.set_index("classifier")
    for method in ("logreg", "knn"):
        row = table.loc[method]
        assert row["accuracy"] >= 0.95 and row["balanced_accuracy"] >= 0.95
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
        assert row["n"] == 72 and row["n_artists"] == 12 and row["n_folds"] == 4
        assert row["majority_baseline"] == pytest.approx(1 / 3)
        matrix = result.confusion[("embedding", method)]
        assert matrix.values.sum() == 72 and list(matrix.index) == ["impressionism", "renaissance", "ukiyo_e"]
        assert np.trace(matrix.values) == round(row["accuracy"] * 72)
    # folds are artist-disjoint: each artist's images are all predicted in one fold
    assert (result.predictions.groupby(["classifier", "artist"])["fold"].nunique() == 1).all()
    long = result.confusion_long()
    assert set(long.columns) >= {"true", "predicted", "count", "n_true"} and long["count"].sum() == 144


def test_leave_artist_out_does_not_reward_recognising_artists():
    """Each artist has a distinctive style but cultures are assigned to artists at random: an artist-disjoint
    split must give chance-level culture accuracy even though artists are trivially recognisable."""
    rng = np.random.default_rng(5)
    n_artists, per_artist = 18, 6
    centres = rng.normal(scale=5.0, size=(n_artists, 6))
    x = np.repeat(centres, per_artist, axis=0) + rng.normal(scale=0.3, size=(n_artists * per_artist, 6))
    cultures = np.repeat(np.array(["A", "B", "C"] * 6), per_artist)
    artists = np.repeat([f"artist{i}" for i in range(n_artists)], per_artist)
    result = stats.leave_artist_out(
        x, cultures, artists, methods=["knn"], n_splits=6, seed=0, n_bootstrap=200
    )
    assert result.table.loc[0, "accuracy"] < 0.6


def test_classify_by_layer_and_combine():
    x, y, artists = separable(seed=1)
    blocks = {"relu1_1": x[:, :3], "relu2_1": x[:, 3:]}
    result = stats.classify_by_layer(blocks, y, artists, methods=["logreg"], n_splits=3, n_bootstrap=100)
    assert list(result.table["feature"]) == ["relu1_1", "relu2_1", "concat"]
    by_feature = result.table.set_index("feature")["accuracy"]
    assert by_feature["relu1_1"] > 0.9  # the first three dimensions carry all three culture offsets
    assert by_feature["relu2_1"] < 0.7  # the last two carry none
    assert ("concat", "logreg") in result.confusion


def test_culture_classifier_fit_predict():
    x, y, _ = separable(seed=2)
    for method in ("logreg", "knn"):
        model = stats.CultureClassifier(method, seed=0).fit(x, y)
        assert list(model.classes_) == ["impressionism", "renaissance", "ukiyo_e"]
        proba = model.predict_proba(x)
        np.testing.assert_allclose(proba.sum(1), 1.0)
        assert (model.classes_[proba.argmax(1)] == model.predict(x)).all()
        assert model.score(x, y) >= 0.95
        frame = model.predict_proba_frame(x[:2], index=["u", "v"])
        assert list(frame.index) == ["u", "v"] and list(frame.columns) == list(model.classes_)
    shifted = np.zeros((1, 5))
    shifted[0, 2] = 6.0
    assert stats.CultureClassifier(pca_components=3).fit(x, y).predict(shifted)[0] == "ukiyo_e"


def test_classifier_bad_input():
    x, y, artists = separable()
    with pytest.raises(ValueError, match="unknown classifier 'svm'"):
        stats.CultureClassifier("svm")
    with pytest.raises(RuntimeError, match="not fitted"):
        stats.CultureClassifier().predict(x)
    with pytest.raises(ValueError, match="at least two cultures"):
        stats.CultureClassifier().fit(x, ["same"] * len(x))
    with pytest.raises(ValueError, match="one entry per row"):
        stats.leave_artist_out(x, y[:-1], artists)
    with pytest.raises(ValueError, match="at least 2 artists"):
        stats.leave_artist_out(x, y, ["one"] * len(x))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stats.cluster_quality(bad, y)
    with pytest.raises(ValueError, match="unknown distance 'cosine'"):
        stats.between_culture_distances(x, y, metric="cosine")


def test_artist_groups_make_unknown_artists_singletons():
    groups = stats.artist_groups(["Hokusai", None, "unknown", "Hokusai", ""], ["a", "b", "c", "d", "e"])
    assert list(groups) == ["hokusai", "unknown:b", "unknown:c", "hokusai", "unknown:e"]


# ---- cluster quality and retrieval ----------------------------------------------------------------------------


def test_cluster_quality_separable_vs_random_labels():
    x, y, _ = separable(seed=3)
    good = stats.cluster_quality(x, y, seed=0).iloc[0]
    assert good["n"] == 72 and good["n_cultures"] == 3
    assert good["silhouette"] > 0.5 and good["kmeans_ari"] > 0.9 and good["kmeans_nmi"] > 0.9
    shuffled = np.random.default_rng(0).permutation(y)
    bad = stats.cluster_quality(x, shuffled, seed=0).iloc[0]
    assert bad["silhouette"] < 0.05 and bad["davies_bouldin"] > good["davies_bouldin"]
    assert abs(bad["kmeans_ari"]) < 0.1


def test_nearest_neighbours_brute_force_and_exclusions():
    x, y, artists = separable(n_artists=3, per_artist=3, seed=4)
    ids = [f"img{i}" for i in range(len(x))]
    table = stats.nearest_neighbours(x, ids, y, artists=artists, queries=["img0", "img5"], k=3)
    assert list(table["rank"]) == [1, 2, 3, 1, 2, 3]
    d = cdist(x[[0]], x)[0]
    allowed = [j for j in range(len(x)) if artists[j] != artists[0]]
    expected = sorted(allowed, key=lambda j: d[j])[:3]
    first = table[table["query_id"] == "img0"]
    assert list(first["neighbour_id"]) == [ids[j] for j in expected]
    np.testing.assert_allclose(first["distance"], d[expected])
    other = stats.nearest_neighbours(x, ids, y, artists=artists, k=2, other_cultures_only=True)
    assert (other["neighbour_culture"] != other["query_culture"]).all()
    rates = stats.neighbour_culture_rates(stats.nearest_neighbours(x, ids, y, artists=artists, k=2))
    assert np.allclose(rates.groupby("query_culture")["rate"].sum(), 1.0)
    same = rates[rates["query_culture"] == rates["neighbour_culture"]]["rate"]
    assert (same > 0.9).all()
    with pytest.raises(KeyError, match="unknown query"):
        stats.nearest_neighbours(x, ids, y, queries=["nope"])


def test_mean_gram_distance_accepts_upper_triangles():
    rng = np.random.default_rng(6)
    f = rng.normal(size=(12, 4, 7))
    grams = np.einsum("ncp,ndp->ncd", f, f) / 7
    rows, cols = np.triu_indices(4)
    y = np.repeat(["x", "y"], 6)
    full = stats.mean_gram_distances({"l": grams}, y, n_permutations=9, n_bootstrap=9, seed=0)
    triu = stats.mean_gram_distances({"l": grams[:, rows, cols]}, y, n_permutations=9, n_bootstrap=9, seed=0)
    pd.testing.assert_frame_equal(full, triu)
    with pytest.raises(ValueError, match="not the upper triangle"):
        stats.gram_frobenius_vectors(np.zeros((3, 7)))


def test_isometric_coordinates_preserve_geometry_and_classifiers():
    """Wide data (D >> N) replaced by N-dim coordinates: same distances, same L2-logistic and k-NN predictions."""
    rng = np.random.default_rng(7)
    y = np.repeat(["a", "b", "c"], 12)
    x = rng.normal(size=(36, 400)) + np.repeat(rng.normal(scale=0.3, size=(3, 400)), 12, axis=0)
    z = stats.isometric_coordinates(x)
    assert z.shape[0] == 36 and z.shape[1] <= 36
    np.testing.assert_allclose(pdist(z), pdist(x), rtol=1e-8)
    np.testing.assert_allclose(z @ z.T, x @ x.T, rtol=1e-8, atol=1e-8)
    train, test = np.arange(36) % 4 != 0, np.arange(36) % 4 == 0
    for method in ("logreg", "knn"):
        on_x = stats.CultureClassifier(method, standardize=False).fit(x[train], y[train])
        on_z = stats.CultureClassifier(method, standardize=False).fit(z[train], y[train])
        np.testing.assert_array_equal(on_x.predict(x[test]), on_z.predict(z[test]))
        np.testing.assert_allclose(on_x.predict_proba(x[test]), on_z.predict_proba(z[test]), atol=1e-4)
    low_rank = rng.normal(size=(10, 3)) @ rng.normal(size=(3, 50))
    assert stats.isometric_coordinates(low_rank).shape == (10, 3)


def test_compare_style_space_tables():
    x, y, artists = separable(n_artists=3, per_artist=4, seed=8)
    meta = pd.DataFrame({"image_id": [f"i{i}" for i in range(len(y))], "culture": y, "artist": artists})
    rng = np.random.default_rng(0)
    f = rng.normal(size=(len(y), 3, 6))
    grams = {"relu1_1": np.einsum("ncp,ndp->ncd", f, f)}
    result = stats.compare_style_space(
        {"relu1_1": x[:, :3], "relu2_1": x[:, 3:]},
        meta,
        baseline=x[:, ::-1],
        grams=grams,
        n_permutations=19,
        n_bootstrap=20,
        n_splits=3,
        k=2,
    )
    tables = result.tables
    assert list(dict.fromkeys(tables["classification"]["feature"])) == [
        "relu1_1",
        "relu2_1",
        "concat",
        "colour_baseline",
    ]
    direct = stats.leave_artist_out(
        x,
        y,
        artists,
        n_splits=3,
        n_bootstrap=20,
        image_ids=meta["image_id"],
        classifier_kwargs={"standardize": False},
        feature="concat",
    )
    concat = tables["classification"][tables["classification"]["feature"] == "concat"].reset_index(drop=True)
    np.testing.assert_allclose(concat["accuracy"], direct.table["accuracy"])
    energy = tables["distances"].query("feature == 'concat' and metric == 'energy'")
    direct_energy = stats.between_culture_distances(x, y, n_permutations=19, n_bootstrap=20)
    np.testing.assert_allclose(energy["distance"].to_numpy(), direct_energy["distance"].to_numpy(), rtol=1e-8)
    direct_gram = stats.mean_gram_distances(grams, y, n_permutations=19, n_bootstrap=20)
    np.testing.assert_allclose(tables["mean_gram_distances"]["distance"], direct_gram["distance"], rtol=1e-8)
    assert set(tables) >= {"cluster_quality", "confusion", "spread", "neighbours", "neighbour_rates"}


def test_artist_groups_normalise_names_like_the_corpus_splits():
    groups = stats.artist_groups(["Hokusai", "hokusai ", " HOKUSAI", "Hiroshige"], ["a", "b", "c", "d"])
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_classifier_pca_is_capped_at_the_number_of_features():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (20, 3)), rng.normal(4, 1, (20, 3))])
    y = ["a"] * 20 + ["b"] * 20
    classifier = stats.CultureClassifier("logreg", pca_components=50, seed=0).fit(x, y)
    assert (classifier.predict(x) == np.array(y)).mean() > 0.9
