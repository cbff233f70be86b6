"""Cross-culture statistics in style space; every function returns tidy pandas DataFrames with `n` columns.

- `clusters`: cluster quality of the culture labels (silhouette, Davies-Bouldin, ARI/NMI of k-means);
- `classification`: leave-artist-out culture classification (grouped by artist, so a classifier cannot win by
  recognising an artist it saw in training) with artist-bootstrap confidence intervals and confusion matrices;
- `distances`: between-culture distances (energy distance, MMD, distance between means / mean Gram matrices)
  with permutation-test p-values and bootstrap CIs, Holm adjustment, within-culture spread;
- `neighbours`: nearest-neighbour retrieval and the culture mix of the neighbours;
- `comparison`: all of the above for one style space in one call (`compare_style_space`).

Everything is importable from here (`stats.leave_artist_out`, ...), as it was when this was one module.
"""

from .classification import (
    METHODS,
    ClassificationResult,
    CultureClassifier,
    classify_by_layer,
    combine_results,
    leave_artist_out,
)
from .clusters import cluster_quality
from .common import _as_matrix, _labels, artist_groups  # noqa: F401 - the private checks: `conformal` uses them
from .comparison import StyleSpaceComparison, compare_style_space
from .distances import (
    DISTANCES,
    between_culture_distances,
    coordinates_from_kernel,
    distance_matrix,
    euclidean_distances,
    gram_frobenius_vectors,
    holm,
    isometric_coordinates,
    linear_kernel,
    mean_gram_distances,
    median_bandwidth,
    within_culture_spread,
)
from .neighbours import nearest_neighbours, neighbour_culture_rates

__all__ = [
    "DISTANCES",
    "METHODS",
    "ClassificationResult",
    "CultureClassifier",
    "StyleSpaceComparison",
    "artist_groups",
    "between_culture_distances",
    "classify_by_layer",
    "cluster_quality",
    "combine_results",
    "compare_style_space",
    "coordinates_from_kernel",
    "distance_matrix",
    "euclidean_distances",
    "gram_frobenius_vectors",
    "holm",
    "isometric_coordinates",
    "leave_artist_out",
    "linear_kernel",
    "mean_gram_distances",
    "median_bandwidth",
    "nearest_neighbours",
    "neighbour_culture_rates",
    "within_culture_spread",
]
