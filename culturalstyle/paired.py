"""Moved to `culturalstyle.metrics.paired`; this module keeps the old import path working."""

from .metrics.paired import fid_difference, kid_difference, polynomial_mmd2

__all__ = ["fid_difference", "kid_difference", "polynomial_mmd2"]
