"""``framestore-view PATH [PATH ...]``: look at stores in a window, or export the view."""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import is_url
from ..cli.console import add_verbose_argument, run
from ..cli.options import add_times_argument
from ..core.reader import Roi, StoreReader
from ..errors import FramestoreError, InvalidArgumentError, StoreNotFoundError, StoreWarning
from ..sessions.align import named_stores
from ..sessions.dataset import Dataset, Segment, store_paths, stores_at

if TYPE_CHECKING:
    from .scene import Scene

_WAIT_POLL = 0.1  # seconds between looks for a recording's first frame

KEYS_HELP = """keys:
  space            play / pause
  left / right     one frame back / forward
  down / up        10 frames back / forward
  PgDn / PgUp      100 frames back / forward
  Home / End       first / last frame (End follows a live recording again)
  g                go to a frame number (type it, Enter; Esc cancels)
  t                go to a time (HH:MM:SS, or seconds from the start)
  s                save the current view as PNG (in --save-dir)
  + / -            play faster / slower
  c                auto contrast on / held at the current range
  d / D            next / previous damaged frame (needs --damage)
  q / Esc          quit
mouse:
  click or drag on the timeline strip (under the status bar) to go there
"""


def display_problem(env: dict[str, str] | None = None) -> str | None:
    """Why no window can be opened here (no X display reachable), or None if one can."""
    env = dict(os.environ) if env is None else env
    display = env.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set"
    match = re.fullmatch(r"(?P<host>[^:]*):(?P<number>\d+)(\.\d+)?", display)
    if match is None:
        return f"DISPLAY={display} is not an X display name"
    host, number = match["host"], int(match["number"])
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(f"/tmp/.X11-unix/X{number}")
        else:
            socket.create_connection((host, 6000 + number), timeout=2).close()
    except OSError as exc:
        return f"cannot reach the X display {display} ({exc.strerror or exc})"
    return None


def _roi(text: str) -> Roi:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y,WIDTH,HEIGHT, got {text!r}") from None
    return x, y, w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framestore-view",
        description="Look at one or several stores (side by side, aligned) in a window, or "
        "export the same view to a PNG contact sheet or an MP4 clip.",
        epilog=KEYS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="stores, dataset directories (all their stores), or video files (paths or URLs)",
    )
    parser.add_argument(
        "--by", choices=("frame_number", "frame_time"), default="frame_number", help="how to align stores"
    )
    parser.add_argument("--tolerance", type=float, help="seconds, for --by frame_time")
    parser.add_argument("--fps", type=float, help="play at this rate instead of the recorded pace")
    parser.add_argument("--roi", type=_roi, metavar="X,Y,W,H", help="show only this rectangle")
    parser.add_argument("--scale", type=float, default=1.0, help="zoom factor (default 1)")
    parser.add_argument(
        "--contrast",
        metavar="auto|full|LOW,HIGH",
        help="display range (default: full for 8-bit, auto for 16-bit)",
    )
    parser.add_argument(
        "--candidates", action="store_true", help="a stitched store: show its source copies beside it"
    )
    parser.add_argument(
        "--damage",
        action="store_true",
        help="find damaged frames first (decodes every frame): marked on the timeline, d / D go there",
    )
    parser.add_argument(
        "--follow",
        action="store_true",
        help="a store being recorded: show each new frame as it comes (space pauses, End follows again)",
    )
    parser.add_argument("--save-dir", type=Path, default=Path("."), help="where s saves PNGs (default .)")
    add_times_argument(parser)
    export = parser.add_argument_group("export (no window)")
    export.add_argument("--export", type=Path, metavar="FILE", help="write a .png contact sheet or .mp4 clip")
    export.add_argument("--start", help="first frame: a frame number, HH:MM:SS, or +SECONDS from the start")
    export.add_argument("--stop", help="last frame (inclusive), as --start")
    export.add_argument("--frames", type=int, default=16, help="views on a contact sheet (default 16)")
    add_verbose_argument(parser)
    return parser


