"""A store or a dataset at a glance, from its indexes and metadata only (no pixels)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._disk.index import fps_from_times
from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import RemotePath, StorePath
from ..core.reader import StoreReader
from ..core.video_file import Times, is_video_file


def store_info(store: StoreReader) -> dict[str, Any]:
    """Format, shape, frames, chunks, numbers, times, rates, sizes and metadata of ``store``."""
    numbers, times = store.frame_numbers, store.frame_times
    n = len(store)
    size = disk_usage(store.path)
    first = store.convert_frame_time_to_datetime(float(times[0])) if n else None
    last = store.convert_frame_time_to_datetime(float(times[-1])) if n else None
    md = store.metadata
    return {
        "kind": "store",
        "path": str(store.path),
        "format": store.format,
        "shape": list(store.image_shape),
        "dtype": str(store.dtype),
        "frames": n,
        "chunks": len(store.chunk_starts) - 1,
        "chunksize": store.chunksize,
        "complete": store.is_complete,
        "writer_state": store.writer_state,
        "live": store.writer_state == "writing",
        "first_frame_number": int(numbers[0]) if n else None,
        "last_frame_number": int(numbers[-1]) if n else None,
        "first_time": first.isoformat() if first else None,
        "last_time": last.isoformat() if last else None,
        "duration_s": float(times[-1] - times[0]) if n else 0.0,
        "fps_measured": round(fps_from_times(times, float("nan")), 4) if n > 1 else None,
        "fps_nominal": store.fps,
        "bytes_on_disk": size,
        "bytes_per_frame": round(size / n, 1) if n and size is not None else None,
        "frame_columns": list(md.frame_columns),
        "uuid": store.uuid,
        "created_utc": md.created_utc or None,
        "user_metadata": store.user_metadata,
        "derived_from": md.derived_from,
        "video": store.video_meta(),
    }


def disk_usage(path: StorePath) -> int | None:
    """Bytes of every file under ``path`` (of the file itself, for a plain video file);
    None for a store directory read by URL (it cannot be listed)."""
    if isinstance(path, RemotePath):
        return int(path.info().get("size") or 0) if path.is_file() else None
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # a writer replaced it meanwhile
                continue
    return total


def info(path: str | os.PathLike[str], times: Times | None = None) -> dict[str, Any]:
    """:func:`store_info` of the store at ``path``, or, for a dataset directory, the
    info of each of its stores with the dataset's links, alignment map and segments.
    ``times``: the frame times of the plain video file at ``path``."""
    from ..sessions.dataset import ALIGNMENT_MAP, Dataset, open_video_with_times

    if times is not None:
        with open_video_with_times(path, times) as store:
            return store_info(store)
    if is_video_file(path):
        with StoreReader(path) as store:
            return store_info(store)
    p = Path(path)
    if p.name == METADATA_FILENAME or (p / METADATA_FILENAME).is_file():
        with StoreReader(p) as store:
            return store_info(store)
    with Dataset.from_directory(p) as dataset:
        return {
            "kind": "dataset",
            "path": str(dataset.path),
            "recordings": {name: store_info(s) for name, s in dataset.recordings.items()},
            "stitched": dataset.stitched(),
            "alignment_map": ALIGNMENT_MAP if (dataset.path / ALIGNMENT_MAP).is_file() else None,
            "segments": len(dataset.segments()),
        }


def render(summary: dict[str, Any]) -> str:
    """The summary :func:`info` returns as aligned text lines."""
    if summary["kind"] == "dataset":
        lines = [f"dataset   {summary['path']}", f"stores    {', '.join(summary['recordings']) or 'none'}"]
        for name, sources in summary["stitched"].items():
            lines.append(f"stitched  {name} from {', '.join(sources)}")
        lines.append(f"aligned   {summary['alignment_map'] or 'no alignment map'}")
        lines.append(f"segments  {summary['segments']}")
        for store in summary["recordings"].values():
            lines += ["", render(store)]
        return "\n".join(lines)
    s = summary
    if s["live"]:
        state = ", LIVE (being recorded now)"
    elif s["writer_state"] == "gone":
        state = ", INCOMPLETE (its writer died: 'framestore recover' finishes it)"
    else:
        state = "" if s["complete"] else ", INCOMPLETE (being written, or needs 'framestore recover')"
    lines = [
        f"store      {s['path']}",
        f"format     {s['format']}, {s['chunks']} chunk{'s' * (s['chunks'] != 1)} of up to {s['chunksize']}"
        + state,
        f"frames     {s['frames']}{' so far' if s['live'] else ''} of {tuple(s['shape'])} {s['dtype']}",
    ]
    if s["frames"]:
        nominal = f"{s['fps_nominal']:g}" if s["fps_nominal"] else "unknown"
        measured = f"{s['fps_measured']:g}" if s["fps_measured"] else "n/a"
        lines += [
            f"numbers    {s['first_frame_number']} .. {s['last_frame_number']} (first .. last)",
            f"time       {s['first_time']} .. {s['last_time']}",
            f"duration   {_duration(s['duration_s'])}",
            f"fps        {measured} from the timestamps, {nominal} nominal",
        ]
    per_frame = f", {s['bytes_per_frame']:,.0f} bytes/frame" if s["bytes_per_frame"] else ""
    lines.append(f"size       {_size(s['bytes_on_disk'])}{per_frame}")
    if s["frame_columns"]:
        lines.append(f"columns    {', '.join(s['frame_columns'])}")
    lines.append(f"metadata   {s['user_metadata']}")
    if s["derived_from"]:
        derived = s["derived_from"]
        sources = ", ".join(str(src.get("name", src.get("path"))) for src in derived.get("sources", []))
        lines.append(f"derived    {derived.get('method', '?')} from {sources}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}:{int(m):02d}:{s:06.3f} ({seconds:.3f} s)"


def _size(n: int | None) -> str:
    if n is None:
        return "unknown (read by URL)"
    value, unit = float(n), "bytes"
    for bigger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{n:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
