"""Helpers shared by the tests (``tests/`` is on ``sys.path`` as conftest's directory).

``media``: synthetic recordings written in every format; ``oracle``: the full sequential
decode every read is checked against; ``contract``: the read contract every kind of store
source runs through; ``sources``: those sources, each with its oracle; ``crash``: writers
killed mid-recording; ``imgstore_stores``: stores written by imgstore itself;
``receivers``: miniscope receiver recordings imported into stores; ``workers``: readers
inherited by forked worker processes; ``range_server``: an HTTP server with byte ranges;
``xdisplay``: a private X server. ``crash_writer`` also runs as a script (by path) in the
processes the crash tests kill.
"""