def open_paths(paths: list[str], times: str | None = None) -> tuple[dict[str, StoreReader], list[Segment]]:
    """The stores to show, by name, and the labelled segments of any dataset among
    ``paths`` (a store directory is one store; a dataset directory gives all its stores).
    ``times``: the frame times of the one plain video file ``paths`` names."""
    if times is not None:
        if len(paths) != 1:
            raise InvalidArgumentError("--times gives the frame times of one video file: name only that file")
        return stores_at(paths[0], times=times), []
    readers: list[StoreReader] = []
    segments: list[tuple[StoreReader, Segment]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        for text in paths:
            path = Path(text)
            if not is_url(text) and path.is_dir() and not (path / METADATA_FILENAME).is_file():
                if not store_paths(path):
                    raise StoreNotFoundError(f"{path}: neither a store nor a dataset (no stores in it)")
                dataset = Dataset.from_directory(path)
                readers += dataset.recordings.values()
                segments += [(dataset.recordings[s.recording], s) for s in dataset.segments()]
            else:
                readers.append(StoreReader(text))
    stores = named_stores(readers)
    names = {id(reader): name for name, reader in stores.items()}
    return stores, [replace(s, recording=names[id(r)]) for r, s in segments]


def _position(scene: Scene, option: str, text: str | None, default: int) -> int:
    """The position ``--start``/``--stop`` name; a ValueError naming the option when it
    is not a frame number or time of the recording."""
    if text is None:
        return default
    try:
        return scene.position_of(text, within=True)
    except ValueError as exc:
        raise ValueError(f"{option} {text}: {exc}") from None


def _wait_for_frames(stores: dict[str, StoreReader]) -> None:
    """Until every store being recorded has a frame (a recording just started)."""
    said = False
    while any(len(s) == 0 and s.is_live for s in stores.values()):
        if not said:
            print("framestore-view: waiting for the recording's first frame ...", file=sys.stderr)
            said = True
        time.sleep(_WAIT_POLL)
        for s in stores.values():
            s.refresh()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run("framestore-view", lambda: _view(args), verbose=args.verbose)


def _view(args: argparse.Namespace) -> int:
    from .export import export
    from .player import Player
    from .scene import Scene
    from .window import Window

    try:
        if args.export is None and (problem := display_problem()) is not None:
            print(
                f"framestore-view: no display available ({problem}); use --export FILE to write "
                "a PNG contact sheet or an MP4 clip instead",
                file=sys.stderr,
            )
            return 2
        if args.follow and args.export is not None:
            raise ValueError("--follow shows a recording in a window; it cannot be exported")
        stores, segments = open_paths(args.paths, args.times)
        if args.follow:
            _wait_for_frames(stores)
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", StoreWarning)
            scene = Scene(
                stores,
                args.by,
                args.tolerance,
                args.roi,
                args.scale,
                args.contrast,
                args.candidates,
                segments,
            )
        for note in notes:  # e.g. a stitched store's source that is gone
            print(f"framestore-view: {note.message}", file=sys.stderr)
        try:
            start = _position(scene, "--start", args.start, 0)
            stop = _position(scene, "--stop", args.stop, len(scene) - 1)
            if stop < start:
                raise ValueError(f"--stop {args.stop} comes before --start {args.start}")
        except ValueError as exc:
            print(f"framestore-view: error: {exc}", file=sys.stderr)
            return 2
        if args.damage and args.export is None:
            print("framestore-view: looking for damaged frames (decodes every frame) ...", file=sys.stderr)
            print(f"framestore-view: {scene.find_damage()} positions show a damaged frame", file=sys.stderr)
        if args.export is not None:
            print(export(scene, args.export, start, stop, args.frames, args.fps))
            return 0
        player = Player(scene.times, args.fps, live=args.follow and scene.recording())
        if not player.live:
            player.seek(start)
        Window(scene, player, f"framestore-view: {' + '.join(stores)}", args.save_dir).run()
    except cv2.error as exc:  # an OpenCV built without windows (opencv-python-headless)
        print(
            f"framestore-view: error: OpenCV cannot open a window here ({exc.err}); install "
            "opencv-python rather than opencv-python-headless, or use --export FILE",
            file=sys.stderr,
        )
        return 2
    except (FramestoreError, OSError, ValueError) as exc:
        print(f"framestore-view: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
