"""HintQ: nightly precomputed query recommendations (u2q, x2q) for e-commerce."""
__version__ = "0.1.0"
