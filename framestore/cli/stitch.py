"""``framestore-stitch INPUT... -o OUTPUT``: stitch redundant receivers into one store."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .._disk.metadata import METADATA_FILENAME
from ..core.reader import StoreReader
from ..errors import FramestoreError, StoreExistsError, StoreWarning
from .options import add_parallel_arguments
from .progress import progress_bar

# receivers' videos are imported into a scratch store for the run: lossless and the fastest
# to write and read back of the compressed formats (Ut Video: ~5x FFV1 both ways)


def _open_input(path: Path, workdir: Path) -> StoreReader:
    from ..ingest.miniscope import SCRATCH_FORMAT, import_recording

    if (path / METADATA_FILENAME).is_file() or path.name == METADATA_FILENAME:
        return StoreReader(path)
    store = workdir / path.stem  # imported into a scratch directory, never beside the input
    import_recording(path, store, fmt=SCRATCH_FORMAT)
    return StoreReader(store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="framestore-stitch",
        description="Stitch redundant recordings of one device (stores, or receiver videos "
        "with their buffer CSV beside them) into one store of the best copies.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--format", default="ffv1/mkv", help="output format (lossless default: ffv1/mkv)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT if it is a store")
    parser.add_argument("--by", choices=("frame_number", "frame_time"), default="frame_number")
    parser.add_argument(
        "--debug-video", type=Path, help="also write the candidates side by side (MJPEG .avi)"
    )
    add_parallel_arguments(parser)
    args = parser.parse_args(argv)
    from ..sessions.stitch import write_stitched

    try:
        if args.output.exists() and not args.force:
            raise StoreExistsError(f"{args.output}: already exists; pass --force to replace it")
        # a cluster's workers read the imported receivers: keep them beside the output
        # (which they must see too), not in this machine's temp directory
        scratch_dir = args.output.resolve().parent if args.scheduler else None
        if scratch_dir is not None:
            scratch_dir.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix=".framestore-stitch-", dir=scratch_dir) as tmp,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", StoreWarning)
            with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:  # decoding releases the GIL
                opened = list(pool.map(lambda p: _open_input(p, Path(tmp)), args.inputs))
            stores = {p.stem: store for p, store in zip(args.inputs, opened, strict=True)}

            summary = write_stitched(
                stores,
                args.output,
                fmt=args.format,
                by=args.by,
                overwrite=args.force,
                progress=progress_bar("stitching"),
                debug_video=args.debug_video,
                workers=args.workers,
                scheduler=args.scheduler,
            )
    except (FramestoreError, OSError, ValueError) as exc:
        print(f"framestore-stitch: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: stitched from {len(stores)} inputs (scores in {args.output / 'scores.csv'})")
    for line in summary.lines():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
