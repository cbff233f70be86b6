"""The index of a study reproduction: `index.html`, `index.md` and `gallery.html`.

A reader opens the index first, so it is built to be read, not scrolled: the profile's caveat comes before
any number, then a table of contents, the featured figures, and one collapsible section per notebook with
figure thumbnails (click for full size) and their captions, table previews with the caveat as a footnote,
and the parameters. Images that are data rather than figures (translations) are listed on one gallery page.

Captions come from the notebooks (`Outputs.figure(..., caption=...)` writes `<notebook>/captions.json`);
figures without one get a caption from `FIGURE_CAPTIONS` by name. A figure is shown first when the
notebook marks it `featured` or when `write_index(..., featured=[...])` names it.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import atomic_write_text

if TYPE_CHECKING:
    from .reproduce import Reproduction

FIGURE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")
OTHER_SUFFIXES = (".pdf", ".html", ".json", ".yaml", ".md", ".txt", ".parquet", ".npz")
CAPTIONS_NAME = "captions.json"
GALLERY_NAME = "gallery.html"

# Captions of the study's figures by file stem (regular expressions, first match wins); a caption given by
# the notebook replaces these.
FIGURE_CAPTIONS: list[tuple[str, str]] = [
    (r"^counts$", "Images per culture and split, and images per artist (log scale)."),
    (r"^periods$", "Dates parsed from the free-text date column, one dot per dated work."),
    (r"^examples$", "Random example images per culture (seeded)."),
    (r"^style_space$", "First two principal components of the Gram style embedding, 2-sigma ellipses."),
    (
        r"^style_space_tsne$",
        "t-SNE map of the Gram style embedding (distances between clusters mean little).",
    ),
    (
        r"^layer_separability$",
        "Leave-artist-out culture classification accuracy per VGG19 layer, concatenated, and the colour "
        "baseline, with 95% CIs and the majority-class line.",
    ),
    (r"^distances_", "Distance between cultures with permutation p-values (see the table for corrections)."),
    (r"^dendrogram_", "Cultures clustered by their pairwise distances (average linkage)."),
    (r"^confusion_", "Leave-artist-out confusion matrix: rows true culture, share of its images."),
    (r"^cross_culture_neighbours$", "Most similar works of other cultures in the style space."),
    (r"^loss_curves$", "Training losses per step; the smoothing window is stated in the figure."),
    (r"^samples_(A2B|B2A)$", "The run's last sample grid: source | translation | reconstruction."),
    (r"^progress_(A2B|B2A)$", "Sample grids over training: how translations changed from step to step."),
    (
        r"^fid_lpips$",
        "FID (to real target images) and LPIPS (to the source) per method and direction, 95% CIs; "
        "baselines once per direction.",
    ),
    (r"^side_by_side_", "Source, translation and the nearest real target image in the style space."),
    (r"^separability$", "Which statistics separate cultures: Gram layers vs colour and texture."),
    (r"^mean_gram_distance_by_layer$", "Relative distance between the cultures' mean Gram matrices."),
    (r"^translations_in_style_space$", "Translations placed among real art, arrows from their sources."),
]


def caption_for(stem: str, captions: dict[str, dict[str, Any]] | None = None, name: str = "") -> str:
    """The caption of a figure: the notebook's own, else the first matching `FIGURE_CAPTIONS` entry."""
    given = (captions or {}).get(name or f"{stem}.png", {}).get("caption")
    if given:
        return str(given)
    for pattern, text in FIGURE_CAPTIONS:
        if re.search(pattern, stem):
            return text
    return ""


def collect_outputs(out_dir: Path, stem: str) -> dict[str, list[Path]]:
    """What a notebook wrote under `<out_dir>/<stem>/`, as paths relative to `out_dir`:

    `figures` (images under `figures/`), `tables` (CSVs under `tables/`), `galleries` (other folders of
    images, e.g. translations: one entry per folder) and `other` (explorers, records, text files).
    """
    folder = out_dir / stem
    found: dict[str, list[Path]] = {"figures": [], "tables": [], "galleries": [], "other": []}
    if not folder.is_dir():
        return found
    galleries: set[Path] = set()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir)
        inner = path.relative_to(folder).parts
        suffix = path.suffix.lower()
        if inner[0] == "figures" and suffix in FIGURE_SUFFIXES:
            found["figures"].append(rel)
        elif inner[0] == "figures" and suffix == ".pdf" and path.with_suffix(".png").exists():
            continue  # linked next to its PNG
        elif inner[0] == "tables" and suffix == ".csv":
            found["tables"].append(rel)
        elif len(inner) > 1 and (
            suffix in FIGURE_SUFFIXES or path.name in ("manifest.csv", "run_record.json")
        ):
            galleries.add(rel.parent)
        elif path.name == CAPTIONS_NAME:
            continue
        elif suffix in OTHER_SUFFIXES:
            found["other"].append(rel)
    found["galleries"] = sorted(g for g in galleries if any(_images(out_dir / g)))
    return found


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FIGURE_SUFFIXES)


