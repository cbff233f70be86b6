# %% [markdown]
# # 2 · Style space
#
# Every artwork becomes a vector of VGG19 Gram statistics (Gatys et al.'s style representation). How well do
# culture labels cluster in this space, can a classifier tell cultures apart **across artists** (leave-artist-out,
# so it cannot just recognise painters), which layers carry the difference, and how far apart are the cultures
# (permutation p-values, Holm-adjusted over the pairs, bootstrap CIs)? Is style better than colour alone (a paired
# test on the same folds and images)? Is the separation about style at all: does a content network (the FID
# Inception) or AdaIN's channel statistics separate the cultures as well? And can the classifier say "none of
# these" for a culture it has never seen (conformal prediction sets)?
#
# **Profiles.** The defaults below are the `smoke` profile, so *Run All* finishes in minutes. The study's profiles (`notebooks/params/<profile>.yaml`; run one with `culturalstyle reproduce --profile NAME`, or set its values in the parameters cell):
#
# | profile | what it is for |
# |---|---|
# | `smoke` | The whole study on the bundled sample corpus in a few minutes on 2 CPU cores: small images, few permutations and bootstrap resamples, the `smoke` translator preset (tiny networks, 32 px, a few dozen steps). Checks that everything runs and shows the shape of every result; the numbers are not the study's. These are also the notebooks' own defaults, so "Run All" in JupyterLab is quick. |
# | `cpu` | The study at a useful resolution on a CPU (hours; the translator alone trains overnight with the `cpu` preset: 128 px, ngf 32, 6 residual blocks, 20,000 steps at about 0.9 s/step, about 5 hours). Permutation tests and bootstrap CIs at their full sizes. Sets every value the smoke profile sets, so none of the notebooks' (smoke) defaults leaks into it. |
# | `paper` | The study as in the papers it builds on, for a GPU: style statistics at 512 px, a t-SNE map, 9999 permutations, the `paper` translator preset (256 px, ngf 64, 9 blocks, 200 epochs), and both style-transfer baselines (AdaIN and Gatys) at 256 px. Without `-p corpus=...` it runs on the 326-image bundled sample. |

# %% tags=["parameters"]
# Parameters (papermill: -p NAME VALUE; culturalstyle reproduce: notebooks/params/<profile>.yaml)
# Defaults: the smoke profile (notebooks/params/smoke.yaml)
# fmt: off
results_dir = None  # study output folder, None: <repository>/results/notebooks/<timestamp>
overwrite = False  # replace this notebooks outputs in results_dir (set by reproduce --force)
profile = "smoke"  # profile whose caveat every output carries: smoke, cpu, paper (reproduce sets it)
corpus = None  # corpus folder or manifest.csv, None: the bundled sample (data/sample)
seed = 0  # seed of every random choice (splits of CV folds, permutations, bootstrap, training)
cultures = None  # cultures to compare, None: every art culture of the corpus (content photos excluded)
layers = ["relu1_1", "relu2_1", "relu3_1"]  # VGG19 style layers, None: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
image_size = 64  # shorter image side for the VGG19 style statistics (px)
batch_size = 16  # images per VGG19 forward pass
normalization = "signed_sqrt"  # entry-wise normalisation of Gram entries: signed_sqrt, log, none
tsne = False  # also compute a t-SNE map (slower, cannot place new images)
n_permutations = 99  # permutations per distance p-value; raised when Holm over the culture pairs needs more
n_bootstrap = 100  # bootstrap resamples per confidence interval
cv_splits = 5  # artist-disjoint cross-validation folds
k_neighbours = 5  # nearest neighbours per image (retrieval precision at k)
backbones = None  # representations to compare, None: vgg19-gram, vgg19-meanstd, inception-pool, colour-texture
alpha = 0.1  # conformal culture sets contain the true culture with probability 1 - alpha
conformal_score = "knn"  # nonconformity: knn (distance to a cultures nearest works, can say none) or classifier
thumb_size = 48  # thumbnail size in the explorer and the neighbour grids (px)
show_explorer = True  # display the interactive explorer in the notebook (it is always saved)
# fmt: on

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from culturalstyle import (
    explorer,
    notebook_outputs,
    pipeline,
    plots,
    representation_plots,
    representations,
    significance,
    stats,
    study_corpus,
)
from culturalstyle.conformal import ConformalConfig

