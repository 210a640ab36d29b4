"""Vectorised mock landing data for the customer 360 product (see `generate_landing`)."""

from fs_assets.generator.landing import GenerationStats, generate_landing

__all__ = ["GenerationStats", "generate_landing"]
