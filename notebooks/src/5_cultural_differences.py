# %% [markdown]
# # 5 · Cultural differences: the synthesis
#
# 1. **Which style statistics separate the cultures?** Leave-artist-out accuracy per VGG19 layer, for all layers
#    together, and for network-free colour and texture statistics; per layer, the distance between the cultures'
#    mean Gram matrices.
# 2. **Is translation asymmetric?** Is A→B easier than B→A (FID, KID, LPIPS, ArtFID, attribution), and do the
#    confidence intervals allow that conclusion?
# 3. **Where do translated images land among real art?** Their position between the source and target culture
#    centroids, and the culture of their nearest real neighbours.
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
source = "ukiyo_e"  # culture A of the translator
target = "renaissance"  # culture B of the translator
preset = "smoke"  # TrainConfig preset: smoke (tests, minutes), cpu (overnight on a CPU), paper (GPU)
overrides = {}  # TrainConfig fields to change, e.g. {"steps": 200, "lambda_gram": 1.0}
shipped = ["ukiyo_e2renaissance-fastcut"]  # pretrained translators shipped in data/translators/, shown first; [] for none
runs_root = None  # where translator runs live, None: the cache translators/ (reused across studies)
split = "test"  # split of the translated images
cv_splits = 5  # artist-disjoint cross-validation folds
n_permutations = 99  # permutations per p-value
n_bootstrap = 100  # bootstrap resamples per confidence interval
k_neighbours = 5  # real neighbours voting on a translations culture
directions = ["A2B", "B2A"]  # translation directions evaluated (as in notebook 4)
baselines = ["adain"]  # style-transfer baselines evaluated with the translator (as in notebook 4)
baseline_size = None  # longer side of the baselines outputs (px), None: the translators size, at least 128
evaluation_n_bootstrap = 50  # bootstrap resamples of the evaluation (notebook 4s n_bootstrap)
fid_size = 32  # image side for FID/KID of every method (px), None: each sets own size
shipped_fid_size = None  # image side for FID/KID of the shipped translators (px), None: their own
thumb_size = 48  # thumbnail size in the explorer (px)
show_explorer = True  # display the interactive explorer in the notebook (it is always saved)
# fmt: on

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from culturalstyle import (
    explorer,
    notebook_outputs,
    pipeline,
    plots,
    significance,
    stats,
    study_corpus,
    translation_plots,
    translation_study,
)

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
        "source",
        "target",
        "preset",
        "overrides",
        "shipped",
        "runs_root",
        "split",
        "cv_splits",
        "n_permutations",
        "n_bootstrap",
        "k_neighbours",
        "directions",
        "baselines",
        "baseline_size",
        "evaluation_n_bootstrap",
        "fid_size",
        "shipped_fid_size",
        "thumb_size",
        "show_explorer",
    ]
}
out = notebook_outputs.Outputs(
    results_dir, "5_cultural_differences", overwrite=overwrite, profile=profile, corpus=corpus
)
print("outputs:", out.folder)

# %%
notebook_outputs.show_caveat(out.caveat)

# %% [markdown]
# ## 1 · Which statistics separate the cultures

# %%
corp = study_corpus.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
out.uses_weights("vgg19-gatys")
space = pipeline.build_style_space(corp, layers=layers, size=image_size, batch_size=batch_size, seed=seed)
print(
    f"{len(corp)} images; features: {space.features.network_images} computed, "
    f"{space.features.cache_hits} from the cache"
)
base, descriptors = pipeline.colour_baseline(corp, image_size)
base_blocks = pipeline.baseline_blocks(base, descriptors)
cul, art = corp.df["culture"].to_numpy(), corp.df["artist"].to_numpy()
common = dict(
    n_splits=cv_splits,
    seed=seed,
    n_bootstrap=n_bootstrap,
    image_ids=corp.df["image_id"],
    classifier_kwargs={"standardize": False},
)
# The Gram statistics of notebook 2, found by content (same images, statistics, embedding and settings):
# computed here when notebook 2 did not run on them, reused from the cache when it did.
pairs = len(corp.cultures) * (len(corp.cultures) - 1) // 2
comparison = pipeline.space_comparison(
    space,
    seed=seed,
    n_permutations=significance.enough_permutations(n_permutations, pairs),
    n_bootstrap=n_bootstrap,
    n_splits=cv_splits,
    k=k_neighbours,
)
gram_table = comparison.tables["classification"]
gram_table = gram_table[gram_table["feature"] != "colour_baseline"]
colour_texture = stats.classify_by_layer(base_blocks, cul, art, concat=True, **common)
colour_texture.table["feature"] = colour_texture.table["feature"].replace({"concat": "colour+texture"})
separability = pipeline.separability_table(gram_table, colour_texture.table)
out.table(separability, "separability")
display(separability)
fig = plots.layer_separability(
    pd.concat([gram_table, colour_texture.table], ignore_index=True),
    title="Which statistics separate cultures (leave-artist-out accuracy, 95% CI)",
)
out.figure(
    fig,
    "separability",
    featured=True,
    caption="Leave-artist-out accuracy of culture classification from "
    "each VGG19 layer's Gram statistics, all layers together, and network-free colour and texture "
    "statistics, with 95% CIs and the majority-class line: bars above colour alone mean the Gram statistics "
    "carry more than colour.",
)
mean_gram = comparison.tables["mean_gram_distances"]
out.table(mean_gram, "mean_gram_distances")
value = "relative_distance" if "relative_distance" in mean_gram else "distance"
fig = plots.mean_gram_heatmap(mean_gram, value=value)
out.figure(
    fig,
    "mean_gram_distance_by_layer",
    caption="Per VGG19 layer and culture pair: the Frobenius distance "
    "between the two cultures' mean Gram matrices divided by the norm of the overall mean Gram matrix "
    "(0 = the same average style statistics), with 95% bootstrap CIs; per-pair permutation p-values are in "
    "the mean_gram_distances table.",
)
plt.show()