PARAMETERS = {
    name: globals()[name]
    for name in [
        "results_dir",
        "overwrite",
        "profile",
        "corpus",
        "seed",
        "cultures",
        "layers",
        "image_size",
        "batch_size",
        "normalization",
        "tsne",
        "n_permutations",
        "n_bootstrap",
        "cv_splits",
        "k_neighbours",
        "backbones",
        "alpha",
        "conformal_score",
        "thumb_size",
        "show_explorer",
    ]
}
out = notebook_outputs.Outputs(
    results_dir, "2_style_space", overwrite=overwrite, profile=profile, corpus=corpus
)
print("outputs:", out.folder)

# %%
notebook_outputs.show_caveat(out.caveat)

# %%
corp = study_corpus.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
out.uses_weights("vgg19-gatys")
space = pipeline.build_style_space(
    corp,
    layers=layers,
    size=image_size,
    batch_size=batch_size,
    normalization=normalization,
    tsne=tsne,
    seed=seed,
)
print(
    f"{len(corp)} images, {len(corp.cultures)} cultures; features: {space.features.network_images} computed, "
    f"{space.features.cache_hits} from the cache"
)
pairs = len(corp.cultures) * (len(corp.cultures) - 1) // 2
permutations = significance.enough_permutations(n_permutations, pairs)
print(
    f"{permutations} permutations per p-value (asked for {n_permutations}): smallest raw p "
    f"{1 / (permutations + 1):.4f}, smallest Holm-adjusted p over {pairs} pairs "
    f"{significance.holm_floor(pairs, permutations):.4f}"
)

# %% [markdown]
# ## All statistics (cluster quality, leave-artist-out accuracy, distances, spread, neighbours)

# %%
# Gram layers and their concatenation next to the colour/texture baseline (at image_size), cached by content:
# notebook 5 asks for the same comparison and gets this result.
comparison = pipeline.space_comparison(
    space, seed=seed, n_permutations=permutations, n_bootstrap=n_bootstrap, n_splits=cv_splits, k=k_neighbours
)
for name, table in comparison.tables.items():
    out.table(table, name)
display(comparison.tables["cluster_quality"])
display(comparison.tables["classification"])

# %% [markdown]
# ## Better than colour alone? A paired test
#
# The Gram embedding (`concat`) and the colour/texture baseline were classified on the same artist-disjoint folds,
# image by image, so their accuracies are paired: McNemar's exact test on the images only one of them gets right,
# and a paired artist bootstrap of the accuracy difference (CI and p-value).

# %%
paired_colour = comparison.tables["paired_tests"]
display(
    paired_colour[
        [
            "feature",
            "reference",
            "classifier",
            "n",
            "n_artists",
            "accuracy",
            "reference_accuracy",
            "difference",
            "ci_low",
            "ci_high",
            "bootstrap_p",
            "n_only_feature_correct",
            "n_only_reference_correct",
            "mcnemar_p",
        ]
    ]
)
distances = comparison.tables["distances"]
display(
    distances[
        [
            "feature",
            "metric",
            "culture_a",
            "culture_b",
            "distance",
            "p_value",
            "p_holm",
            "p_holm_floor",
            "n_permutations",
        ]
    ]
)

# %% [markdown]
# ## Figures: 2-D map, per-layer separability, distances (Holm-adjusted p), dendrogram, confusion

# %%
main_map = f"{pipeline.ALL_LAYERS} · PCA"
figures = plots.comparison_figures(comparison, space.coords[main_map], corp.df["culture"])
for name, fig in figures.items():
    out.figure(fig, name)
for name, xy in space.coords.items():
    if name != main_map and name.startswith(pipeline.ALL_LAYERS):
        out.figure(
            plots.style_scatter(xy, corp.df["culture"], title=f"Style space, {name}"), "style_space_tsne"
        )
plt.show()

# %% [markdown]
# ## Which representation separates the cultures?
#
# The same images through every registered backbone: Gram statistics (`vgg19-gram`), AdaIN's channel mean/std at
# the same layers (`vgg19-meanstd`), the FID Inception's pool features (`inception-pool`, a network trained to
# recognise objects: a **content** baseline) and colour/texture statistics without a network (`colour-texture`).
# Same decoded pixels, same embedding recipe, same artist-disjoint folds; every backbone is tested against Gram
# on the same held-out predictions (paired artist bootstrap, Holm-adjusted; McNemar beside it).

