"""HintQ: nightly precomputed query recommendations (u2q, x2q) for e-commerce.

This package is the command line only; README "Where things are" maps the rest.
"""
from pipelines.core.version import __version__

__all__ = ["__version__"]
