"""Beam PTransforms, one per stage of DESIGN.md, and the pipelines that chain them."""