# %% [markdown]
# ## 2 · Asymmetry of translation

# %%
# The evaluation of notebook 4, found by content (corpus, translator weights, settings): computed here when
# notebook 4 did not run with these settings, reused from the cache when it did.
pair = study_corpus.load_corpus(corpus, [source, target])
run_dir, status = pipeline.translator_run(
    pair, source, target, preset=preset, overrides=overrides, seed=seed, runs_root=runs_root
)
result = pipeline.study_evaluation(
    pair,
    run_dir,
    pipeline.StudyEvaluationConfig(
        split=split,
        directions=tuple(directions),
        baselines=tuple(baselines),
        baseline_size=baseline_size,
        n_bootstrap=evaluation_n_bootstrap,
        fid_size=fid_size,
        shipped_fid_size=shipped_fid_size,
        seed=seed,
        preset=preset,
    ),
    shipped=pipeline.shipped_translators(shipped, source, target),
)
print(f"evaluation {result.status}: {result.folder}")
evaluation, translations = result.table, result.translations
asymmetry = translation_study.asymmetry_table(evaluation, source, target)
out.table(asymmetry, "asymmetry")
display(asymmetry)

# %% [markdown]
# ## 3 · Translated images in the style space of real art

# %%
parts, coords_parts, frames = [], [], []
for name, trans in translations.items():
    out.uses_corpus(f"translations:{name}", trans)
    feats = space.statistics(trans, batch_size=batch_size)
    vectors = space.embed(feats)
    method = name.split("-")[0]
    src = trans.df["source_image_id"].map(corp.df.set_index("image_id")["culture"]).to_numpy()
    frames.append(
        translation_study.placement_table(
            space.vectors,
            cul,
            vectors,
            src,
            trans.df["culture"].to_numpy(),
            k=k_neighbours,
            methods=[method] * len(trans),
        )
    )
    parts.append(trans.df.assign(method=method))
    coords_parts.append(space.project(feats))
placement = pd.concat(frames, ignore_index=True)
summary = translation_study.placement_summary(placement)
out.table(placement, "placement")
out.table(summary, "placement_summary")
display(summary)
translated = pd.concat(parts, ignore_index=True)
tcoords = {k: np.concatenate([c[k] for c in coords_parts]) for k in coords_parts[0]}
pca_names = list(tcoords)
main_map = f"{pipeline.ALL_LAYERS} · PCA"
position = {i: k for k, i in enumerate(corp.df["image_id"])}
starts = space.coords[main_map][[position[s] for s in translated["source_image_id"]]]
fig = translation_plots.translations_in_space(
    space.coords[main_map],
    cul,
    tcoords[main_map],
    translated["method"],
    starts,
    title="Real art and translations (arrows: source → translation)",
    axis_labels=("PC 1", "PC 2"),
)
out.figure(
    fig,
    "translations_in_style_space",
    featured=True,
    caption="First two principal components of the Gram "
    "style space of real art (dots, coloured by culture, 2-sigma ellipses) with every translation (one marker "
    "and colour per method) and an arrow from its source image; the placement table gives the distances in "
    "the full embedding.",
)
thumbs = [explorer.thumbnail_uri(corp.abspath(r), thumb_size) for _, r in corp.df.iterrows()]
tthumbs = [
    explorer.thumbnail_uri(t.abspath(r), thumb_size)
    for t in translations.values()
    for _, r in t.df.iterrows()
]
layout = explorer.build_explorer(
    corp.df,
    {k: space.coords[k] for k in pca_names},
    thumbnails=thumbs,
    translations=translated,
    translation_coords=tcoords,
    translation_thumbnails=tthumbs,
    title="Real art and translations",
)
explorer.save_explorer(layout, out.file("explorer.html"), overwrite=overwrite)
if show_explorer:
    explorer.show_explorer(layout)

# %%
out.record(PARAMETERS)
print("done:", out.folder)
