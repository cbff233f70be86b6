# %% [markdown]
# # 3 · Train a cross-culture translator
#
# A CycleGAN between two cultures. The run is keyed by its configuration and the corpus: if it exists it is
# reused (or resumed when it was interrupted), so re-running the study does not train again. Loss curves and the
# run's sample grids (source | translation | reconstruction) show how training went.
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
# fmt: on

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from PIL import Image

from culturalstyle import notebook_outputs, pipeline, runs, study_corpus, translation_plots
from culturalstyle.translate import TrainConfig

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
    ]
}
out = notebook_outputs.Outputs(
    results_dir, "3_train_translator", overwrite=overwrite, profile=profile, corpus=corpus
)
print("outputs:", out.folder)

# %%
notebook_outputs.show_caveat(out.caveat)

# %%
corp = study_corpus.load_corpus(corpus, [source, target])
run_dir, status = pipeline.translator_run(
    corp, source, target, preset=preset, overrides=overrides, seed=seed, runs_root=runs_root
)
out.uses_corpus("corpus", corp)
out.uses_translator(run_dir)
config = TrainConfig.load(run_dir / "config.yaml")
print(f"{status}: {run_dir}")
runs.write_json(out.file("translator_run.json"), {"run_dir": str(run_dir), "status": status})
record = runs.read_record(run_dir)
tensorboard = run_dir / "tb"
summary = pd.DataFrame(
    [
        {
            "run_dir": str(run_dir),
            "status": status,
            "source": source,
            "target": target,
            "preset": preset,
            "size": config.size,
            "ngf": config.ngf,
            "n_blocks": config.n_blocks,
            "sample_every": config.sample_every,
            "total_steps": record.get("total_steps"),
            **{f"n_{k}": v for k, v in record["inputs"].get("counts", {}).items()},
            "tensorboard_logdir": str(tensorboard) if tensorboard.is_dir() else "",
        }
    ]
)
out.table(summary, "run")
display(summary)
if tensorboard.is_dir():
    command = f"tensorboard --logdir {tensorboard}"
    out.file("tensorboard.txt").write_text(
        f"TensorBoard log of the translator run (losses and sample grids per step):\n{command}\n"
        "then open http://localhost:6006 (pip install tensorboard if it is missing)\n"
    )
    print("TensorBoard:", command)

# %% [markdown]
# ## The shipped translator: how it was trained
#
# A pretrained translator ships with the repository (`data/translators/`), trained with this toolkit's own `culturalstyle train` (its `COMMAND.md` has the exact command). Below: its FID/KID on the held-out test split during training and its sample grids over training. Notebook 4 evaluates it beside the translator trained in this notebook.

# %%
import json

for shipped_dir in pipeline.shipped_translators(shipped, source, target):
    out.uses_translator(shipped_dir)
    info = json.loads((shipped_dir / "translator.json").read_text())
    label = pipeline.translator_label(shipped_dir)
    print(
        f"{label}: {shipped_dir.name}, exported checkpoint {info['checkpoint']} (step {info['step']} of "
        f"{info['total_steps']}), best step during training {info['best_step']}; command: {shipped_dir / 'COMMAND.md'}"
    )
    fig = translation_plots.fid_over_training(
        pd.read_csv(shipped_dir / "metrics.csv"),
        chosen_step=info["step"],
        title=f"{label}: {source} → {target}",
    )
    out.figure(
        fig,
        f"fid_over_training_{label}",
        caption="FID and KID of the shipped translator's translations of "
        "the held-out test split to the target culture's test images at every evaluation during training "
        "(lower is better); the dashed line is the exported checkpoint. The best checkpoint is chosen on this "
        "same split, so its score is optimistic; the last one is not chosen.",
    )
    grids = sorted((shipped_dir / "samples").glob("step_*_A2B.png"))
    if grids:
        fig = translation_plots.training_progress(
            translation_plots.sample_grid_steps(grids), source=source, target=target
        )
        out.figure(
            fig,
            f"progress_{label}",
            caption=f"{label}: sample grids over training (fixed training "
            "images; columns source | translation).",
        )
plt.show()

# %% [markdown]
# ## Loss curves of the translator trained here

# %%
losses = pd.read_csv(run_dir / "losses.csv")
out.table(losses, "losses")
fig = translation_plots.loss_curves(losses, title=f"{source} ↔ {target}, preset {preset}")
out.figure(
    fig,
    "loss_curves",
    caption="Losses per training step: adversarial (LSGAN), λ-weighted cycle and "
    "identity L1, and the generators' total; faint lines are the logged values, bold lines their rolling "
    "mean (window in the title). Falling cycle losses with balanced adversarial terms mean training works.",
)
plt.show()

# %% [markdown]
# ## Sample grids over training (rows: fixed images; columns: source | translation | reconstruction)
#
# The run writes a grid every `sample_every` steps; below, up to six of them from the first to the last step, then the last one at full size. TensorBoard shows all of them: the command is printed above (and saved as `tensorboard.txt`).

# %%
for direction in ("A2B", "B2A"):
    grids = sorted((run_dir / "samples").glob(f"step_*_{direction}.png"))
    if not grids:
        print("no sample grid for", direction)
        continue
    a, b = (source, target) if direction == "A2B" else (target, source)
    fig = translation_plots.training_progress(
        translation_plots.sample_grid_steps(grids), source=a, target=b, sample_every=config.sample_every
    )
    out.figure(
        fig,
        f"progress_{direction}",
        caption=f"{a} → {b} sample grids over training ({len(grids)} written, "
        "at most six shown): each grid's rows are the same fixed images, columns source | translation | "
        "reconstruction.",
    )
    image = Image.open(grids[-1])
    fig, ax = plt.subplots(figsize=(4, 4 * image.height / image.width))
    ax.imshow(image, interpolation="nearest")
    ax.axis("off")
    ax.set_title(
        f"{a} → {b} after {int(grids[-1].stem.split('_')[1])} steps\nsource | translation | reconstruction"
    )
    out.figure(
        fig,
        f"samples_{direction}",
        caption=f"{a} → {b} at the last step: source | translation | "
        "reconstruction for the run's fixed images.",
    )
plt.show()

# %%
out.record(PARAMETERS)
print("done:", out.folder)