def _captions(out_dir: Path, stem: str) -> dict[str, dict[str, Any]]:
    path = out_dir / stem / CAPTIONS_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        return {}  # a damaged captions file costs the captions, not the index


def _notebook_intro(executed: Path | None) -> tuple[str, str]:
    """(title, first paragraph) of a notebook's first markdown cell, for the table of contents."""
    if executed is None or not Path(executed).exists():
        return "", ""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no intro; the index is still written
        return "", ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.strip().splitlines()
            title = lines[0].lstrip("# ").strip() if lines else ""
            body = " ".join(line.strip() for line in lines[1:] if line.strip())
            return title, body.split(". ")[0].rstrip(".") + "." if body else ""
    return "", ""


def _format_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _csv_preview(path: Path, footnote: str, max_rows: int = 12) -> str | None:
    """An HTML rendering of a small table with the caveat as its footnote."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception:  # noqa: BLE001 - an unreadable CSV is linked, not previewed
        return None
    shown = frame.head(max_rows)
    note = f"first {max_rows} of {len(frame)} rows. " if len(frame) > max_rows else ""
    table = shown.to_html(index=False, border=0, classes="table", float_format=lambda v: f"{v:.4g}")
    return table + f"<p class='note'>{html.escape(note)}<span class='foot'>{html.escape(footnote)}</span></p>"


def short_caveat(profile: str, caveat: str) -> str:
    """The footnote under every table: the caveat's first sentence."""
    first = caveat.split(". ")[0].rstrip(".") + "." if caveat else ""
    return f"† {first}" if first else f"† profile {profile}"


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
.caveat{border:2px solid #b22;background:#fff3f3;color:#611;padding:.7em 1em;font-weight:600;margin:1em 0}
nav.toc{background:#f6f6f6;padding:.6em 1em;margin:1em 0}nav.toc ol{margin:.3em 0}
nav.toc li{margin:.15em 0}
.thumbs{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:270px}figure img{width:270px;height:190px;object-fit:contain;border:1px solid #ddd;
background:#fff}figcaption{font-size:80%;color:#444}
details{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.3em .8em}
details>summary{cursor:pointer;font-weight:600}details details{border:none;padding:0 .2em}
details details>summary{font-weight:500}
table.table{border-collapse:collapse;font-size:80%;display:block;overflow-x:auto;max-width:100%}
table.table td,table.table th{border:1px solid #ccc;padding:2px 6px}
.failed{color:#b00}.note{color:#666;font-size:80%}.foot{color:#8a1c1c}
.gallery img{width:128px;height:128px;object-fit:contain;border:1px solid #ddd}
"""


def _figure_html(out: Path, rel: Path, caption: str) -> str:
    src = html.escape(rel.as_posix())
    pdf = rel.with_suffix(".pdf")
    pdf_link = f" · <a href='{html.escape(pdf.as_posix())}'>PDF</a>" if (out / pdf).exists() else ""
    return (
        f"<figure><a href='{src}'><img src='{src}' alt='{html.escape(rel.stem)}' loading='lazy'></a>"
        f"<figcaption><b>{html.escape(rel.stem)}</b>{pdf_link}<br>{html.escape(caption)}</figcaption></figure>"
    )


def write_index(
    result: Reproduction, *, caveat: str | None = None, featured: Sequence[str] = ()
) -> tuple[Path, Path]:
    """Write `index.md`, `index.html` (and `gallery.html` when there are translation images).

    `caveat` defaults to the reproduction's (its profile file's `caveat`), else `profile_caveat`; `featured`
    names figures (paths relative to the results folder) to show first, before the notebooks' own picks.
    """
    out = result.out_dir
    if caveat is None:
        caveat = result.caveat
    if caveat is None:
        from .notebook_outputs import profile_caveat

        corpus = next(
            (nb.parameters.get("corpus") for nb in result.notebooks if "corpus" in nb.parameters), None
        )
        caveat = profile_caveat(result.profile, corpus)
    footnote = short_caveat(result.profile, caveat)
    created = _dt.datetime.now().isoformat(timespec="seconds")
    sections = []
    for nb in result.notebooks:
        outputs = collect_outputs(out, nb.name)
        captions = _captions(out, nb.name)
        title, intro = _notebook_intro(nb.executed)
        sections.append((nb, outputs, captions, title or nb.name, intro))
    chosen = [Path(p) for p in featured]
    ranked = []  # (rank, notebook order, figure): rank 1 first (the notebooks' featured=1), True = 100
    for _nb, outputs, captions, *_ in sections:
        for rel in outputs["figures"]:
            rank = captions.get(rel.name, {}).get("featured")
            if rank:
                ranked.append((100 if rank is True else int(rank), len(ranked), rel))
    chosen += [rel for *_, rel in sorted(ranked, key=lambda item: item[:2])]
    chosen = [p for p in dict.fromkeys(chosen) if (out / p).exists()]
    galleries = [g for _, outputs, *_ in sections for g in outputs["galleries"]]
    if galleries:
        write_gallery(out, galleries, caveat)

    title = f"Study reproduction: profile {result.profile}"
    md = [f"# {title}", ""]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>culturalstyle study: {html.escape(result.profile)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if caveat:
        md += [f"> **⚠ {caveat}**", ""]
        parts.append(f"<div class='caveat' id='caveat'>⚠ {html.escape(caveat)}</div>")

    toc = [("featured", "Key figures")] if chosen else []
    toc += [(nb.name, f"{t}") for nb, _, _, t, _ in sections]
    toc += [("gallery", "Translated images (gallery)")] if galleries else []
    toc += [("run", "Run details")]
    md += ["## Contents", ""] + [f"- [{text}](#{anchor})" for anchor, text in toc] + [""]
    parts.append("<nav class='toc'><b>Contents</b><ol>")
    for anchor, text in toc:
        parts.append(f"<li><a href='#{html.escape(anchor)}'>{html.escape(text)}</a></li>")
    parts.append("</ol></nav>")

    if chosen:
        md += ["<a id='featured'></a>", "## Key figures", ""]
        parts.append("<h2 id='featured'>Key figures</h2><div class='thumbs'>")
        for rel in chosen:
            caption = caption_for(rel.stem, _captions(out, rel.parts[0]), rel.name)
            md.append(f"- [{rel.stem}]({rel.as_posix()}): {caption}")
            parts.append(_figure_html(out, rel, caption))
        parts.append("</div>")
        md.append("")

    for nb, outputs, captions, nb_title, intro in sections:
        status = nb.status + (f" in {nb.seconds:.1f} s" if nb.seconds is not None else "")
        counts = f"{len(outputs['figures'])} figures, {len(outputs['tables'])} tables"
        executed = f"notebooks/{nb.name}.ipynb"
        md += [f"<a id='{nb.name}'></a>", f"## {nb_title}", ""]
        if intro:
            md += [intro, ""]
        md.append(f"Status: **{status}** ({counts}).")
        css = " class='failed'" if nb.status == "failed" else ""
        open_attr = " open"  # figures visible on arrival; a click folds a notebook away
        parts.append(
            f"<details id='{html.escape(nb.name)}'{open_attr}><summary>{html.escape(nb_title)} "
            f"<span class='note'>· {html.escape(status)} · {counts}</span></summary>"
        )
        if intro:
            parts.append(f"<p>{html.escape(intro)}</p>")
        parts.append(f"<p{css}>Status: <b>{html.escape(status)}</b>")
        if nb.executed is not None:
            md[-1] += f" Executed notebook: [{executed}]({executed})."
            parts.append(f" · executed notebook: <a href='{executed}'>{html.escape(executed)}</a>")
        parts.append("</p>")
        if nb.error:
            md += ["", f"Error: `{nb.error}`"]
            parts.append(f"<pre class='failed'>{html.escape(nb.error)}</pre>")
        if outputs["figures"]:
            md += ["", "Figures:", ""]
            parts.append("<h3>Figures</h3><div class='thumbs'>")
            for rel in outputs["figures"]:
                caption = caption_for(rel.stem, captions, rel.name)
                pdf = rel.with_suffix(".pdf")
                pdf_md = f" ([PDF]({pdf.as_posix()}))" if (out / pdf).exists() else ""
                md.append(f"- [{rel.stem}]({rel.as_posix()}){pdf_md}" + (f": {caption}" if caption else ""))
                parts.append(_figure_html(out, rel, caption))
            parts.append("</div>")
        if outputs["tables"]:
            md += ["", f"Tables ({footnote}):", ""]
            parts.append("<h3>Tables</h3>")
            for rel in outputs["tables"]:
                md.append(f"- [{rel.stem}]({rel.as_posix()})")
                preview = _csv_preview(out / rel, footnote)
                link = f"<a href='{rel.as_posix()}'>{html.escape(rel.as_posix())}</a>"
                parts.append(f"<details><summary>{html.escape(rel.stem)}</summary><p>{link}</p>")
                parts.append(preview or "")
                parts.append("</details>")
        if outputs["galleries"]:
            md += [
                "",
                f"Translated images: [{GALLERY_NAME}]({GALLERY_NAME}) ({len(outputs['galleries'])} folders).",
            ]
            parts.append(
                f"<p>Translated images: <a href='{GALLERY_NAME}'>gallery</a> "
                f"({len(outputs['galleries'])} folders)</p>"
            )
        if outputs["other"]:
            md += ["", "Other files:", ""]
            parts.append("<h3>Other files</h3><ul>")
            for rel in outputs["other"]:
                md.append(f"- [{rel.as_posix()}]({rel.as_posix()})")
                parts.append(f"<li><a href='{rel.as_posix()}'>{html.escape(rel.as_posix())}</a></li>")
            parts.append("</ul>")
        md += ["", "Parameters:", "", "| parameter | value |", "|---|---|"]
        md += [f"| {k} | `{_format_value(v)}` |" for k, v in nb.parameters.items()]
        parts.append("<details><summary>Parameters</summary><table class='table'>")
        parts.append("<tr><th>parameter</th><th>value</th></tr>")
        parts += [
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(_format_value(v))}</code></td></tr>"
            for k, v in nb.parameters.items()
        ]
        parts.append("</table></details></details>")
        md.append("")

    if galleries:
        n_images = sum(len(_images(out / g)) for g in galleries)
        md += ["<a id='gallery'></a>", "## Translated images", ""]
        md += [f"{n_images} images in {len(galleries)} folders: [{GALLERY_NAME}]({GALLERY_NAME}).", ""]
        parts.append(
            f"<h2 id='gallery'>Translated images</h2><p>{n_images} images in {len(galleries)} folders: "
            f"<a href='{GALLERY_NAME}'>open the gallery</a>.</p>"
        )
    md += ["<a id='run'></a>", "## Run details", ""]
    md += [f"Created {created} in `{out}`. Total time: {result.seconds:.1f} s.", ""]
    md += [
        "Run record: [run_record.json](run_record.json) · parameters: [parameters.yaml](parameters.yaml)",
        "",
    ]
    parts.append(
        f"<h2 id='run'>Run details</h2><p>Created {created} in <code>{html.escape(str(out))}</code>. "
        f"Total time {result.seconds:.1f} s. <a href='run_record.json'>run record</a> · "
        "<a href='parameters.yaml'>parameters</a></p>"
    )
    parts.append("</body></html>")
    md_path = atomic_write_text(out / "index.md", "\n".join(md) + "\n")
    html_path = atomic_write_text(out / "index.html", "\n".join(parts) + "\n")
    return html_path, md_path


def write_gallery(out: Path, folders: Sequence[Path], caveat: str = "") -> Path:
    """One page with every image of `folders` (relative to `out`), grouped by folder, each labelled with
    its file name and, when the folder's manifest says so, the image it was translated from."""
    import pandas as pd

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>culturalstyle: translated images</title>",
        f"<style>{STYLE}</style></head><body><h1>Translated images</h1>",
        "<p><a href='index.html'>back to the index</a></p>",
    ]
    if caveat:
        parts.append(f"<div class='caveat'>⚠ {html.escape(caveat)}</div>")
    for rel in folders:
        folder = out / rel
        images = _images(folder)
        sources: dict[str, str] = {}
        manifest = folder / "manifest.csv"
        if manifest.exists():
            try:
                df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
                if {"path", "source_image_id"} <= set(df.columns):
                    sources = dict(zip(df["path"], df["source_image_id"]))
            except Exception:  # noqa: BLE001 - an unreadable manifest only costs the labels
                sources = {}
        parts.append(f"<details open><summary>{html.escape(rel.as_posix())} ({len(images)} images)</summary>")
        if manifest.exists():
            parts.append(
                f"<p><a href='{html.escape((rel / 'manifest.csv').as_posix())}'>manifest.csv</a></p>"
            )
        parts.append("<div class='thumbs gallery'>")
        for image in images:
            src = html.escape((rel / image.name).as_posix())
            label = html.escape(image.name)
            if image.name in sources:
                label += f"<br>from {html.escape(sources[image.name])}"
            parts.append(
                f"<figure style='width:132px'><a href='{src}'><img src='{src}' loading='lazy' alt=''></a>"
                f"<figcaption>{label}</figcaption></figure>"
            )
        parts.append("</div></details>")
    parts.append("</body></html>")
    return atomic_write_text(out / GALLERY_NAME, "\n".join(parts) + "\n")
