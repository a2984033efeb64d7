"""Several stores of one session: alignment, datasets, stitching redundant receivers."""
