"""Synthetic frames and recordings for testing pipelines (framestore's own tests use them).

``testing.frames``: frames that carry their own frame number (``synthetic_frame``,
``read_barcode``), frame numbers with gaps and times; ``testing.miniscope``: a wireless
miniscope session recorded by several receivers that each lose different packets.
"""
