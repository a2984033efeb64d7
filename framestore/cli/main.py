"""The ``framestore`` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..codecs import DEFAULT_FORMAT, get_supported_formats
from ..errors import StoreNotFoundError
from .console import add_verbose_argument, refuse_existing, run
from .options import add_parallel_arguments
from .progress import add_progress_argument, progress_bar

_Found = TypeVar("_Found")
DESCRIPTION = "Look into, check, convert and repair frame-exact video stores (and imgstore's)."


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, run_stitch_demo

    run_demo(args.dir, args.format, args.frames)
    print()
    run_stitch_demo(args.dir)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..tools.info import info, render

    if not args.path.exists():
        raise StoreNotFoundError(f"{args.path}: no such store or dataset directory")
    summary = info(args.path)
    print(json.dumps(summary, indent=2, default=str) if args.json else render(summary))
    return 0


def _recover(args: argparse.Namespace) -> int:
    from ..tools.recover import recover

    report = recover(args.path)
    if not report.chunks:
        print(f"{report.path}: nothing to recover")
    for n, frames in report.chunks.items():
        print(f"{report.path}: chunk {n:06d} finished from its journal, {frames} frames")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ..tools.convert import convert

    refuse_existing(args.dst, args.force)
    convert(
        args.src,
        args.dst,
        args.format,
        chunksize=args.chunksize,
        overwrite=args.force,
        progress=progress_bar(f"converting {args.dst}", show=args.progress),
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(f"{args.src} -> {args.dst} ({args.format})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..sessions.dataset import store_paths
    from ..tools.verify import verify

    reports = []
    for name, path in _found(store_paths(args.path), args).items():
        progress = None if args.json or args.quick else progress_bar(f"verifying {name}", show=args.progress)
        reports.append(
            verify(
                path, decode=not args.quick, progress=progress, workers=args.workers, scheduler=args.scheduler
            )
        )
    ok = all(r.ok for r in reports)
    if args.json:
        print(json.dumps({"ok": ok, "stores": [r.to_dict() for r in reports]}, indent=2))
    else:
        print("\n\n".join("\n".join(r.lines()) for r in reports))
    return 0 if ok else 1


def _found(stores: dict[str, _Found], args: argparse.Namespace) -> dict[str, _Found]:
    """The stores at ``args.path``; finding none is an error unless ``--allow-empty``."""
    if not stores and not args.allow_empty:
        raise StoreNotFoundError(
            f"{args.path}: no store found (expected a store: a directory with metadata.yaml, or a "
            "dataset: a directory of stores); --allow-empty accepts finding none"
        )
    return stores


_QC_HELP = {
    "max_dropped": "fraction of frames missing from the frame_number sequence",
    "max_misordered": "frame numbers that repeat or go backwards",
    "stall_factor": "a stall is an interval over this many median intervals (per frame-number step)",
    "max_stalls": "stalls",
    "max_time_backwards": "frame times that do not increase",
    "max_drift_ppm": "timestamps against the frame counter at the nominal fps, ppm",
    "fps_tolerance": "relative difference of the measured and nominal fps",
    "dark_level": "a dark frame's mean is below this fraction of full scale",
    "saturated_fraction": "a saturated frame has more than this fraction of pixels at full scale",
    "frozen_level": "a frozen frame's mean absolute change from the previous one is below this",
    "max_dark": "dark frames",
    "max_saturated": "saturated frames",
    "max_frozen": "frozen frames",
    "max_zeroed": "frames with all-zero rows (lost data)",
}


def _qc(args: argparse.Namespace) -> int:
    from ..sessions.dataset import stores_at
    from ..tools.qc import Thresholds, plot, qc, require_matplotlib

    thresholds = Thresholds(**{name: getattr(args, name) for name in _QC_HELP})
    if args.plot is not None:
        try:
            require_matplotlib()
        except ImportError as exc:
            print(f"framestore: error: {exc}", file=sys.stderr)
            return 2
    reports = {}
    for name, store in _found(stores_at(args.path), args).items():
        progress = None if args.json or args.no_pixels else progress_bar(f"qc {name}", show=args.progress)
        reports[name] = report = qc(
            store,
            thresholds,
            pixels=not args.no_pixels,
            progress=progress,
            workers=args.workers,
            scheduler=args.scheduler,
        )
        if args.plot is not None:
            for path in plot(report, args.plot, name):
                print(f"wrote {path}", file=sys.stderr)
    passed = all(r.passed for r in reports.values())
    if args.json:
        print(
            json.dumps({"passed": passed, "stores": {n: r.to_dict() for n, r in reports.items()}}, indent=2)
        )
    else:
        print("\n\n".join("\n".join(r.lines()) for r in reports.values()))
    return 0 if passed else 1


def build_parser() -> argparse.ArgumentParser:
    from ..tools.qc import Thresholds

    common = argparse.ArgumentParser(add_help=False)
    add_verbose_argument(common)
    parser = argparse.ArgumentParser(
        prog="framestore",
        description=DESCRIPTION,
        epilog="'framestore COMMAND --help' describes a command's arguments.",
    )
    parser.set_defaults(error_status=1, verbose=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common])

    demo = command(
        "demo", "write a synthetic store and read it back; stitch a synthetic 3-receiver recording"
    )
    demo.add_argument("--dir", type=Path, help="where to write the demo store (default: a temp dir)")
    demo.add_argument(
        "--format", default=DEFAULT_FORMAT, choices=get_supported_formats(), help="the demo store's format"
    )
    demo.add_argument("--frames", type=int, default=300, help="frames to write (default 300)")
    demo.set_defaults(func=_demo)
    info = command("info", "describe a store or a dataset (indexes and metadata only)")
    info.add_argument("path", type=Path, help="a store, or a dataset (a directory of stores)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)
    convert = command("convert", "rewrite a store (imgstore's too) in another format, keeping all metadata")
    convert.add_argument("src", type=Path, help="the store to read")
    convert.add_argument("dst", type=Path, help="the store to write")
    convert.add_argument("--format", default=DEFAULT_FORMAT, help=f"default {DEFAULT_FORMAT}")
    convert.add_argument("--chunksize", type=int, help="default: the source's")
    convert.add_argument("--force", action="store_true", help="replace DST if it is a store")
    add_parallel_arguments(convert)
    add_progress_argument(convert)
    convert.set_defaults(func=_convert)
    recover = command("recover", "finish the chunks a killed writer left open")
    recover.add_argument("path", type=Path, help="the store a writer left unfinished")
    recover.set_defaults(func=_recover)
    verify = command(
        "verify",
        "check that every chunk is present, unchanged since written (checksums) and decodes; "
        "exit 1 naming each damaged file",
    )
    verify.add_argument("path", type=Path, help="a store, or a dataset (every store in it)")
    verify.add_argument("--quick", action="store_true", help="check files and checksums only, no decoding")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--allow-empty", action="store_true", help="finding no store is not an error")
    add_parallel_arguments(verify)
    add_progress_argument(verify)
    verify.set_defaults(func=_verify, error_status=2)
    qc = command(
        "qc",
        "check frame numbers, timestamps and pixels of a store or of every store of a dataset; "
        "exit 1 when a check fails its threshold",
    )
    qc.add_argument("path", type=Path, help="a store, or a dataset (every store in it)")
    qc.add_argument("--json", action="store_true", help="print the results as JSON")
    qc.add_argument("--plot", type=Path, metavar="DIR", help="write PNG plots there (needs matplotlib)")
    qc.add_argument("--no-pixels", action="store_true", help="only the checks that read no pixels")
    qc.add_argument("--allow-empty", action="store_true", help="finding no store is not an error")
    add_parallel_arguments(qc)
    add_progress_argument(qc)
    defaults = Thresholds()
    for name, text in _QC_HELP.items():
        default = getattr(defaults, name)
        qc.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"{text} (default {default})",
        )
    qc.set_defaults(func=_qc, error_status=2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    return run("framestore", lambda: command(args), verbose=args.verbose, error_status=args.error_status)


if __name__ == "__main__":
    sys.exit(main())
