"""The ``framestore`` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .codecs import DEFAULT_FORMAT, get_supported_formats
from .errors import FramestoreError
from .parallel import add_parallel_arguments


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, run_stitch_demo

    run_demo(args.dir, args.format, args.frames)
    print()
    run_stitch_demo(args.dir)
    return 0


def _info(args: argparse.Namespace) -> int:
    from . import new_for_filename

    with new_for_filename(args.path) as store:
        times = store.frame_times
        print(f"store     {store.path}")
        print(f"format    {store.format}, chunksize {store.chunksize}, complete: {store.is_complete}")
        print(f"frames    {len(store)} of {store.image_shape} {store.dtype}")
        if len(store):
            print(f"numbers   {store.frame_min} .. {store.frame_max}")
            start = store.convert_frame_time_to_datetime(times[0])
            print(f"time      {start:%Y-%m-%d %H:%M:%S.%f} {start.tzname()}, {times[-1] - times[0]:.3f} s")
        print(f"metadata  {store.user_metadata}")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from .recover import recover

    report = recover(args.path)
    if not report.chunks:
        print(f"{report.path}: nothing to recover")
    for n, frames in report.chunks.items():
        print(f"{report.path}: chunk {n:06d} finished from its journal, {frames} frames")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert

    def progress(done: int, total: int) -> None:
        print(f"\r{args.dst}: {done}/{total} frames ({100 * done // total}%)", end="", file=sys.stderr)

    convert(
        args.src,
        args.dst,
        args.format,
        chunksize=args.chunksize,
        overwrite=args.force,
        progress=progress,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(file=sys.stderr)
    print(f"{args.src} -> {args.dst} ({args.format})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="framestore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="write a synthetic store and read it back; stitch a synthetic 3-receiver recording"
    )
    demo.add_argument("--dir", type=Path, help="where to write the demo store (default: a temp dir)")
    demo.add_argument("--format", default=DEFAULT_FORMAT, choices=get_supported_formats())
    demo.add_argument("--frames", type=int, default=300)
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="describe a store")
    info.add_argument("path", type=Path)
    info.set_defaults(func=_info)
    convert = sub.add_parser(
        "convert", help="rewrite a store (imgstore's too) in another format, keeping all metadata"
    )
    convert.add_argument("src", type=Path)
    convert.add_argument("dst", type=Path)
    convert.add_argument("--format", default=DEFAULT_FORMAT, help=f"default {DEFAULT_FORMAT}")
    convert.add_argument("--chunksize", type=int, help="default: the source's")
    convert.add_argument("--force", action="store_true", help="replace DST if it is a store")
    add_parallel_arguments(convert)
    convert.set_defaults(func=_convert)
    recover = sub.add_parser("recover", help="finish the chunks a killed writer left open")
    recover.add_argument("path", type=Path)
    recover.set_defaults(func=_recover)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FramestoreError, OSError) as exc:
        print(f"framestore: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
