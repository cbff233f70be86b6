# %% [markdown]
# # 4 · Evaluate translations
#
# Does a translation look like the target culture (FID, KID, culture attribution by the style-space
# classifier) and does it keep its source's content (LPIPS)? ArtFID combines both. Baselines in the same table:
# the untranslated images ("do nothing"), real target images of another split (the floor at this N), and
# culture-level style transfer (AdaIN; Gatys on request). Small N makes FID biased and noisy: read the CIs.
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
source = "ukiyo_e"  # culture A of the translator
target = "renaissance"  # culture B of the translator
preset = "smoke"  # TrainConfig preset: smoke (tests, minutes), cpu (overnight on a CPU), paper (GPU)
overrides = {}  # TrainConfig fields to change, e.g. {"steps": 200, "lambda_gram": 1.0}
shipped = ["ukiyo_e2renaissance-fastcut"]  # pretrained translators shipped in data/translators/, shown first; [] for none
runs_root = None  # where translator runs live, None: the cache translators/ (reused across studies)
split = "test"  # images translated and reference split for FID/KID
directions = ["A2B", "B2A"]  # translation directions to evaluate
baselines = ["adain"]  # style-transfer baselines on the same images: adain, gatys (slow)
baseline_size = None  # longer side of the baselines outputs (px), None: the translators size, at least 128
n_bootstrap = 50  # bootstrap resamples for the FID/LPIPS confidence intervals
fid_size = 32  # image side for FID/KID of every method (px), None: each sets own size
layers = ["relu1_1", "relu2_1", "relu3_1"]  # VGG19 style layers of that style space, None: the five Gatys style layers
image_size = 64  # image side for the style space used to find the nearest real target
batch_size = 16  # images per VGG19 forward pass
grid_examples = 3  # rows of the side-by-side grids
shipped_fid_size = None  # image side for FID/KID of the shipped translators (px), None: their own
# fmt: on

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from culturalstyle import (
    metrics,
    notebook_outputs,
    pipeline,
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
        "source",
        "target",
        "preset",
        "overrides",
        "shipped",
        "runs_root",
        "split",
        "directions",
        "baselines",
        "baseline_size",
        "n_bootstrap",
        "fid_size",
        "layers",
        "image_size",
        "batch_size",
        "grid_examples",
        "shipped_fid_size",
    ]
}
out = notebook_outputs.Outputs(
    results_dir, "4_evaluate_translation", overwrite=overwrite, profile=profile, corpus=corpus
)
print("outputs:", out.folder)

# %%
notebook_outputs.show_caveat(out.caveat)

# %%
corp = study_corpus.load_corpus(corpus, [source, target])
run_dir, status = pipeline.translator_run(
    corp, source, target, preset=preset, overrides=overrides, seed=seed, runs_root=runs_root
)
print(f"translator {status}: {run_dir}")
out.uses_corpus("corpus", corp)
out.uses_translator(run_dir)
out.uses_weights(
    "inception-fid", "alexnet-lpips", "vgg19-gatys", *(["adain-decoder"] if "adain" in baselines else [])
)
shipped_dirs = pipeline.shipped_translators(shipped, source, target)
for shipped_dir in shipped_dirs:
    out.uses_translator(shipped_dir)
# Shipped translators at their own resolution, then the run with the style-transfer baselines; computed once
# and cached by content (corpus, translator weights, settings): notebook 5 reads the same result.
result = pipeline.study_evaluation(
    corp,
    run_dir,
    pipeline.StudyEvaluationConfig(
        split=split,
        directions=tuple(directions),
        baselines=tuple(baselines),
        baseline_size=baseline_size,
        n_bootstrap=n_bootstrap,
        fid_size=fid_size,
        shipped_fid_size=shipped_fid_size,
        seed=seed,
        preset=preset,
    ),
    shipped=shipped_dirs,
)
print(f"evaluation {result.status}: {result.folder}")
evaluation = result.table
translations = pipeline.copy_translations(result, out.file("translations"), overwrite=overwrite)
out.table(evaluation, "evaluation")
wide = metrics.compare_runs([evaluation])
wide.columns = [" | ".join(map(str, c)) for c in wide.columns]
out.table(wide.reset_index(), "evaluation_wide")
display(
    evaluation[
        [
            "metric",
            "method",
            "role",
            "source",
            "target",
            "value",
            "ci_low",
            "ci_high",
            "n_generated",
            "n_reference",
        ]
    ]
)

# %% [markdown]
# ## FID and LPIPS per method and direction

# %%
fig = translation_plots.metric_intervals(evaluation, ("fid", "lpips"))
out.figure(
    fig,
    "fid_lpips",
    featured=True,
    caption="FID of each method's translations to real target images "
    "(lower is better) and LPIPS to their source images (lower = more of the source kept), with 95% bootstrap "
    "CIs, per direction; the identity ('do nothing') and real-target (the FID floor at this N) baselines "
    "appear once per direction. n = generated / reference images.",
)
plt.show()

# %% [markdown]
# ## Side by side: source | translation | nearest real target (style space)

# %%
space = pipeline.build_style_space(corp, layers=layers, size=image_size, batch_size=batch_size, seed=seed)
for name, trans in translations.items():
    if name.startswith(("adain", "gatys")):
        continue
    is_shipped = name.startswith("shipped")
    fig, nearest = translation_study.side_by_side(
        corp, trans, space, n_rows=grid_examples, image_size=image_size, batch_size=batch_size
    )
    out.table(nearest, f"nearest_real_{name}")
    shared = int(nearest["n_sharing"].max())
    what = (
        f"the shipped pretrained translator ({trans.df['method'].iloc[0]}) on {split} images it never saw"
        if is_shipped
        else f"the translator trained here ({trans.df['method'].iloc[0]})"
    )
    out.figure(
        fig,
        f"side_by_side_{name}",
        featured=1 if is_shipped else False,
        caption=f"Source | translation by {what} | the nearest real target image of the "
        "training split in the full style embedding, with the Euclidean distance d; "
        + (
            f"{shared} of {len(nearest)} translations share one nearest image: in a high-dimensional "
            "space some real images are the nearest neighbour of many points, and the near-identical outputs "
            "of a translator that has not learned yet always share one; not a display error."
            if shared > 1
            else "each translation has its own nearest image."
        ),
    )
plt.show()

# %%
out.record(PARAMETERS)
print("done:", out.folder)
