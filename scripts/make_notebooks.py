"""Write the study notebooks (notebooks/<n>_<name>.ipynb) from the cell sources below.

The notebooks are generated so that their code is reviewable here as plain Python text and stays in sync:
edit this file, run `python scripts/make_notebooks.py`, commit both. Each notebook has a cell tagged
`parameters` (papermill) whose defaults are documented inline; every computation is a call into the
`culturalstyle` package; figures go to `<results_dir>/<notebook>/figures/` (PNG + PDF) and tables to
`.../tables/` (CSV) through `culturalstyle.study.Outputs`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
import yaml

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DEFAULT_PROFILE = "smoke"  # the notebooks' own defaults: "Run All" in JupyterLab takes minutes, not hours

COMMON = [
    ("results_dir", "None", "study output folder, None: <repository>/results/notebooks/<timestamp>"),
    ("overwrite", "False", "replace this notebooks outputs in results_dir (set by reproduce --force)"),
    (
        "profile",
        '"smoke"',
        "profile whose caveat every output carries: smoke, cpu, paper (reproduce sets it)",
    ),
    ("corpus", "None", "corpus folder or manifest.csv, None: the bundled sample (data/sample)"),
    ("seed", "0", "seed of every random choice (splits of CV folds, permutations, bootstrap, training)"),
]
SPACE = [
    (
        "cultures",
        "None",
        "cultures to compare, None: every art culture of the corpus (content photos excluded)",
    ),
    ("layers", "None", "VGG19 style layers, None: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1"),
    ("image_size", "256", "shorter image side for the VGG19 style statistics (px)"),
    ("batch_size", "8", "images per VGG19 forward pass"),
]
TRANSLATOR = [
    ("source", '"ukiyo_e"', "culture A of the translator"),
    ("target", '"renaissance"', "culture B of the translator"),
    (
        "preset",
        '"smoke"',
        "TrainConfig preset: smoke (tests, minutes), cpu (overnight on a CPU), paper (GPU)",
    ),
    ("overrides", "{}", 'TrainConfig fields to change, e.g. {"steps": 200, "lambda_gram": 1.0}'),
    (
        "shipped",
        '["ukiyo_e2renaissance-fastcut"]',
        "pretrained translators shipped in data/translators/, shown first; [] for none",
    ),
    (
        "runs_root",
        "None",
        "where translator runs live, None: the cache translators/ (reused across studies)",
    ),
]


def load_profile(name: str) -> dict:
    with open(NOTEBOOKS / "params" / f"{name}.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def python_literal(value: object) -> str:
    """A YAML value written as the Python literal of a parameters cell (double-quoted strings)."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as a notebook parameter")


def profile_defaults(name: str, params: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """`params` with the default profile's values (common, then this notebook's) as their defaults."""
    profile = load_profile(DEFAULT_PROFILE)
    values = dict(profile.get("parameters") or {})
    values.update((profile.get("notebooks") or {}).get(name) or {})
    return [(n, python_literal(values[n]) if n in values else v, doc) for n, v, doc in params]


def profiles_markdown() -> str:
    """The first cell's documentation of the profiles (from notebooks/params/*.yaml)."""
    lines = [
        "**Profiles.** The defaults below are the `smoke` profile, so *Run All* finishes in minutes. "
        "The study's profiles (`notebooks/params/<profile>.yaml`; run one with "
        "`culturalstyle reproduce --profile NAME`, or set its values in the parameters cell):",
        "",
        "| profile | what it is for |",
        "|---|---|",
    ]
    for name in ("smoke", "cpu", "paper"):
        description = " ".join(str(load_profile(name).get("description", "")).split())
        lines.append(f"| `{name}` | {description} |")
    return "\n".join(lines)


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip())


def parameters_cell(params: list[tuple[str, str, str]]) -> nbformat.NotebookNode:
    for name, _, doc in params:  # papermill's parameter parser rejects lines with a second "="
        if "=" in doc:
            raise ValueError(f"the documentation of parameter {name!r} must not contain '=': {doc!r}")
    width = max(len(f"{n} = {v}") for n, v, _ in params)
    lines = [
        "# Parameters (papermill: -p NAME VALUE; culturalstyle reproduce: notebooks/params/<profile>.yaml)",
        f"# Defaults: the {DEFAULT_PROFILE} profile (notebooks/params/{DEFAULT_PROFILE}.yaml)",
    ]
    lines += [f"{f'{n} = {v}':<{width}}  # {doc}" for n, v, doc in params]
    cell = code("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


def setup_cell(name: str, params: list[tuple[str, str, str]], imports: str) -> nbformat.NotebookNode:
    names = ", ".join(f'"{n}"' for n, _, _ in params)
    return code(
        f"""
{imports.strip()}

from culturalstyle import study

PARAMETERS = {{name: globals()[name] for name in [{names}]}}
out = study.Outputs(results_dir, "{name}", overwrite=overwrite, profile=profile, corpus=corpus)
print("outputs:", out.folder)
"""
    )


def caveat_cell() -> nbformat.NotebookNode:
    """Shows the profile's caveat before any number of the notebook."""
    return code("study.show_caveat(out.caveat)")


def notebook(name: str, title: str, params: list, imports: str, cells: list) -> nbformat.NotebookNode:
    params = profile_defaults(name, params)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        md(title.strip() + "\n\n" + profiles_markdown()),
        parameters_cell(params),
        setup_cell(name, params, imports),
        caveat_cell(),
        *cells,
    ]
    nb.cells.append(code("out.record(PARAMETERS)\nprint('done:', out.folder)"))
    return nb


