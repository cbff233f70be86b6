#!/usr/bin/env python
"""Rebuild the bundled sample corpus `data/sample/` from the shared art folder.

    python scripts/build_sample_corpus.py --source ../shared/data/art --out data/sample [--force]

Takes every culture with at least `--min-images` images plus the content photos, decodes each image with
the package's robust loader, downscales it to at most 512 px on the long side, re-encodes it as JPEG
(quality 85), and writes `manifest.csv` (provenance and licence columns kept; sha256, width, height and
pHash of the shipped file), an artist-disjoint train/test split (seed 0; content photos get split
"content"), a dataset card `README.md` whose count tables are exactly `culturalstyle corpus summary`'s
output, and a run record. The output is built in a temporary folder and swapped in at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from culturalstyle import runs  # noqa: E402
from culturalstyle.cache import sha256_file  # noqa: E402
from culturalstyle.corpus import (  # noqa: E402
    CONTENT_SPLIT,
    NEAR_DUPLICATE_BITS,
    Corpus,
    find_duplicates,
    format_summary,
    make_splits,
    markdown_table,
    near_duplicate_pairs,
    phash,
)
from culturalstyle.images import load_image  # noqa: E402

CONTENT_CULTURE = "content_photo"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO.parent / "shared" / "data" / "art",
        help="folder holding manifest.csv and <culture>/ image folders",
    )
    parser.add_argument("--out", type=Path, default=REPO / "data" / "sample")
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("--min-images", type=int, default=20, help="smallest culture to include")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Corpus:
    source_manifest = args.source / "manifest.csv"
    src = pd.read_csv(source_manifest, dtype=str, keep_default_na=False)
    counts = src["culture"].value_counts()
    cultures = sorted(c for c, n in counts.items() if n >= args.min_images and c != CONTENT_CULTURE)
    keep = src[src["culture"].isin(cultures + [CONTENT_CULTURE])].sort_values(["culture", "file"])
    print(f"cultures with >= {args.min_images} images: {cultures} (+ {CONTENT_CULTURE})")

    out = args.out
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SystemExit(f"{out} exists and is not empty; pass --force to rebuild it")
    staging = out.with_name(out.name + ".building")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)

    rows = []
    for record in keep.itertuples(index=False):
        stem = Path(record.file).stem
        rel = f"{record.culture}/{stem}.jpg"
        img = load_image(args.source / record.file, max_side=args.max_side, min_side=32)
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target, format="JPEG", quality=args.quality, optimize=True)
        rows.append(
            {
                "image_id": f"{record.culture}/{stem}",
                "path": rel,
                "culture": record.culture,
                "artist": record.artist,
                "title": record.title,
                "date": record.date,
                "source": record.source,
                "license": record.license_note,
                "split": CONTENT_SPLIT if record.culture == CONTENT_CULTURE else "",
                "sha256": sha256_file(target),
                "width": img.width,
                "height": img.height,
                "phash": phash(img),
                "artist_full": record.artist_full,
            }
        )
    corpus = make_splits(
        Corpus(pd.DataFrame(rows), staging), test_fraction=args.test_fraction, seed=args.seed
    )
    corpus.save(staging)
    (staging / "README.md").write_text(dataset_card(corpus, args), encoding="utf-8")
    runs.write_record(
        staging,
        kind="sample_corpus",
        config={k: str(v) for k, v in vars(args).items()},
        seed=args.seed,
        inputs={
            "source_manifest_sha256": sha256_file(source_manifest),
            "manifest_hash": corpus.manifest_hash(),
        },
    )
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return Corpus.load(out)


def licence_group(note: str) -> str:
    """A licence note without its per-image details (death dates, URLs, holders, pixel sizes)."""
    note = re.sub(r" \((?:d\.|artist d\.|\d|pre-|Yuan|Southern|Jin)[^)]*\)", "", note)
    note = re.sub(r" \(https?://[^)]*\)", "", note)
    note = re.sub(r"; holder [^;]*", "", note)
    return re.sub(r"; repo-made \d+px web derivative", "", note)


def test_composition(corpus: Corpus) -> str:
    """One generated line per culture: test size and the artists in it (so the card stays true on rebuild)."""
    lines = []
    art = corpus.df[corpus.df["split"] != CONTENT_SPLIT]
    for culture, group in art.groupby("culture"):
        test = group[group["split"] == "test"]
        artists = test["artist"].value_counts()
        names = ", ".join(f"{a} ({n})" for a, n in artists.items())
        lines.append(
            f"- `{culture}`: {len(test)} of {len(group)} images ({len(test) / len(group):.0%}), "
            f"{len(artists)} artist(s): {names}"
        )
    return "\n".join(lines)


def dataset_card(corpus: Corpus, args: argparse.Namespace) -> str:
    df = corpus.df
    dups = find_duplicates(corpus)
    licences = (
        df.assign(license=df["license"].map(licence_group))
        .groupby(["culture", "license"])
        .size()
        .rename("n_images")
        .reset_index()
    )
    size_mb = sum((corpus.root / p).stat().st_size for p in df["path"]) / 1e6
    closest = min((d for _, _, d in near_duplicate_pairs(df["phash"].tolist(), 20)), default=None)
    closest_text = (
        f"the closest two images are {closest} bits apart"
        if closest is not None
        else "no pair within 20 bits"
    )
    dup_text = (
        f"none found (exact sha256, or 64-bit pHash within {NEAR_DUPLICATE_BITS} bits; {closest_text})."
        if dups.empty
        else f"{len(dups)} pairs (make_splits keeps each pair on one side):\n\n{markdown_table(dups)}"
    )
    return f"""# Sample corpus (bundled with culturalstyle)

