"""One store's files, no pixels: where each file lives, metadata.yaml, chunk indexes and
their cache, journals, extra data, checksums, whole-or-nothing writes, local or fsspec
storage. Imports nothing of framestore but ``errors``."""