# %%
spaces = representations.embed_backbones(
    corp, backbones, size=image_size, batch_size=batch_size, layers=layers, seed=seed
)
out.uses_backbones(spaces)
for name, s in spaces.items():
    print(
        f"{name}: {s.record['dim']} dims, weights {s.record['weights']} "
        f"({s.record['network_images']} images computed, {s.record['cache_hits']} from the cache)"
    )
conformal_config = ConformalConfig(alpha=alpha, score=conformal_score, seed=seed)
backbone_comparison = representations.compare_backbones(
    spaces,
    corp.df,
    n_splits=cv_splits,
    k=k_neighbours,
    seed=seed,
    n_bootstrap=n_bootstrap,
    conformal=conformal_config,
)
for name, table in backbone_comparison.tables.items():
    out.table(table, name)
display(
    backbone_comparison.tables["backbones"][
        [
            "backbone",
            "family",
            "dim",
            "n",
            "n_artists",
            "accuracy",
            "ci_low",
            "ci_high",
            "balanced_accuracy",
            "balanced_ci_low",
            "balanced_ci_high",
            "precision_at_k",
            "precision_ci_low",
            "precision_ci_high",
            "k",
            "silhouette",
            "majority_baseline",
        ]
    ]
)
if "backbone_paired" in backbone_comparison.tables:
    display(
        backbone_comparison.tables["backbone_paired"][
            [
                "backbone",
                "reference",
                "accuracy",
                "reference_accuracy",
                "difference",
                "ci_low",
                "ci_high",
                "bootstrap_p",
                "bootstrap_p_holm",
                "mcnemar_p",
                "mcnemar_p_holm",
            ]
        ]
    )
backbone_figures = representation_plots.comparison_figures(backbone_comparison)
for name, fig in backbone_figures.items():
    out.figure(fig, name)

# %% [markdown]
# ## "None of these": conformal culture sets
#
# Instead of one forced label, every work gets a *set* of cultures, calibrated (per culture, on artist-grouped
# folds that never share an artist with the fitted model) to contain its true culture with probability 1 - alpha
# for works by unseen artists. An empty set means "none of the known cultures". Below: empirical coverage and
# mean set size per culture with artist-bootstrap CIs (leave-artist-out), and the leave-one-culture-out
# experiment: each culture held out entirely, as if unseen, and the share of its works that get the empty set.

# %%
coverage = backbone_comparison.tables["conformal_coverage"]
display(
    coverage[
        [
            "backbone",
            "culture",
            "n",
            "n_artists",
            "target_coverage",
            "coverage",
            "coverage_ci_low",
            "coverage_ci_high",
            "mean_set_size",
            "mean_set_size_ci_low",
            "mean_set_size_ci_high",
            "empty",
        ]
    ]
)
display(
    backbone_comparison.tables["conformal_unknown"][
        [
            "backbone",
            "held_out",
            "n",
            "n_artists",
            "unknown_rate",
            "ci_low",
            "ci_high",
            "mean_set_size",
            "most_common_set",
        ]
    ]
)
plt.show()

# %% [markdown]
# ## Nearest neighbours across cultures

# %%
cross = stats.nearest_neighbours(
    space.vectors,
    corp.df["image_id"],
    corp.df["culture"],
    artists=corp.df["artist"],
    k=4,
    other_cultures_only=True,
)
out.table(cross, "cross_culture_neighbours")
queries = study_corpus.sample_rows(corp, 1, seed=seed)["image_id"].tolist()
rows, labels = [], []
for query in queries:
    hits = cross[cross["query_id"] == query].sort_values("rank")
    rows.append([corp.abspath(query)] + [corp.abspath(i) for i in hits["neighbour_id"]])
    labels.append(corp.df.set_index("image_id").loc[query, "culture"])
fig = plots.image_grid(
    rows,
    row_labels=labels,
    col_labels=["query"] + [f"neighbour {i}" for i in range(1, 5)],
    size=thumb_size,
    title="Most similar works of other cultures (style space)",
)
out.figure(fig, "cross_culture_neighbours")

# %% [markdown]
# ## Interactive explorer (choose the map or the backbone above the plot; hover for the work, click the legend to hide a culture)

# %%
maps = dict(space.coords)
maps.update({f"{name} · PCA": s.map2d for name, s in spaces.items() if name != space.backbone})
layout = explorer.from_corpus(corp, maps, thumb_size=thumb_size, title="Style space")
explorer.save_explorer(layout, out.file("explorer.html"), overwrite=overwrite)
if show_explorer:
    explorer.show_explorer(layout)

# %%
out.record(PARAMETERS)
print("done:", out.folder)
