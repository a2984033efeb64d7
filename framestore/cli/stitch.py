"""``framestore-stitch INPUT... -o OUTPUT``: stitch redundant receivers into one store."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._disk.layout import SCRATCH_DIR
from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import refuse_link
from ..codecs.cores import usable_cores
from ..core.reader import StoreReader
from ..errors import StoreExistsError, StoreWarning
from .console import add_verbose_argument, refuse_existing, run
from .options import add_parallel_arguments
from .progress import add_progress_argument, progress_bar

# receivers' videos are imported into a scratch store for the run: lossless and the fastest
# to write and read back of the compressed formats (Ut Video: ~5x FFV1 both ways)


def _open_input(path: Path, scratch: Path) -> StoreReader:
    from ..ingest.miniscope import SCRATCH_FORMAT, import_recording

    if (path / METADATA_FILENAME).is_file() or path.name == METADATA_FILENAME:
        return StoreReader(path)
    import_recording(path, scratch, fmt=SCRATCH_FORMAT)  # never beside the input
    return StoreReader(scratch)


def source_names(paths: list[Path]) -> list[str]:
    """Each input's name: its file stem (a store's directory name), with as many of its
    parent folders as it takes to tell the inputs apart (``rxA/receiver0``)."""
    parts = []
    for path in paths:
        path = path.absolute()
        if path.name == METADATA_FILENAME:
            path = path.parent
        parts.append([*path.parent.parts[1:], path.stem])
    depth = [1] * len(paths)
    while True:
        names = ["/".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        clashes = {n for n, count in Counter(names).items() if count > 1}
        if not clashes:
            return names
        for k, name in enumerate(names):
            if name in clashes:
                if depth[k] == len(parts[k]):
                    raise ValueError(f"{paths[k]}: given more than once")
                depth[k] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="framestore-stitch",
        description="Stitch redundant recordings of one device (stores, or receiver videos "
        "with their buffer CSV beside them) into one store of the best copies.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="a receiver's video (its buffer CSV beside it, same stem) or a store; two or more",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, help="the store to write")
    parser.add_argument("--format", default="ffv1/mkv", help="output format (lossless default: ffv1/mkv)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT if it is a store")
    parser.add_argument(
        "--by",
        choices=("frame_number", "frame_time"),
        default="frame_number",
        help="align the inputs by the device's frame number (default) or by receive time",
    )
    parser.add_argument(
        "--debug-video",
        type=Path,
        metavar="FILE",
        help="also write the candidates side by side, differences in red (MJPEG .avi)",
    )
    parser.add_argument(
        "--drop-damaged",
        action="store_true",
        help="leave out frames whose every copy the damage detector flags (listed in dropped.csv)",
    )
    add_parallel_arguments(parser)
    add_progress_argument(parser)
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if args.debug_video and (args.scheduler or args.workers not in (None, 1)):
        parser.error("--debug-video is written by a serial run only: leave out --scheduler, or --workers 1")
    return run("framestore-stitch", lambda: _stitch(args), verbose=args.verbose)


def _stitch(args: argparse.Namespace) -> int:
    from ..sessions.stitch import write_stitched

    refuse_existing(args.output, args.force)
    names = source_names(args.inputs)
    if os.path.lexists(args.output) and not args.output.is_dir():
        raise StoreExistsError(f"{args.output}: exists and is not a directory")
    # receivers' videos are imported inside the output (which a cluster's workers see
    # too), so a killed run leaves nothing elsewhere: recover or a rerun removes them
    made = not os.path.lexists(args.output)
    tmp = args.output / SCRATCH_DIR
    refuse_link(tmp)
    shutil.rmtree(tmp, ignore_errors=True)  # a killed run's
    tmp.mkdir(parents=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StoreWarning)
            scratch = [tmp / f"{k:03d}-{p.stem}" for k, p in enumerate(args.inputs)]
            with ThreadPoolExecutor(max_workers=usable_cores()) as pool:  # decoding releases the GIL
                opened = list(pool.map(_open_input, args.inputs, scratch))
            stores = dict(zip(names, opened, strict=True))

            summary = write_stitched(
                stores,
                args.output,
                fmt=args.format,
                by=args.by,
                overwrite=args.force,
                progress=progress_bar("stitching", show=args.progress),
                debug_video=args.debug_video,
                workers=args.workers,
                scheduler=args.scheduler,
                drop_damaged=args.drop_damaged,
            )
    except BaseException:
        if made:
            shutil.rmtree(args.output, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.output}: stitched from {len(stores)} inputs (scores in {args.output / 'scores.csv'})")
    for line in summary.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