# ---------------------------------------------------------------------------------------------------- 1


def corpus_overview() -> nbformat.NotebookNode:
    params = COMMON + [
        ("cultures", "None", "cultures to include, None: every art culture of the corpus"),
        ("n_examples", "6", "example images per culture in the sample grid"),
        ("thumb_size", "128", "size of the grids images (px)"),
        (
            "verify_hashes",
            "True",
            "re-hash every file in the problems report (slower, catches changed files)",
        ),
    ]
    return notebook(
        "1_corpus_overview",
        """
# 1 · Corpus overview

What the study is made of: counts per culture, artist and split, the periods covered, example images per
culture, and the problems report (unreadable files, duplicates, hash mismatches). Small or unbalanced
cultures limit every later statistic, so read these numbers first.
""",
        params,
        """
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from culturalstyle import palette
from culturalstyle.corpus import summarize
""",
        [
            code(
                """
corp = study.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
print(corp)
summary = summarize(corp)
for name, table in summary.items():
    out.table(table, f"{name}")
    print(f"\\n{name}:")
    display(table)
"""
            ),
            md("## Images per culture and split, and images per artist"),
            code(
                """
counts = summary["cultures"].set_index("culture")
split_columns = [c for c in counts.columns if c.startswith("n_") and c not in ("n_images", "n_artists")]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
counts[split_columns].rename(columns=lambda c: c.removeprefix("n_")).plot.bar(stacked=True, ax=axes[0], rot=20)
axes[0].legend(title="split")
axes[0].set_ylabel("images")
axes[0].set_title(f"Images per culture and split (n={len(corp)})")
artists = summary["artists"]
per_artist = [artists.loc[artists["culture"] == c, "n_images"].to_numpy() for c in counts.index]
axes[1].boxplot(per_artist, showfliers=True)
axes[1].set_xticks(range(1, len(counts) + 1), counts.index, rotation=20)
axes[1].set_yscale("log")
axes[1].set_ylabel("images per artist")
axes[1].set_title(f"Images per artist ({len(artists)} artists; few prolific ones weaken leave-artist-out tests)", fontsize=9)
axes[1].set_xlabel("culture")
axes[0].set_xlabel("culture")
fig.tight_layout()
out.figure(fig, "counts", caption="Left: images per culture, stacked by split. Right: images per artist "
           "within each culture (log scale); a culture carried by one or two artists gives weak leave-artist-out tests.")
"""
            ),
            md("## Periods (dates parsed from the free-text `date` column)"),
            code(
                """
years = corp.df.assign(year=corp.df["date"].map(study.parse_year))
dated = years.groupby("culture")["year"].agg(n_dated="count", first="min", median="median", last="max")
dated["n_images"] = years.groupby("culture").size()
dated = dated.reset_index()
out.table(dated, "periods")
display(dated)
fig, ax = plt.subplots(figsize=(8, 3.2))
jitter = np.random.default_rng(seed)
for i, culture in enumerate(dated["culture"]):
    group = years[(years["culture"] == culture) & years["year"].notna()]
    ax.scatter(group["year"], np.full(len(group), i) + jitter.uniform(-0.2, 0.2, len(group)), s=8,
               color=palette.culture_colour(culture))
ax.set_yticks(range(len(dated)), [f"{c} ({n} of {m} dated)" for c, n, m in zip(dated["culture"], dated["n_dated"], dated["n_images"])])
ax.set_xlabel("year (CE; first year of a range, middle of a century)")
ax.set_title(f"Dated works per culture (n={int(dated['n_dated'].sum())} of {len(corp)} dated)")
fig.tight_layout()
out.figure(fig, "periods", caption="One dot per dated work (vertical jitter only). Dates are parsed from free "
           "text; dynasty names without a year are left out, as the counts on the left say.")
"""
            ),
            md("## Example images per culture (random, seeded)"),
            code(
                """
examples = study.sample_rows(corp, n_examples, seed=seed)
rows, labels = [], []
for culture, group in examples.groupby("culture", sort=True):
    rows.append([corp.abspath(r) for _, r in group.iterrows()])
    labels.append(f"{culture}\\n(n={int((corp.df['culture'] == culture).sum())})")
fig = study.image_grid(rows, row_labels=labels, size=thumb_size,
                       title=f"{n_examples} random examples per culture (seed {seed}), centre-cropped")
out.figure(fig, "examples", caption="Random examples per culture (seeded), centre-cropped squares; n per culture "
           "in the row labels.")
out.table(examples[["image_id", "culture", "artist", "title", "date", "split"]], "examples")
"""
            ),
            md("## Problems report"),
            code(
                """
problems = corp.check(verify_hashes=verify_hashes)
out.table(problems, "problems")
print(f"{len(problems)} problem(s) in {len(corp)} images")
display(problems.head(20))
"""
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------------- 2


def style_space() -> nbformat.NotebookNode:
    params = (
        COMMON
        + SPACE
        + [
            (
                "normalization",
                '"signed_sqrt"',
                "entry-wise normalisation of Gram entries: signed_sqrt, log, none",
            ),
            ("tsne", "False", "also compute a t-SNE map (slower, cannot place new images)"),
            (
                "n_permutations",
                "999",
                "permutations per distance p-value; raised when Holm over the culture pairs needs more",
            ),
            ("n_bootstrap", "1000", "bootstrap resamples per confidence interval"),
            ("cv_splits", "5", "artist-disjoint cross-validation folds"),
            ("k_neighbours", "5", "nearest neighbours per image (retrieval precision at k)"),
            (
                "backbones",
                "None",
                "representations to compare, None: vgg19-gram, vgg19-meanstd, inception-pool, colour-texture",
            ),
            ("alpha", "0.1", "conformal culture sets contain the true culture with probability 1 - alpha"),
            (
                "conformal_score",
                '"knn"',
                "nonconformity: knn (distance to a cultures nearest works, can say none) or classifier",
            ),
            ("thumb_size", "96", "thumbnail size in the explorer and the neighbour grids (px)"),
            (
                "show_explorer",
                "True",
                "display the interactive explorer in the notebook (it is always saved)",
            ),
        ]
    )
    return notebook(
        "2_style_space",
        """
# 2 · Style space

Every artwork becomes a vector of VGG19 Gram statistics (Gatys et al.'s style representation). How well do
culture labels cluster in this space, can a classifier tell cultures apart **across artists** (leave-artist-out,
so it cannot just recognise painters), which layers carry the difference, and how far apart are the cultures
(permutation p-values, Holm-adjusted over the pairs, bootstrap CIs)? Is style better than colour alone (a paired
test on the same folds and images)? Is the separation about style at all: does a content network (the FID
Inception) or AdaIN's channel statistics separate the cultures as well? And can the classifier say "none of
these" for a culture it has never seen (conformal prediction sets)?
""",
        params,
        """
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from culturalstyle import explorer, plots, representation_plots, representations, significance, stats
from culturalstyle.conformal import ConformalConfig
from culturalstyle.embedding import ColourTextureBaseline
""",
        [
            code(
                """
corp = study.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
out.uses_weights("vgg19-gatys")
space = study.build_style_space(
    corp, layers=layers, size=image_size, batch_size=batch_size, normalization=normalization, tsne=tsne, seed=seed
)
print(f"{len(corp)} images, {len(corp.cultures)} cultures; features: {space.features.network_images} computed, "
      f"{space.features.cache_hits} from the cache")
baseline = ColourTextureBaseline(size=image_size).fit_transform(ColourTextureBaseline(size=image_size).features(corp))
pairs = len(corp.cultures) * (len(corp.cultures) - 1) // 2
permutations = significance.enough_permutations(n_permutations, pairs)
print(f"{permutations} permutations per p-value (asked for {n_permutations}): smallest raw p "
      f"{1 / (permutations + 1):.4f}, smallest Holm-adjusted p over {pairs} pairs "
      f"{significance.holm_floor(pairs, permutations):.4f}")
"""
            ),
            md(
                "## All statistics (cluster quality, leave-artist-out accuracy, distances, spread, neighbours)"
            ),
            code(
                """
comparison = stats.compare_style_space(
    space.blocks,
    corp.df,
    baseline=baseline,
    grams=dict(space.features),
    seed=seed,
    n_permutations=permutations,
    n_bootstrap=n_bootstrap,
    n_splits=cv_splits,
    k=k_neighbours,
)
for name, table in comparison.tables.items():
    out.table(table, name)
display(comparison.tables["cluster_quality"])
display(comparison.tables["classification"])
"""
            ),
            md(
                """
## Better than colour alone? A paired test

The Gram embedding (`concat`) and the colour/texture baseline were classified on the same artist-disjoint folds,
image by image, so their accuracies are paired: McNemar's exact test on the images only one of them gets right,
and a paired artist bootstrap of the accuracy difference (CI and p-value).
"""
            ),
            code(
                """
paired_colour = comparison.tables["paired_tests"]
display(paired_colour[["feature", "reference", "classifier", "n", "n_artists", "accuracy", "reference_accuracy",
                       "difference", "ci_low", "ci_high", "bootstrap_p", "n_only_feature_correct",
                       "n_only_reference_correct", "mcnemar_p"]])
distances = comparison.tables["distances"]
display(distances[["feature", "metric", "culture_a", "culture_b", "distance", "p_value", "p_holm", "p_holm_floor",
                   "n_permutations"]])
"""
            ),
            md(
                "## Figures: 2-D map, per-layer separability, distances (Holm-adjusted p), dendrogram, confusion"
            ),
            code(
                """
main_map = f"{study.ALL_LAYERS} · PCA"
figures = plots.comparison_figures(comparison, space.coords[main_map], corp.df["culture"])
for name, fig in figures.items():
    out.figure(fig, name)
for name, xy in space.coords.items():
    if name != main_map and name.startswith(study.ALL_LAYERS):
        out.figure(plots.style_scatter(xy, corp.df["culture"], title=f"Style space, {name}"), "style_space_tsne")
plt.show()
"""
            ),
            md(
                """
## Which representation separates the cultures?

The same images through every registered backbone: Gram statistics (`vgg19-gram`), AdaIN's channel mean/std at
the same layers (`vgg19-meanstd`), the FID Inception's pool features (`inception-pool`, a network trained to
recognise objects: a **content** baseline) and colour/texture statistics without a network (`colour-texture`).
Same decoded pixels, same embedding recipe, same artist-disjoint folds; every backbone is tested against Gram
on the same held-out predictions (paired artist bootstrap, Holm-adjusted; McNemar beside it).
"""
            ),
            code(
                """
spaces = representations.embed_backbones(corp, backbones, size=image_size, batch_size=batch_size, layers=layers,
                                         seed=seed)
out.uses_backbones(spaces)
for name, s in spaces.items():
    print(f"{name}: {s.record['dim']} dims, weights {s.record['weights']} "
          f"({s.record['network_images']} images computed, {s.record['cache_hits']} from the cache)")
conformal_config = ConformalConfig(alpha=alpha, score=conformal_score, seed=seed)
backbone_comparison = representations.compare_backbones(
    spaces, corp.df, n_splits=cv_splits, k=k_neighbours, seed=seed, n_bootstrap=n_bootstrap,
    conformal=conformal_config,
)
for name, table in backbone_comparison.tables.items():
    out.table(table, name)
display(backbone_comparison.tables["backbones"][
    ["backbone", "family", "dim", "n", "n_artists", "accuracy", "ci_low", "ci_high", "balanced_accuracy",
     "balanced_ci_low", "balanced_ci_high", "precision_at_k", "precision_ci_low", "precision_ci_high", "k",
     "silhouette", "majority_baseline"]])
if "backbone_paired" in backbone_comparison.tables:
    display(backbone_comparison.tables["backbone_paired"][
        ["backbone", "reference", "accuracy", "reference_accuracy", "difference", "ci_low", "ci_high",
         "bootstrap_p", "bootstrap_p_holm", "mcnemar_p", "mcnemar_p_holm"]])
backbone_figures = representation_plots.comparison_figures(backbone_comparison)
for name, fig in backbone_figures.items():
    out.figure(fig, name)
"""
            ),
            md(
                """
## "None of these": conformal culture sets

Instead of one forced label, every work gets a *set* of cultures, calibrated (per culture, on artist-grouped
folds that never share an artist with the fitted model) to contain its true culture with probability 1 - alpha
for works by unseen artists. An empty set means "none of the known cultures". Below: empirical coverage and
mean set size per culture with artist-bootstrap CIs (leave-artist-out), and the leave-one-culture-out
experiment: each culture held out entirely, as if unseen, and the share of its works that get the empty set.
"""
            ),
            code(
                """
coverage = backbone_comparison.tables["conformal_coverage"]
display(coverage[["backbone", "culture", "n", "n_artists", "target_coverage", "coverage", "coverage_ci_low",
                  "coverage_ci_high", "mean_set_size", "mean_set_size_ci_low", "mean_set_size_ci_high", "empty"]])
display(backbone_comparison.tables["conformal_unknown"][
    ["backbone", "held_out", "n", "n_artists", "unknown_rate", "ci_low", "ci_high", "mean_set_size",
     "most_common_set"]])
plt.show()
"""
            ),
            md("## Nearest neighbours across cultures"),
            code(
                """
cross = stats.nearest_neighbours(
    space.vectors, corp.df["image_id"], corp.df["culture"], artists=corp.df["artist"], k=4, other_cultures_only=True
)
out.table(cross, "cross_culture_neighbours")
queries = study.sample_rows(corp, 1, seed=seed)["image_id"].tolist()
rows, labels = [], []
for query in queries:
    hits = cross[cross["query_id"] == query].sort_values("rank")
    rows.append([corp.abspath(query)] + [corp.abspath(i) for i in hits["neighbour_id"]])
    labels.append(corp.df.set_index("image_id").loc[query, "culture"])
fig = study.image_grid(rows, row_labels=labels, col_labels=["query"] + [f"neighbour {i}" for i in range(1, 5)],
                       size=thumb_size, title="Most similar works of other cultures (style space)")
out.figure(fig, "cross_culture_neighbours")
"""
            ),
            md(
                "## Interactive explorer (choose the map or the backbone above the plot; hover for the work, "
                "click the legend to hide a culture)"
            ),
            code(
                """
maps = dict(space.coords)
maps.update({f"{name} · PCA": s.map2d for name, s in spaces.items() if name != space.backbone})
layout = explorer.from_corpus(corp, maps, thumb_size=thumb_size, title="Style space")
explorer.save_explorer(layout, out.file("explorer.html"), overwrite=overwrite)
if show_explorer:
    explorer.show_explorer(layout)
"""
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------------- 3


def train_translator() -> nbformat.NotebookNode:
    params = COMMON + TRANSLATOR
    return notebook(
        "3_train_translator",
        """
# 3 · Train a cross-culture translator

A CycleGAN between two cultures. The run is keyed by its configuration and the corpus: if it exists it is
reused (or resumed when it was interrupted), so re-running the study does not train again. Loss curves and the
run's sample grids (source | translation | reconstruction) show how training went.
""",
        params,
        """
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from PIL import Image

from culturalstyle import runs, translation_plots
from culturalstyle.translate import TrainConfig
""",
        [
            code(
                """
corp = study.load_corpus(corpus, [source, target])
run_dir, status = study.translator_run(
    corp, source, target, preset=preset, overrides=overrides, seed=seed, runs_root=runs_root
)
out.uses_corpus("corpus", corp)
out.uses_translator(run_dir)
config = TrainConfig.load(run_dir / "config.yaml")
print(f"{status}: {run_dir}")
study.write_json(out.file("translator_run.json"), {"run_dir": str(run_dir), "status": status})
record = runs.read_record(run_dir)
tensorboard = run_dir / "tb"
summary = pd.DataFrame(
    [{"run_dir": str(run_dir), "status": status, "source": source, "target": target, "preset": preset,
      "size": config.size, "ngf": config.ngf, "n_blocks": config.n_blocks, "sample_every": config.sample_every,
      "total_steps": record.get("total_steps"), **{f"n_{k}": v for k, v in record["inputs"].get("counts", {}).items()},
      "tensorboard_logdir": str(tensorboard) if tensorboard.is_dir() else ""}]
)
out.table(summary, "run")
display(summary)
if tensorboard.is_dir():
    command = f"tensorboard --logdir {tensorboard}"
    out.file("tensorboard.txt").write_text(
        f"TensorBoard log of the translator run (losses and sample grids per step):\\n{command}\\n"
        "then open http://localhost:6006 (pip install tensorboard if it is missing)\\n"
    )
    print("TensorBoard:", command)
"""
            ),
            md(
                "## The shipped translator: how it was trained\n\n"
                "A pretrained translator ships with the repository (`data/translators/`), trained with this "
                "toolkit's own `culturalstyle train` (its `COMMAND.md` has the exact command). Below: its FID/KID "
                "on the held-out test split during training and its sample grids over training. Notebook 4 "
                "evaluates it beside the translator trained in this notebook."
            ),
            code(
                """
import json

for shipped_dir in study.shipped_translators(shipped, source, target):
    out.uses_translator(shipped_dir)
    info = json.loads((shipped_dir / "translator.json").read_text())
    label = study.translator_label(shipped_dir)
    print(f"{label}: {shipped_dir.name}, exported checkpoint {info['checkpoint']} (step {info['step']} of "
          f"{info['total_steps']}), best step during training {info['best_step']}; command: {shipped_dir / 'COMMAND.md'}")
    fig = translation_plots.fid_over_training(pd.read_csv(shipped_dir / "metrics.csv"), chosen_step=info["step"],
                                              title=f"{label}: {source} → {target}")
    out.figure(fig, f"fid_over_training_{label}", caption="FID and KID of the shipped translator's translations of "
               "the held-out test split to the target culture's test images at every evaluation during training "
               "(lower is better); the dashed line is the exported checkpoint. The best checkpoint is chosen on this "
               "same split, so its score is optimistic; the last one is not chosen.")
    grids = sorted((shipped_dir / "samples").glob("step_*_A2B.png"))
    if grids:
        fig = translation_plots.training_progress(translation_plots.sample_grid_steps(grids), source=source,
                                                  target=target)
        out.figure(fig, f"progress_{label}", caption=f"{label}: sample grids over training (fixed training "
                   "images; columns source | translation).")
plt.show()
"""
            ),
            md("## Loss curves of the translator trained here"),
            code(
                """
losses = pd.read_csv(run_dir / "losses.csv")
out.table(losses, "losses")
fig = study.loss_curves(losses, title=f"{source} ↔ {target}, preset {preset}")
out.figure(fig, "loss_curves", caption="Losses per training step: adversarial (LSGAN), λ-weighted cycle and "
           "identity L1, and the generators' total; faint lines are the logged values, bold lines their rolling "
           "mean (window in the title). Falling cycle losses with balanced adversarial terms mean training works.")
plt.show()
"""
            ),
            md(
                "## Sample grids over training (rows: fixed images; columns: source | translation | reconstruction)\n\n"
                "The run writes a grid every `sample_every` steps; below, up to six of them from the first to the "
                "last step, then the last one at full size. TensorBoard shows all of them: the command is printed "
                "above (and saved as `tensorboard.txt`)."
            ),
            code(
                """
for direction in ("A2B", "B2A"):
    grids = sorted((run_dir / "samples").glob(f"step_*_{direction}.png"))
    if not grids:
        print("no sample grid for", direction)
        continue
    a, b = (source, target) if direction == "A2B" else (target, source)
    fig = translation_plots.training_progress(
        translation_plots.sample_grid_steps(grids), source=a, target=b, sample_every=config.sample_every
    )
    out.figure(fig, f"progress_{direction}", caption=f"{a} → {b} sample grids over training ({len(grids)} written, "
               "at most six shown): each grid's rows are the same fixed images, columns source | translation | "
               "reconstruction.")
    image = Image.open(grids[-1])
    fig, ax = plt.subplots(figsize=(4, 4 * image.height / image.width))
    ax.imshow(image, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"{a} → {b} after {int(grids[-1].stem.split('_')[1])} steps\\nsource | translation | reconstruction")
    out.figure(fig, f"samples_{direction}", caption=f"{a} → {b} at the last step: source | translation | "
               "reconstruction for the run's fixed images.")
plt.show()
"""
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------------- 4


def evaluate_translation() -> nbformat.NotebookNode:
    params = (
        COMMON
        + TRANSLATOR
        + [
            ("split", '"test"', "images translated and reference split for FID/KID"),
            ("directions", '["A2B", "B2A"]', "translation directions to evaluate"),
            ("baselines", '["adain"]', "style-transfer baselines on the same images: adain, gatys (slow)"),
            (
                "baseline_size",
                "None",
                "longer side of the baselines outputs (px), None: the translators size, at least 128",
            ),
            ("n_bootstrap", "200", "bootstrap resamples for the FID/LPIPS confidence intervals"),
            ("fid_size", "None", "image side for FID/KID of every method (px), None: each sets own size"),
            ("layers", "None", "VGG19 style layers of that style space, None: the five Gatys style layers"),
            ("image_size", "256", "image side for the style space used to find the nearest real target"),
            ("batch_size", "8", "images per VGG19 forward pass"),
            ("grid_examples", "4", "rows of the side-by-side grids"),
            (
                "shipped_fid_size",
                "None",
                "image side for FID/KID of the shipped translators (px), None: their own",
            ),
        ]
    )
    return notebook(
        "4_evaluate_translation",
        """
# 4 · Evaluate translations

Does a translation look like the target culture (FID, KID, culture attribution by the style-space
classifier) and does it keep its source's content (LPIPS)? ArtFID combines both. Baselines in the same table:
the untranslated images ("do nothing"), real target images of another split (the floor at this N), and
culture-level style transfer (AdaIN; Gatys on request). Small N makes FID biased and noisy: read the CIs.
""",
        params,
        """
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from culturalstyle import metrics, translation_plots
""",
        [
            code(
                """
corp = study.load_corpus(corpus, [source, target])
run_dir, status = study.translator_run(
    corp, source, target, preset=preset, overrides=overrides, seed=seed, runs_root=runs_root
)
print(f"translator {status}: {run_dir}")
out.uses_corpus("corpus", corp)
out.uses_translator(run_dir)
out.uses_weights("inception-fid", "alexnet-lpips", "vgg19-gatys", *(["adain-decoder"] if "adain" in baselines else []))
tables, translations = [], {}
for shipped_dir in study.shipped_translators(shipped, source, target):
    out.uses_translator(shipped_dir)
    table, made = study.evaluate_translator(  # at the shipped translator's own resolution
        corp, shipped_dir, out.folder, directions=directions, split=split, baselines=[],
        config=metrics.EvaluationConfig(split=split, size=shipped_fid_size, n_bootstrap=n_bootstrap, seed=seed),
        overwrite=overwrite,
    )
    tables.append(table)
    translations.update(made)
table, made = study.evaluate_translator(
    corp,
    run_dir,
    out.folder,
    directions=directions,
    split=split,
    baselines=baselines,
    baseline_size=baseline_size,
    config=metrics.EvaluationConfig(split=split, size=fid_size, n_bootstrap=n_bootstrap, seed=seed),
    overwrite=overwrite,
    label=study.translator_label(run_dir, preset),
)
tables.append(table)
translations.update(made)
evaluation = study.unique_baselines(pd.concat(tables, ignore_index=True))
out.table(evaluation, "evaluation")
wide = metrics.compare_runs([evaluation])
wide.columns = [" | ".join(map(str, c)) for c in wide.columns]
out.table(wide.reset_index(), "evaluation_wide")
display(evaluation[["metric", "method", "role", "source", "target", "value", "ci_low", "ci_high", "n_generated", "n_reference"]])
"""
            ),
            md("## FID and LPIPS per method and direction"),
            code(
                """
fig = translation_plots.metric_intervals(evaluation, ("fid", "lpips"))
out.figure(fig, "fid_lpips", featured=True, caption="FID of each method's translations to real target images "
           "(lower is better) and LPIPS to their source images (lower = more of the source kept), with 95% bootstrap "
           "CIs, per direction; the identity ('do nothing') and real-target (the FID floor at this N) baselines "
           "appear once per direction. n = generated / reference images.")
plt.show()
"""
            ),
            md("## Side by side: source | translation | nearest real target (style space)"),
            code(
                """
space = study.build_style_space(corp, layers=layers, size=image_size, batch_size=batch_size, seed=seed)
for name, trans in translations.items():
    if name.startswith(("adain", "gatys")):
        continue
    is_shipped = name.startswith("shipped")
    fig, nearest = study.side_by_side(corp, trans, space, n_rows=grid_examples, image_size=image_size,
                                      batch_size=batch_size)
    out.table(nearest, f"nearest_real_{name}")
    shared = int(nearest["n_sharing"].max())
    what = (f"the shipped pretrained translator ({trans.df['method'].iloc[0]}) on {split} images it never saw"
            if is_shipped else f"the translator trained here ({trans.df['method'].iloc[0]})")
    out.figure(fig, f"side_by_side_{name}", featured=1 if is_shipped else False,
               caption=f"Source | translation by {what} | the nearest real target image of the "
               "training split in the full style embedding, with the Euclidean distance d; "
               + (f"{shared} of {len(nearest)} translations share one nearest image: in a high-dimensional "
                  "space some real images are the nearest neighbour of many points, and the near-identical outputs "
                  "of a translator that has not learned yet always share one; not a display error." if shared > 1
                  else "each translation has its own nearest image."))
plt.show()
"""
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------------- 5


def cultural_differences() -> nbformat.NotebookNode:
    params = (
        COMMON
        + SPACE
        + TRANSLATOR
        + [
            ("split", '"test"', "split of the translated images"),
            ("cv_splits", "5", "artist-disjoint cross-validation folds"),
            ("n_permutations", "999", "permutations per p-value"),
            ("n_bootstrap", "1000", "bootstrap resamples per confidence interval"),
            ("k_neighbours", "5", "real neighbours voting on a translations culture"),
            (
                "evaluation_csv",
                "None",
                "evaluation table of notebook 4, None: <results_dir>/4_evaluate_translation",
            ),
            ("thumb_size", "80", "thumbnail size in the explorer (px)"),
            (
                "show_explorer",
                "True",
                "display the interactive explorer in the notebook (it is always saved)",
            ),
        ]
    )
    return notebook(
        "5_cultural_differences",
        """
# 5 · Cultural differences: the synthesis

1. **Which style statistics separate the cultures?** Leave-artist-out accuracy per VGG19 layer, for all layers
   together, and for network-free colour and texture statistics; per layer, the distance between the cultures'
   mean Gram matrices.
2. **Is translation asymmetric?** Is A→B easier than B→A (FID, KID, LPIPS, ArtFID, attribution), and do the
   confidence intervals allow that conclusion?
3. **Where do translated images land among real art?** Their position between the source and target culture
   centroids, and the culture of their nearest real neighbours.
""",
        params,
        """
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from culturalstyle import explorer, metrics, plots, stats, translation_plots
from culturalstyle.corpus import Corpus
from culturalstyle.embedding import ColourTextureBaseline
from culturalstyle.features import extract
""",
        [
            md("## 1 · Which statistics separate the cultures"),
            code(
                """
corp = study.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
out.uses_weights("vgg19-gatys")
space = study.build_style_space(corp, layers=layers, size=image_size, batch_size=batch_size, seed=seed)
print(f"{len(corp)} images; features: {space.features.network_images} computed, "
      f"{space.features.cache_hits} from the cache")
base = ColourTextureBaseline(size=image_size)
base_blocks = study.baseline_blocks(base, base.fit_transform(base.features(corp)))
cul, art = corp.df["culture"].to_numpy(), corp.df["artist"].to_numpy()
common = dict(n_splits=cv_splits, seed=seed, n_bootstrap=n_bootstrap, image_ids=corp.df["image_id"],
              classifier_kwargs={"standardize": False})
# Gram results of notebook 2 are reused when it ran on the same images in this study; else computed here.
gram_table = study.earlier_table(results_dir, "2_style_space", "classification")
if gram_table is None or int(gram_table["n"].max()) != len(corp):
    gram_table = stats.classify_by_layer(space.blocks, cul, art, concat=True, **common).table
gram_table = gram_table[gram_table["feature"] != "colour_baseline"]
colour_texture = stats.classify_by_layer(base_blocks, cul, art, concat=True, **common)
colour_texture.table["feature"] = colour_texture.table["feature"].replace({"concat": "colour+texture"})
separability = study.separability_table(gram_table, colour_texture.table)
out.table(separability, "separability")
display(separability)
fig = plots.layer_separability(pd.concat([gram_table, colour_texture.table], ignore_index=True),
                               title="Which statistics separate cultures (leave-artist-out accuracy, 95% CI)")
out.figure(fig, "separability", featured=True, caption="Leave-artist-out accuracy of culture classification from "
           "each VGG19 layer's Gram statistics, all layers together, and network-free colour and texture "
           "statistics, with 95% CIs and the majority-class line: bars above colour alone mean the Gram statistics "
           "carry more than colour.")
mean_gram = study.earlier_table(results_dir, "2_style_space", "mean_gram_distances")
if mean_gram is None or set(mean_gram["culture_a"]) | set(mean_gram["culture_b"]) != set(corp.cultures):
    mean_gram = stats.mean_gram_distances(dict(space.features), cul, n_permutations=n_permutations,
                                          n_bootstrap=n_bootstrap, seed=seed)
out.table(mean_gram, "mean_gram_distances")
value = "relative_distance" if "relative_distance" in mean_gram else "distance"
fig = plots.mean_gram_heatmap(mean_gram, value=value)
out.figure(fig, "mean_gram_distance_by_layer", caption="Per VGG19 layer and culture pair: the Frobenius distance "
           "between the two cultures' mean Gram matrices divided by the norm of the overall mean Gram matrix "
           "(0 = the same average style statistics), with 95% bootstrap CIs; per-pair permutation p-values are in "
           "the mean_gram_distances table.")
plt.show()
"""
            ),
            md("## 2 · Asymmetry of translation"),
            code(
                """
notebook4 = Path(results_dir) / "4_evaluate_translation" if results_dir is not None else None
csv = Path(evaluation_csv) if evaluation_csv else (notebook4 / "tables" / "evaluation.csv" if notebook4 else None)
pair = study.load_corpus(corpus, [source, target])
if csv is not None and csv.exists():
    evaluation = pd.read_csv(csv)
    translations = {p.name: Corpus.load(p) for p in sorted((notebook4 / "translations").iterdir())
                    if (p / "manifest.csv").exists()} if notebook4 else {}
    print("evaluation from", csv)
else:
    run_dir, status = study.translator_run(pair, source, target, preset=preset, overrides=overrides,
                                           seed=seed, runs_root=runs_root)
    evaluation, translations = study.evaluate_translator(
        pair, run_dir, out.folder, split=split, baselines=[],
        config=metrics.EvaluationConfig(split=split, n_bootstrap=min(n_bootstrap, 200), seed=seed))
asymmetry = study.asymmetry_table(evaluation, source, target)
out.table(asymmetry, "asymmetry")
display(asymmetry)
"""
            ),
            md("## 3 · Translated images in the style space of real art"),
            code(
                """
parts, coords_parts, frames = [], [], []
for name, trans in translations.items():
    out.uses_corpus(f"translations:{name}", trans)
    feats = extract(trans, space.features.config["layers"], size=image_size, batch_size=batch_size)
    vectors = space.embed(feats)
    method = name.split("-")[0]
    src = trans.df["source_image_id"].map(corp.df.set_index("image_id")["culture"]).to_numpy()
    frames.append(study.placement_table(space.vectors, cul, vectors, src, trans.df["culture"].to_numpy(),
                                        k=k_neighbours, methods=[method] * len(trans)))
    parts.append(trans.df.assign(method=method))
    coords_parts.append(space.project(feats))
placement = pd.concat(frames, ignore_index=True)
summary = study.placement_summary(placement)
out.table(placement, "placement")
out.table(summary, "placement_summary")
display(summary)
translated = pd.concat(parts, ignore_index=True)
tcoords = {k: np.concatenate([c[k] for c in coords_parts]) for k in coords_parts[0]}
pca_names = list(tcoords)
main_map = f"{study.ALL_LAYERS} · PCA"
position = {i: k for k, i in enumerate(corp.df["image_id"])}
starts = space.coords[main_map][[position[s] for s in translated["source_image_id"]]]
fig = translation_plots.translations_in_space(
    space.coords[main_map], cul, tcoords[main_map], translated["method"], starts,
    title="Real art and translations (arrows: source → translation)", axis_labels=("PC 1", "PC 2"))
out.figure(fig, "translations_in_style_space", featured=True, caption="First two principal components of the Gram "
           "style space of real art (dots, coloured by culture, 2-sigma ellipses) with every translation (one marker "
           "and colour per method) and an arrow from its source image; the placement table gives the distances in "
           "the full embedding.")
thumbs = [explorer.thumbnail_uri(corp.abspath(r), thumb_size) for _, r in corp.df.iterrows()]
tthumbs = [explorer.thumbnail_uri(t.abspath(r), thumb_size) for t in translations.values() for _, r in t.df.iterrows()]
layout = explorer.build_explorer(corp.df, {k: space.coords[k] for k in pca_names}, thumbnails=thumbs,
                                 translations=translated, translation_coords=tcoords,
                                 translation_thumbnails=tthumbs, title="Real art and translations")
explorer.save_explorer(layout, out.file("explorer.html"), overwrite=overwrite)
if show_explorer:
    explorer.show_explorer(layout)
"""
            ),
        ],
    )


BUILDERS = {
    "1_corpus_overview": corpus_overview,
    "2_style_space": style_space,
    "3_train_translator": train_translator,
    "4_evaluate_translation": evaluate_translation,
    "5_cultural_differences": cultural_differences,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed notebook differs")
    args = parser.parse_args(argv)
    stale = []
    for name, build in BUILDERS.items():
        nb = build()
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name.split('_')[0]}-{i:02d}"  # stable ids: regenerating gives identical files
        text = nbformat.writes(nb) + "\n"
        path = NOTEBOOKS / f"{name}.ipynb"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        path.write_text(text)
        print("wrote", path)
    if stale:
        print("out of date (run python scripts/make_notebooks.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
