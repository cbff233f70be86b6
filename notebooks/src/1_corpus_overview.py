# %% [markdown]
# # 1 · Corpus overview
#
# What the study is made of: counts per culture, artist and split, the periods covered, example images per
# culture, and the problems report (unreadable files, duplicates, hash mismatches). Small or unbalanced
# cultures limit every later statistic, so read these numbers first.
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
cultures = None  # cultures to include, None: every art culture of the corpus
n_examples = 4  # example images per culture in the sample grid
thumb_size = 96  # size of the grids images (px)
verify_hashes = True  # re-hash every file in the problems report (slower, catches changed files)
# fmt: on

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from culturalstyle import notebook_outputs, palette, plots, study_corpus
from culturalstyle.corpus import summarize

PARAMETERS = {
    name: globals()[name]
    for name in [
        "results_dir",
        "overwrite",
        "profile",
        "corpus",
        "seed",
        "cultures",
        "n_examples",
        "thumb_size",
        "verify_hashes",
    ]
}
out = notebook_outputs.Outputs(
    results_dir, "1_corpus_overview", overwrite=overwrite, profile=profile, corpus=corpus
)
print("outputs:", out.folder)

# %%
notebook_outputs.show_caveat(out.caveat)

# %%
corp = study_corpus.load_corpus(corpus, cultures)
out.uses_corpus("corpus", corp)
print(corp)
summary = summarize(corp)
for name, table in summary.items():
    out.table(table, f"{name}")
    print(f"\n{name}:")
    display(table)

# %% [markdown]
# ## Images per culture and split, and images per artist

# %%
counts = summary["cultures"].set_index("culture")
split_columns = [c for c in counts.columns if c.startswith("n_") and c not in ("n_images", "n_artists")]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
counts[split_columns].rename(columns=lambda c: c.removeprefix("n_")).plot.bar(
    stacked=True, ax=axes[0], rot=20
)
axes[0].legend(title="split")
axes[0].set_ylabel("images")
axes[0].set_title(f"Images per culture and split (n={len(corp)})")
artists = summary["artists"]
per_artist = [artists.loc[artists["culture"] == c, "n_images"].to_numpy() for c in counts.index]
axes[1].boxplot(per_artist, showfliers=True)
axes[1].set_xticks(range(1, len(counts) + 1), counts.index, rotation=20)
axes[1].set_yscale("log")
axes[1].set_ylabel("images per artist")
axes[1].set_title(
    f"Images per artist ({len(artists)} artists; few prolific ones weaken leave-artist-out tests)", fontsize=9
)
axes[1].set_xlabel("culture")
axes[0].set_xlabel("culture")
fig.tight_layout()
out.figure(
    fig,
    "counts",
    caption="Left: images per culture, stacked by split. Right: images per artist "
    "within each culture (log scale); a culture carried by one or two artists gives weak leave-artist-out tests.",
)

# %% [markdown]
# ## Periods (dates parsed from the free-text `date` column)

# %%
years = corp.df.assign(year=corp.df["date"].map(study_corpus.parse_year))
dated = years.groupby("culture")["year"].agg(n_dated="count", first="min", median="median", last="max")
dated["n_images"] = years.groupby("culture").size()
dated = dated.reset_index()
out.table(dated, "periods")
display(dated)
fig, ax = plt.subplots(figsize=(8, 3.2))
jitter = np.random.default_rng(seed)
for i, culture in enumerate(dated["culture"]):
    group = years[(years["culture"] == culture) & years["year"].notna()]
    ax.scatter(
        group["year"],
        np.full(len(group), i) + jitter.uniform(-0.2, 0.2, len(group)),
        s=8,
        color=palette.culture_colour(culture),
    )
ax.set_yticks(
    range(len(dated)),
    [f"{c} ({n} of {m} dated)" for c, n, m in zip(dated["culture"], dated["n_dated"], dated["n_images"])],
)
ax.set_xlabel("year (CE; first year of a range, middle of a century)")
ax.set_title(f"Dated works per culture (n={int(dated['n_dated'].sum())} of {len(corp)} dated)")
fig.tight_layout()
out.figure(
    fig,
    "periods",
    caption="One dot per dated work (vertical jitter only). Dates are parsed from free "
    "text; dynasty names without a year are left out, as the counts on the left say.",
)

# %% [markdown]
# ## Example images per culture (random, seeded)

# %%
examples = study_corpus.sample_rows(corp, n_examples, seed=seed)
rows, labels = [], []
for culture, group in examples.groupby("culture", sort=True):
    rows.append([corp.abspath(r) for _, r in group.iterrows()])
    labels.append(f"{culture}\n(n={int((corp.df['culture'] == culture).sum())})")
fig = plots.image_grid(
    rows,
    row_labels=labels,
    size=thumb_size,
    title=f"{n_examples} random examples per culture (seed {seed}), centre-cropped",
)
out.figure(
    fig,
    "examples",
    caption="Random examples per culture (seeded), centre-cropped squares; n per culture in the row labels.",
)
out.table(examples[["image_id", "culture", "artist", "title", "date", "split"]], "examples")

# %% [markdown]
# ## Problems report

# %%
problems = corp.check(verify_hashes=verify_hashes)
out.table(problems, "problems")
print(f"{len(problems)} problem(s) in {len(corp)} images")
display(problems.head(20))

# %%
out.record(PARAMETERS)
print("done:", out.folder)
