"""Moved to `culturalstyle.metrics.controls`; this module keeps the old import path working."""

from .metrics.controls import KINDS, NOISE, PIXEL_SHUFFLED, ROLE, control_image, negative_control

__all__ = ["NOISE", "PIXEL_SHUFFLED", "KINDS", "ROLE", "control_image", "negative_control"]
