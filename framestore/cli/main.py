"""The ``framestore`` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from .._disk.storage import is_url
from ..codecs import DEFAULT_FORMAT, get_supported_formats
from ..core.settings import DEFAULT_CHUNKSIZE
from ..errors import StoreNotFoundError
from .console import add_verbose_argument, refuse_existing, run
from .options import add_parallel_arguments, add_times_argument
from .progress import add_progress_argument, progress_bar

_Found = TypeVar("_Found")
DESCRIPTION = "Record, look into, check, convert and repair frame-exact video stores (and imgstore's)."


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo, run_stitch_demo

    with contextlib.ExitStack() as stack:
        root = args.dir
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="framestore-demo-")))
            print(f"demo stores in {root} (removed at the end; --dir DIR keeps them)\n")
        run_demo(root, args.format, args.frames)
        print()
        run_stitch_demo(root)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..tools.info import info, render

    if not is_url(args.path) and not Path(args.path).exists():
        raise StoreNotFoundError(f"{args.path}: no such store, dataset directory or video file")
    summary = info(args.path, times=args.times)
    print(json.dumps(summary, indent=2, default=str) if args.json else render(summary))
    return 0


def _recover(args: argparse.Namespace) -> int:
    from ..tools.recover import recover

    report = recover(args.path, force_dead=args.force_dead)
    if not report.chunks and not report.parts_removed and not report.frames_missing:
        print(f"{report.path}: nothing to recover")
    for n, frames in report.chunks.items():
        print(f"{report.path}: chunk {n:06d} finished from its journal, {frames} frames")
    if report.parts_removed:
        print(f"{report.path}: removed the unfinished parts (or scratch files) of the job that wrote it")
    if report.frames_missing:
        print(
            f"{report.path}: the job that wrote it did not finish: {report.frames_missing} frames "
            f"it meant to write are missing, so the store stays marked unfinished"
        )
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ..tools.convert import convert
    from ..tools.selection import Selection, parse_roi

    refuse_existing(args.dst, args.force)
    selection = Selection(args.start, args.stop, args.every, parse_roi(args.roi) if args.roi else None)
    convert(
        args.src,
        args.dst,
        args.format,
        selection=selection,
        times=args.times,
        chunksize=args.chunksize,
        overwrite=args.force,
        progress=progress_bar(f"converting {args.dst}", show=args.progress),
        workers=args.workers,
        scheduler=args.scheduler,
    )
    print(f"{args.src} -> {args.dst} ({args.format})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..ingest.video_import import import_videos

    refuse_existing(args.dst, args.force)
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
        progress=progress_bar(f"importing {args.dst}", show=args.progress),
    )
    how = "original packets" if args.copy else (args.format or DEFAULT_FORMAT)
    print(f"{' + '.join(args.sources)} -> {args.dst} ({how})")
    return 0


def _record(args: argparse.Namespace) -> int:
    from ..ingest.record import SourceStatus, record

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    show = sys.stderr.isatty() if args.progress is None else args.progress

    def status(sources: list[SourceStatus]) -> None:
        line = " | ".join(s.line() for s in sources)
        print(f"\r{line:<79}", end="", file=sys.stderr, flush=True)

    sources = args.sources or ["0"]
    print(f"recording {', '.join(sources)} -> {args.store} (Ctrl-C stops)", file=sys.stderr)
    try:
        report = record(
            args.store,
            sources,
            fmt=args.format,
            duration=args.duration,
            frames=args.frames,
            fps=args.fps,
            gray=args.gray,
            chunksize=args.chunksize,
            overwrite=args.force,
            on_status=status if show else None,
            stop=stop,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if show:
        print(file=sys.stderr)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


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


def _found(stores: Mapping[str, _Found], args: argparse.Namespace) -> Mapping[str, _Found]:
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
    "max_damaged": "fraction of frames damaged (check pattern or blacked out), judged from their pixels",
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
    for name, store in _found(stores_at(args.path, times=args.times), args).items():
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


def _export_nwb(args: argparse.Namespace) -> int:
    from ..tools.nwb import export_nwb

    refuse_existing(args.output, args.force)
    out = export_nwb(
        args.stores,
        args.output,
        session=args.session,
        imaging=args.imaging,
        behavior=args.behavior,
        copy_video=args.copy_video,
        overwrite=args.force,
        progress=progress_bar(f"writing {args.output}", show=args.progress),
    )
    print(f"{out}: written")
    return 0


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
    demo.add_argument(
        "--dir",
        type=Path,
        help="keep the demo stores here (default: a temporary directory, removed at the end)",
    )
    demo.add_argument(
        "--format", default=DEFAULT_FORMAT, choices=get_supported_formats(), help="the demo store's format"
    )
    demo.add_argument("--frames", type=int, default=300, help="frames to write (default 300)")
    demo.set_defaults(func=_demo)
    info = command("info", "describe a store or a dataset (indexes and metadata only)")
    info.add_argument(
        "path", help="a store, a dataset (a directory of stores), or a video file (path or URL)"
    )
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_times_argument(info)
    info.set_defaults(func=_info)
    convert = command("convert", "rewrite a store (imgstore's too) in another format, keeping all metadata")
    convert.add_argument("src", help="the store to read, or a video file (path or URL)")
    convert.add_argument("dst", type=Path, help="the store to write")
    convert.add_argument("--format", default=DEFAULT_FORMAT, help=f"default {DEFAULT_FORMAT}")
    convert.add_argument("--chunksize", type=int, help="default: the source's")
    convert.add_argument("--force", action="store_true", help="replace DST if it is a store")
    moment = (
        "a frame number, #FRAME_INDEX, +SECONDS from the start, HH:MM:SS[.f] local time or an ISO date-time"
    )
    convert.add_argument("--start", help=f"first frame to keep: {moment}")
    convert.add_argument("--stop", help="keep frames before this one (same forms as --start)")
    convert.add_argument("--every", type=int, default=1, help="keep every N-th frame")
    add_times_argument(convert)
    convert.add_argument("--roi", metavar="X,Y,W,H", help="keep only this rectangle of every frame")
    add_parallel_arguments(convert)
    add_progress_argument(convert)
    convert.set_defaults(func=_convert)
    imp = command(
        "import",
        "one store from one or more video files (concatenated in order), re-encoded or "
        "with their original packets (--copy)",
    )
    imp.add_argument("sources", nargs="+", metavar="SRC", help="video files (paths or URLs)")
    imp.add_argument("dst", type=Path, metavar="DST", help="the store to write")
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
    add_progress_argument(imp)
    imp.set_defaults(func=_import)
    rec = command(
        "record",
        "record cameras, devices, video files or streams into stores until stopped (Ctrl-C or "
        "SIGTERM), --duration or --frames; one store per source",
    )
    rec.add_argument(
        "store", type=Path, metavar="STORE", help="the store (one source) or dataset directory (several)"
    )
    rec.add_argument(
        "--source",
        dest="sources",
        action="append",
        metavar="SRC",
        help="a camera index (0), a device path, a video file or a stream URL (rtsp://, http://); "
        "repeat for several cameras, recorded into STORE/cam0, STORE/cam1, ... (default: camera 0)",
    )
    rec.add_argument("--format", default=DEFAULT_FORMAT, help=f"the format (default {DEFAULT_FORMAT})")
    until = rec.add_mutually_exclusive_group()
    until.add_argument("--duration", type=float, metavar="T", help="stop after T seconds")
    until.add_argument("--frames", type=int, metavar="N", help="stop after N frames from each source")
    rec.add_argument(
        "--fps", type=float, metavar="R", help="the nominal frame rate: asked of cameras; paces a video file"
    )
    rec.add_argument("--gray", action="store_true", help="store color frames as gray")
    rec.add_argument("--chunksize", type=int, default=DEFAULT_CHUNKSIZE, help=f"default {DEFAULT_CHUNKSIZE}")
    rec.add_argument("--force", action="store_true", help="replace STORE if it is a store")
    add_progress_argument(rec)
    rec.set_defaults(func=_record)
    recover = command("recover", "finish the chunks a killed writer left open")
    recover.add_argument("path", type=Path, help="the store a writer left unfinished")
    recover.add_argument(
        "--force-dead",
        action="store_true",
        help="the writer named in the store's .framestore-writing marker is known to be dead",
    )
    recover.set_defaults(func=_recover)
    verify = command(
        "verify",
        "check that every chunk is present, unchanged since written (checksums) and decodes; "
        "exit 1 naming each damaged file",
    )
    verify.add_argument("path", help="a store, a dataset (every store in it), or a video file (path or URL)")
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
    qc.add_argument("path", help="a store, a dataset (every store in it), or a video file (path or URL)")
    qc.add_argument("--json", action="store_true", help="print the results as JSON")
    qc.add_argument("--plot", type=Path, metavar="DIR", help="write PNG plots there (needs matplotlib)")
    qc.add_argument("--no-pixels", action="store_true", help="only the checks that read no pixels")
    qc.add_argument("--allow-empty", action="store_true", help="finding no store is not an error")
    add_times_argument(qc)
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
    nwb = command(
        "export-nwb",
        "write stores (or every store of a dataset) to one NWB file for DANDI: behaviour video "
        "referenced as it is, imaging data written into the file (needs framestore[nwb])",
    )
    nwb.add_argument("stores", nargs="+", metavar="STORE", help="a store or a dataset directory")
    nwb.add_argument("output", type=Path, metavar="OUT.nwb", help="the NWB file to write")
    nwb.add_argument(
        "--session",
        type=Path,
        metavar="YAML",
        help="session metadata: session_description, experimenter, lab, institution, subject, "
        "device, imaging_plane, ...",
    )
    nwb.add_argument(
        "--imaging",
        action="append",
        metavar="NAME",
        help="write this store into the file as imaging data (default: stitched and miniscope stores)",
    )
    nwb.add_argument(
        "--behavior", action="append", metavar="NAME", help="reference this store as behaviour video"
    )
    nwb.add_argument(
        "--copy-video",
        type=Path,
        metavar="DIR",
        help="first write behaviour chunks players do not play (FFV1, UT Video, images...) as H.264 "
        "MP4 stores here (beside OUT.nwb)",
    )
    nwb.add_argument("--force", action="store_true", help="replace OUT.nwb if it exists")
    add_progress_argument(nwb)
    nwb.set_defaults(func=_export_nwb)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    return run("framestore", lambda: command(args), verbose=args.verbose, error_status=args.error_status)


if __name__ == "__main__":
    sys.exit(main())
