"""Translator models, registered by name: `TRANSLATORS[config.method]` builds one for the engine.

A new method is one file here that subclasses `Translator` and is decorated with
`@register_translator("name")` (and imported below so that the registry knows it).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Batch, ModelContext, Translator

TRANSLATORS: dict[str, type[Translator]] = {}


def register_translator(name: str) -> Callable[[type[Translator]], type[Translator]]:
    """Class decorator: make a Translator subclass available as `TrainConfig.method = name`."""

    def decorate(cls: type[Translator]) -> type[Translator]:
        if name in TRANSLATORS and TRANSLATORS[name] is not cls:
            raise ValueError(
                f"a translator named {name!r} is already registered ({TRANSLATORS[name].__name__})"
            )
        cls.name = name
        TRANSLATORS[name] = cls
        return cls

    return decorate


def translator_class(method: str) -> type[Translator]:
    if method not in TRANSLATORS:
        raise ValueError(f"unknown translator method {method!r}; registered: {', '.join(TRANSLATORS)}")
    return TRANSLATORS[method]


from . import cut, cyclegan, fastcut  # noqa: E402,F401  (registration)

__all__ = ["TRANSLATORS", "Batch", "ModelContext", "Translator", "register_translator", "translator_class"]
