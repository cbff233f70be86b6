"""One colour per culture and one colour + marker per method, shared by every figure and the explorer.

A reader who learns "purple triangles are CycleGAN" in one figure must find the same in the next one and in
the interactive explorer, whatever subset of cultures or methods a figure shows. So colours are looked up by
name here, never assigned by position in a figure. Names not registered get a colour from a stable hash of
the name (the same in every figure, possibly shared with another unregistered name); `register_culture` /
`register_method` fix a colour explicitly, e.g. for a new translator or a negative control.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Cultures: the tab10 hues, fixed per name (the bundled sample's cultures and the CycleGAN photo domain).
CULTURE_COLOURS: dict[str, str] = {
    "ukiyo_e": "#1f77b4",
    "renaissance": "#d62728",
    "impressionism": "#ff7f0e",
    "chinese_ink": "#2ca02c",
    "content_photo": "#7f7f7f",
    "photo": "#8c564b",
}
SPARE_CULTURE_COLOURS = ("#9467bd", "#e377c2", "#17becf", "#bcbd22", "#aec7e8", "#98df8a", "#ff9896")


@dataclass(frozen=True)
class MethodStyle:
    """How one method (translator, style-transfer baseline, evaluation baseline or control) is drawn."""

    colour: str
    marker: str  # matplotlib marker
    bokeh_marker: str  # the same shape in bokeh's names
    kind: str  # "translation" | "baseline" | "control": baselines and controls are drawn muted


# Dark, saturated colours that do not occur among the culture colours, each with its own marker shape.
METHOD_STYLES: dict[str, MethodStyle] = {
    "cyclegan": MethodStyle("#6a3d9a", "^", "triangle", "translation"),
    "adain": MethodStyle("#b15928", "s", "square", "translation"),
    "gatys": MethodStyle("#01665e", "D", "diamond", "translation"),
    "shipped": MethodStyle("#e7298a", "*", "star", "translation"),
    "identity": MethodStyle("#737373", "o", "circle", "baseline"),
    "real-target": MethodStyle("#252525", "X", "x", "baseline"),
    "noise": MethodStyle("#bdbdbd", "P", "plus", "control"),
    "pixel-shuffled": MethodStyle("#8c6d31", "v", "inverted_triangle", "control"),
}
SPARE_METHOD_STYLES = (
    MethodStyle("#c51b7d", "p", "hex", "translation"),
    MethodStyle("#35978f", "h", "hex", "translation"),
    MethodStyle("#762a83", "<", "triangle_pin", "translation"),
    MethodStyle("#7f3b08", ">", "square_pin", "translation"),
)


def _stable_index(name: str, n: int) -> int:
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % n


def culture_colour(name: str) -> str:
    """The hex colour of a culture (registered, else a stable hash of the name into the spare colours)."""
    name = str(name)
    if name in CULTURE_COLOURS:
        return CULTURE_COLOURS[name]
    return SPARE_CULTURE_COLOURS[_stable_index(name, len(SPARE_CULTURE_COLOURS))]


def culture_colours(names: object) -> dict[str, str]:
    """`{culture: colour}` for the distinct names in sorted order."""
    return {name: culture_colour(name) for name in sorted({str(n) for n in names})}


def method_key(name: str) -> str:
    """The registered method a label belongs to: `cyclegan-ukiyo_e2renaissance` and `cyclegan:run` are
    `cyclegan`; an unregistered label is its own key."""
    name = str(name)
    if name in METHOD_STYLES:
        return name
    for separator in ("-", ":", "/", " "):
        head = name.split(separator, 1)[0]
        if head in METHOD_STYLES:
            return head
    return name


def method_style(name: str) -> MethodStyle:
    """Colour and marker of a method (registered, else a stable choice among the spare styles)."""
    key = method_key(name)
    if key in METHOD_STYLES:
        return METHOD_STYLES[key]
    return SPARE_METHOD_STYLES[_stable_index(key, len(SPARE_METHOD_STYLES))]


def method_colour(name: str) -> str:
    return method_style(name).colour


def register_culture(name: str, colour: str) -> None:
    """Fix the colour of a culture for every later figure and explorer."""
    CULTURE_COLOURS[str(name)] = colour


def register_method(
    name: str, colour: str, marker: str = "p", bokeh_marker: str = "hex", kind: str = "translation"
) -> MethodStyle:
    """Fix how a method (a new translator, a control such as "noise") is drawn everywhere."""
    if kind not in ("translation", "baseline", "control"):
        raise ValueError(f"kind must be translation, baseline or control, got {kind!r}")
    style = MethodStyle(colour, marker, bokeh_marker, kind)
    METHOD_STYLES[str(name)] = style
    return style