A small, public-domain, culture-labelled art corpus for tests, demos and the smoke version of the study.
Built by `python scripts/build_sample_corpus.py --source ../shared/data/art --out data/sample --force`
from the shared art collection (see its README for how it was collected). Do not edit by hand: rebuild.

- **Images**: {len(df)} JPEGs (quality {args.quality}), at most {args.max_side} px on the long side, {size_mb:.1f} MB in all,
  laid out as `<culture>/<file>.jpg`; `manifest.csv` paths are relative to this folder.
- **Cultures**: every culture of the source with at least {args.min_images} images, plus `content_photo`
  (photographs used as content images for stylisation demos; not art, not a culture to compare).
- **Manifest columns**: `image_id, path, culture, artist, title, date, source, license, split, sha256, width,
  height` (the corpus contract), plus `phash` (64-bit DCT perceptual hash, hex) and `artist_full` (the artist
  as the source gave it). `artist` is the normalised name used for grouping. `source` (repository@commit:path
  or package==version:path) and `license` (the source's licence note) must travel with any copy.
  `sha256`, `width`, `height` describe the shipped (downscaled) files, not the originals.

## Splits

`split` is `train`/`test` from `culturalstyle.corpus.make_splits(test_fraction={args.test_fraction},
seed={args.seed})`: stratified by culture, **artist-disjoint** (every known artist is wholly in one split;
unknown artists are singletons) and duplicate-safe. Content photos have split `{CONTENT_SPLIT}` and take no
part in splitting. Because whole artists move together, a culture with few prolific artists gets a test share
that differs from {args.test_fraction:.0%} and is made of its *other* artists (see the bias notes).

## What each test split contains

Artist-disjoint splits put whole artists on one side, so a test split can be a few artists only:

{test_composition(corpus)}

## Counts

These tables are exactly what `culturalstyle corpus summary data/sample` prints (a test checks it).

{format_summary(corpus)}
## Licences

Every artwork is in the public domain (artists dead for more than 100 years; faithful reproductions of
two-dimensional works); the content photos are public domain or CC0. The licence notes grouped (death dates,
URLs, holders and pixel sizes removed; the full per-image note is in the `license` column):

{markdown_table(licences)}

## Duplicates

{dup_text}

## Known biases — say so wherever results are reported

- **Ukiyo-e** is dominated by two landscape series: Hiroshige's *Fifty-three Stations of the Tōkaidō* (Hōeidō edition) and
  Hokusai's *Thirty-six Views of Mount Fuji*. The rest are a handful of figure/genre prints by six other
  artists. Because splits are artist-disjoint, both series sit on one side of the split and the ukiyo-e test
  images are the other artists' prints: ukiyo-e test accuracy measures transfer to *other* ukiyo-e artists,
  and a "ukiyo-e style" learnt here is largely "Hiroshige/Hokusai landscape style".
- **Impressionism** is six painters (Renoir, Monet, Degas, Manet, Gauguin, Van Gogh), pre-1900 works,
  Impressionism and Post-Impressionism mixed; with artist-disjoint splits its test split is one or two
  painters (see above), so impressionism test results speak about those painters.
- **Chinese ink** photographs often include the silk/paper tone, mountings, seals and inscriptions; a
  classifier can separate this culture by those cues rather than by brushwork. Most files are web derivatives
  made by the source repository (their licence notes give widths of about 300 to 960 px).
- **Renaissance** is broad: Italian and Northern painting from the 1420s to c.1600 (plus one proto-Renaissance
  Giotto), 40+ artists, several workshop/regional attributions ("Flemish", "Netherlandish") used as artist
  labels.
- Reproduction sources differ by culture (museum scans vs. web images), so colour calibration, JPEG history
  and resolution are confounded with culture. Cultures have different sizes; report per-culture `n`.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    corpus = build(args)
    size_mb = sum(p.stat().st_size for p in corpus.paths()) / 1e6
    print(format_summary(corpus))
    print(f"wrote {len(corpus)} images ({size_mb:.1f} MB) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
