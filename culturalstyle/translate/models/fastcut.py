"""FastCUT (Park et al., ECCV 2020): CUT with lambda_NCE = 10, no identity NCE term, flip equivariance.

About half of CUT's generator work per step (no identity image) and no second generator or cycle as in
CycleGAN. Every setting can still be overridden (`lambda_nce`, `nce_idt`, `flip_equivariance`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import register_translator
from .cut import CUT


@register_translator("fastcut")
class FastCUT(CUT):
    defaults: ClassVar[dict[str, Any]] = {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True}
