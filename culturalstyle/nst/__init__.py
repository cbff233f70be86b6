"""Style-transfer baselines: Gatys optimisation and AdaIN feed-forward, with culture-level style targets.

from culturalstyle import nst
source = nst.style_culture(corpus, "ukiyo_e")             # or nst.style_image(path) / nst.style_images(paths)
result = nst.stylize(content, source, nst.GatysConfig(size=256))          # Gatys
model = nst.AdaIN(); image = model.stylize(content, model.target(source))  # AdaIN
nst.stylize_all(contents, [source], "adain", out_dir)      # a Corpus of translations with provenance
"""

from .adain import AdaIN, AdaINConfig, adain, random_decoder
from .common import pad_to_multiple, preserve_colour, rgb_to_yiq, yiq_to_rgb
from .gatys import Gatys, GatysConfig, GatysResult, stylize
from .run import ContentImage, grid_from_translations, load_contents, make_grid, stylize_all
from .targets import (
    AdaINTarget,
    GramTarget,
    StyleSource,
    adain_target,
    gram_target,
    mix_adain,
    mix_gram,
    parse_style,
    style_culture,
    style_image,
    style_images,
)

__all__ = [
    "AdaIN",
    "AdaINConfig",
    "AdaINTarget",
    "ContentImage",
    "Gatys",
    "GatysConfig",
    "GatysResult",
    "GramTarget",
    "StyleSource",
    "adain",
    "adain_target",
    "grid_from_translations",
    "gram_target",
    "load_contents",
    "make_grid",
    "mix_adain",
    "mix_gram",
    "pad_to_multiple",
    "parse_style",
    "preserve_colour",
    "random_decoder",
    "rgb_to_yiq",
    "style_culture",
    "style_image",
    "style_images",
    "stylize",
    "stylize_all",
    "yiq_to_rgb",
]
