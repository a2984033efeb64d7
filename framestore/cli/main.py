"""The ``framestore`` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..codecs import DEFAULT_FORMAT, get_supported_formats
from ..errors import FramestoreError
from .options import add_parallel_arguments


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, run_stitch_demo

    run_demo(args.dir, args.format, args.frames)
    print()
    run_stitch_demo(args.dir)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..tools.info import info, render

    summary = info(args.path)
    print(json.dumps(summary, indent=2, default=str) if args.json else render(summary))
    return 0


def _recover(args: argparse.Namespace) -> int:
    from ..tools.recover import recover

    report = recover(args.path, force_dead=args.force_dead)
    if not report.chunks:
        print(f"{report.path}: nothing to recover")
    for n, frames in report.chunks.items():
        print(f"{report.path}: chunk {n:06d} finished from its journal, {frames} frames")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ..tools.convert import convert
    from ..tools.selection import Selection, parse_roi
    from .progress import progress_bar

    selection = Selection(args.start, args.stop, args.every, parse_roi(args.roi) if args.roi else None)
    convert(
        args.src,
        args.dst,
        args.format,
        selection=selection,
        chunksize=args.chunksize,
        overwrite=args.force,
        progress=progress_bar(f"converting {args.dst}"),
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(f"{args.src} -> {args.dst} ({args.format})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..ingest.video_import import import_videos
    from .progress import progress_bar

    per_source = args.times is not None and len(args.times) > 1
    import_videos(
        args.sources,
        args.dst,
        times=args.times[0] if args.times and not per_source else None,
        source_times=args.times if per_source else None,
        fmt=args.format,
        copy=args.copy,
        chunksize=args.chunksize,
        gray=args.gray or None,
        overwrite=args.force,
        progress=progress_bar(f"importing {args.dst}"),
    )
    how = "original packets" if args.copy else (args.format or DEFAULT_FORMAT)
    print(f"{' + '.join(args.sources)} -> {args.dst} ({how})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..sessions.dataset import store_paths
    from ..tools.verify import verify
    from .progress import progress_bar

    reports = []
    for name, path in store_paths(args.path).items():
        progress = None if args.json or args.quick else progress_bar(f"verifying {name}")
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
    from .progress import progress_bar

    thresholds = Thresholds(**{name: getattr(args, name) for name in _QC_HELP})
    if args.plot is not None:
        try:
            require_matplotlib()
        except ImportError as exc:
            print(f"framestore: error: {exc}", file=sys.stderr)
            return 2
    reports = {}
    for name, store in stores_at(args.path).items():
        progress = None if args.json or args.no_pixels else progress_bar(f"qc {name}")
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

    parser = argparse.ArgumentParser(prog="framestore", description=__doc__)
    parser.set_defaults(error_status=1)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="write a synthetic store and read it back; stitch a synthetic 3-receiver recording"
    )
    demo.add_argument("--dir", type=Path, help="where to write the demo store (default: a temp dir)")
    demo.add_argument("--format", default=DEFAULT_FORMAT, choices=get_supported_formats())
    demo.add_argument("--frames", type=int, default=300)
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="describe a store or a dataset (indexes and metadata only)")
    info.add_argument("path", help="a store, a dataset, or a video file (path or URL)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)
    convert = sub.add_parser(
        "convert", help="rewrite a store (imgstore's too) in another format, keeping all metadata"
    )
    convert.add_argument("src", help="a store or a video file (path or URL)")
    convert.add_argument("dst", type=Path)
    convert.add_argument("--format", default=DEFAULT_FORMAT, help=f"default {DEFAULT_FORMAT}")
    convert.add_argument("--chunksize", type=int, help="default: the source's")
    convert.add_argument("--force", action="store_true", help="replace DST if it is a store")
    moment = (
        "a frame number, #FRAME_INDEX, +SECONDS from the start, HH:MM:SS[.f] local time or an ISO date-time"
    )
    convert.add_argument("--start", help=f"first frame to keep: {moment}")
    convert.add_argument("--stop", help="keep frames before this one (same forms as --start)")
    convert.add_argument("--every", type=int, default=1, help="keep every N-th frame")
    convert.add_argument("--roi", metavar="X,Y,W,H", help="keep only this rectangle of every frame")
    add_parallel_arguments(convert)
    convert.set_defaults(func=_convert)
    imp = sub.add_parser(
        "import",
        help="one store from one or more video files (concatenated in order), re-encoded or "
        "with their original packets (--copy)",
    )
    imp.add_argument("sources", nargs="+", metavar="SRC", help="video files (paths or URLs)")
    imp.add_argument("dst", type=Path, metavar="DST")
    imp.add_argument(
        "--times",
        action="append",
        metavar="FILE",
        help="frame times (.npy, or CSV with frame_time[, frame_number]): once for all frames, or "
        "once per SRC; default: the container's timestamps in seconds",
    )
    how = imp.add_mutually_exclusive_group()
    how.add_argument("--format", help=f"the store's format (default {DEFAULT_FORMAT})")
    how.add_argument("--copy", action="store_true", help="keep the original packets: no re-encoding")
    imp.add_argument("--chunksize", type=int, help="frames per chunk (with --copy: split at keyframes)")
    imp.add_argument("--gray", action="store_true", help="keep the luma plane only (gray cameras in YUV)")
    imp.add_argument("--force", action="store_true", help="replace DST if it is a store")
    imp.set_defaults(func=_import)
    recover = sub.add_parser("recover", help="finish the chunks a killed writer left open")
    recover.add_argument("path", type=Path)
    recover.add_argument(
        "--force-dead",
        action="store_true",
        help="the writer named in the store's .framestore-writing marker is known to be dead",
    )
    recover.set_defaults(func=_recover)
    verify = sub.add_parser(
        "verify",
        help="check that every chunk is present, unchanged since written (checksums) and decodes; "
        "exit 1 naming each damaged file",
    )
    verify.add_argument("path", help="a store, a dataset, or a video file (path or URL)")
    verify.add_argument("--quick", action="store_true", help="check files and checksums only, no decoding")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    add_parallel_arguments(verify)
    verify.set_defaults(func=_verify, error_status=2)
    qc = sub.add_parser(
        "qc",
        help="check frame numbers, timestamps and pixels of a store or of every store of a dataset; "
        "exit 1 when a check fails its threshold",
    )
    qc.add_argument("path", help="a store, a dataset, or a video file (path or URL)")
    qc.add_argument("--json", action="store_true", help="print the results as JSON")
    qc.add_argument("--plot", type=Path, metavar="DIR", help="write PNG plots there (needs matplotlib)")
    qc.add_argument("--no-pixels", action="store_true", help="only the checks that read no pixels")
    add_parallel_arguments(qc)
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
    error_status: int = args.error_status
    try:
        return command(args)
    except (FramestoreError, OSError, ValueError) as exc:
        print(f"framestore: error: {exc}", file=sys.stderr)
        return error_status


if __name__ == "__main__":
    sys.exit(main())
