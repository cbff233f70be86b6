"""culturalstyle: a research toolkit for studying how art styles differ across cultures."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("culturalstyle")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

__all__ = ["__version__"]
