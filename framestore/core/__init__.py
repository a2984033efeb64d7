"""The store objects: the reader (also of a store being written: ``live``), the writer,
the imgstore/Motif dialect, and the readers workers open for themselves (``to_dask``).
Built on ``_disk`` and ``codecs``."""
