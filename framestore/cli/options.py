"""Command-line options shared by several commands."""

from __future__ import annotations

import argparse


def add_parallel_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--scheduler`` for a command that runs chunk-parallel."""
    parser.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core; 1: serial)"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on this Dask cluster instead (tcp://HOST:PORT)"
    )


def add_times_argument(parser: argparse.ArgumentParser) -> None:
    """``--times FILE``: the frame times of a plain video file."""
    parser.add_argument(
        "--times",
        metavar="FILE",
        help="the frame times of a plain video file (.npy, or CSV with frame_time[, frame_number]); "
        "default: the container's timestamps in seconds",
    )
