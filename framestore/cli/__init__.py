"""The command-line tools: ``framestore``, ``framestore-stitch``, the demo and progress bars.
Parse, call the library, print."""
