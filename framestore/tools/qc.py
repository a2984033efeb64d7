"""Quality checks a lab runs on a recording before analysis, each with a threshold.

From the index (fast at any length): dropped frames (gaps in frame_number), repeated or
backwards frame numbers, stalls (intervals far beyond the median for their frame-number
step), times that do not increase, clock drift of the timestamps against the frame counter
at the nominal rate, and the measured frame rate against the nominal one. From the pixels
(chunks decoded in parallel, one frame at a time each): dark, saturated and frozen frames,
frames with all-zero rows (data lost in transfer), and damaged frames (check pattern or
blacked out: ``tools.damage``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._disk.storage import StorePath
from ..core.damage import KINDS, BatchJudge, DamageSettings
from ..core.reader import StoreReader
from ..core.worker_readers import open_reader
from ..errors import CorruptStoreError
from ..parallel.tasks import ChunkTask, run_over_chunks

MAX_LISTED = 1000  # places kept per check; ``count`` is always the full number


@dataclass(frozen=True)
class Thresholds:
    """What counts as a problem and how many problems a check tolerates."""

    max_dropped: float = 0.0  # fraction of frames missing from the frame_number sequence
    max_misordered: int = 0  # frame numbers that repeat or go backwards
    stall_factor: float = 3.0  # a stall: an interval > this x the median interval x frame-number step
    max_stalls: int = 0
    max_time_backwards: int = 0  # frame times that do not increase
    max_drift_ppm: float = 1000.0  # timestamps vs frame counter at the nominal fps, parts per million
    fps_tolerance: float = 0.02  # |measured / nominal - 1|
    dark_level: float = 0.02  # dark: mean below this fraction of full scale
    saturated_fraction: float = 0.2  # saturated: more than this fraction of pixels at full scale
    frozen_level: float = 0.05  # frozen: mean absolute difference to the previous frame below this
    max_dark: int = 0
    max_saturated: int = 0
    max_frozen: int = 0
    max_zeroed: int = 0  # frames with all-zero rows (but not all zero)
    max_damaged: float = 0.0  # fraction of frames damaged (check pattern or blacked out)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"QC threshold {f.name} must not be negative, got {getattr(self, f.name)}")


@dataclass
class Check:
    """One check: ``passed`` is None when it could not be made (said in ``summary``)."""

    name: str
    passed: bool | None
    value: float | None  # what is compared with ``threshold``
    threshold: float
    count: int  # places found
    summary: str
    where: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED places


@dataclass
class QCReport:
    """Every check of one store, and the series the plots show."""

    path: StorePath
    frames: int
    pixels_checked: bool
    checks: list[Check]
    frame_time: np.ndarray = field(repr=False)
    brightness: np.ndarray | None = field(default=None, repr=False)  # mean / full scale per frame
    # per frame: 0 undamaged, else 1 + the index of its kind in KINDS (when pixels were checked)
    damage_kind: np.ndarray | None = field(default=None, repr=False)
    writer_state: str = "finished"  # "writing": a live store, checked over its frames so far

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "frames": self.frames,
            "live": self.writer_state == "writing",
            "writer_state": self.writer_state,
            "passed": self.passed,
            "pixels_checked": self.pixels_checked,
            "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks},
        }

    def lines(self, listed: int = 5) -> list[str]:
        """A readable table: one row per check, then the first places of each problem."""
        out = [
            f"{self.path}: {self.frames} frames"
            + (" so far (LIVE: being recorded now)" if self.writer_state == "writing" else ""),
            f"  {'check':<20} {'result':<7} {'value':>12} {'limit':>10}",
        ]
        for c in self.checks:
            result = {True: "ok", False: "FAIL", None: "-"}[c.passed]
            value = "" if c.value is None else f"{c.value:.6g}"
            out.append(f"  {c.name:<20} {result:<7} {value:>12} {c.threshold:>10.6g}  {c.summary}")
        for c in self.checks:
            if c.passed is False and c.where:
                shown = ", ".join(_place(p) for p in c.where[:listed])
                more = f" and {c.count - listed} more" if c.count > listed else ""
                out.append(f"  {c.name} at {shown}{more}")
        out.append("PASSED" if self.passed else "FAILED")
        return out


def _place(p: dict[str, Any]) -> str:
    extra = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in p.items()
        if k not in ("frame_index", "frame_number")
    )
    return f"frame_number {p['frame_number']} (index {p['frame_index']}{', ' + extra if extra else ''})"


def qc(
    store: StoreReader | str | os.PathLike[str],
    thresholds: Thresholds | None = None,
    pixels: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    damage: DamageSettings | None = None,
) -> QCReport:
    """Run every check on ``store``; ``pixels=False`` runs only those that need no
    decoding. ``progress(done, total)`` is called while frames are decoded; ``damage``:
    what the ``damaged_frames`` check counts as damage (``tools.damage.DamageSettings``).

    The pixel checks decode the store's chunks in parallel: on ``workers`` local processes
    (default: one per core, up to one per chunk; 1: in this process) or on a Dask cluster
    (``scheduler``: an address or a ``dask.distributed.Client``); the report is the same."""
    t = thresholds or Thresholds()
    reader = store if isinstance(store, StoreReader) else StoreReader(store)
    state = reader.writer_state  # a store being recorded is checked over its frames so far
    numbers = reader.frame_numbers.astype(np.int64)
    times = reader.frame_times
    checks = [
        _dropped(numbers, t),
        _misordered(numbers, t),
        *_timing(numbers, times, reader.fps, t),
    ]
    brightness = damage_kind = None
    if pixels:
        pixel_checks, brightness, damage_kind = _pixel_checks(
            reader, t, progress, workers, scheduler, damage or DamageSettings()
        )
        checks += pixel_checks
    return QCReport(
        reader.path, len(reader), pixels, checks, times, brightness, damage_kind, writer_state=state
    )


def _places(indexes: np.ndarray, numbers: np.ndarray, **columns: np.ndarray) -> list[dict[str, Any]]:
    listed = indexes[:MAX_LISTED]
    rows = []
    for j, i in enumerate(listed):
        row: dict[str, Any] = {"frame_index": int(i), "frame_number": int(numbers[i])}
        for name, values in columns.items():
            v = values[j]
            row[name] = int(v) if np.issubdtype(type(v), np.integer) else float(v)
        rows.append(row)
    return rows


def _count_check(
    name: str, found: np.ndarray, limit: float, summary: str, where: list[dict[str, Any]]
) -> Check:
    return Check(name, len(found) <= limit, float(len(found)), limit, len(found), summary, where)


def _dropped(numbers: np.ndarray, t: Thresholds) -> Check:
    steps = np.diff(numbers)
    gaps = np.flatnonzero(steps > 1)
    missing = steps[gaps] - 1
    total = int(missing.sum())
    fraction = total / (total + len(numbers)) if len(numbers) else 0.0
    after = gaps + 1  # the first frame after each gap
    where = _places(after, numbers, missing=missing, after_frame_number=numbers[gaps])
    summary = f"{total} frame(s) missing in {len(gaps)} gap(s) ({100 * fraction:.3g}%)"
    return Check(
        "dropped_frames", fraction <= t.max_dropped, fraction, t.max_dropped, len(gaps), summary, where
    )


def _misordered(numbers: np.ndarray, t: Thresholds) -> Check:
    steps = np.diff(numbers)
    bad = np.flatnonzero(steps <= 0)
    after = bad + 1
    repeats = int(np.count_nonzero(steps[bad] == 0))
    where = _places(after, numbers, previous_frame_number=numbers[bad])
    summary = f"{repeats} repeated, {len(bad) - repeats} backwards"
    return _count_check("frame_number_order", bad, t.max_misordered, summary, where)


def _timing(numbers: np.ndarray, times: np.ndarray, nominal: float | None, t: Thresholds) -> list[Check]:
    dt = np.diff(times)
    steps = np.diff(numbers)
    usable = (steps > 0) & (dt > 0)
    period = float(np.median(dt[usable] / steps[usable])) if usable.any() else None

    backwards = np.flatnonzero(~(dt > 0))
    where = _places(backwards + 1, numbers, interval_s=dt[backwards])
    time_order = _count_check(
        "time_order", backwards, t.max_time_backwards, "times that do not increase", where
    )

    if period is None:
        none = "not enough increasing frames"
        return [
            time_order,
            Check("stalls", None, None, t.max_stalls, 0, none),
            Check("clock_drift", None, None, t.max_drift_ppm, 0, none),
            Check("fps", None, None, t.fps_tolerance, 0, none),
        ]
    expected = period * np.maximum(steps, 1)
    stalled = np.flatnonzero(dt > t.stall_factor * expected)
    where = _places(stalled + 1, numbers, interval_s=dt[stalled])
    stall_summary = f"intervals > {t.stall_factor:g} x {1000 * period:.4g} ms (median) per frame-number step"
    stalls = _count_check("stalls", stalled, t.max_stalls, stall_summary, where)

    measured = 1 / period
    if not nominal:  # no stated rate: the timestamps are judged against their own steady rate
        fps = Check("fps", None, None, t.fps_tolerance, 0, f"measured {measured:.5g} fps; none stated")
        return [time_order, stalls, _drift(numbers, times, measured, t, "measured"), fps]
    off = abs(measured / nominal - 1)
    fps = Check(
        "fps",
        off <= t.fps_tolerance,
        off,
        t.fps_tolerance,
        int(off > t.fps_tolerance),
        f"measured {measured:.5g} fps (median interval), nominal {nominal:g}",
    )
    drift = _drift(numbers, times, nominal, t)
    return [time_order, stalls, drift, fps]


def _drift(
    numbers: np.ndarray, times: np.ndarray, nominal: float, t: Thresholds, kind: str = "nominal"
) -> Check:
    """The slope of frame_time against frame_number (least squares) against 1 / nominal
    (``kind`` says where that rate came from)."""
    if len(numbers) < 3 or np.any(np.diff(numbers) <= 0):
        return Check("clock_drift", None, None, t.max_drift_ppm, 0, "needs increasing frame numbers")
    n = (numbers - numbers[0]).astype(np.float64)
    seconds = times - times[0]
    slope = float(np.polyfit(n, seconds, 1)[0])
    ppm = (slope * nominal - 1) * 1e6
    span = n[-1] / nominal
    summary = (
        f"timestamps {'gain' if ppm > 0 else 'lose'} {abs(ppm) * span / 1e6:.3g} s over "
        f"{span:.4g} s of frame counter at {nominal:.5g} fps {kind} ({ppm:+.4g} ppm)"
    )
    ok = abs(ppm) <= t.max_drift_ppm
    return Check("clock_drift", ok, abs(ppm), t.max_drift_ppm, int(not ok), summary)


def _pixel_checks(
    store: StoreReader,
    t: Thresholds,
    progress: Callable[[int, int], None] | None,
    workers: int | None,
    scheduler: Any,
    damage: DamageSettings,
) -> tuple[list[Check], np.ndarray, np.ndarray]:
    full = float(np.iinfo(store.dtype).max)
    parts = run_over_chunks(_measure, store, damage, workers=workers, scheduler=scheduler, progress=progress)
    mean, saturated, change, zero_rows, kind, first_row, last_row, score = (
        np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype)
        for k, dtype in enumerate(
            (np.float32, np.float32, np.float32, np.int32, np.int8, np.int32, np.int32, np.float32)
        )
    )
    unreadable = [place for p in parts for place in p[8]]
    numbers = store.frame_numbers
    brightness = mean / full
    dark = np.flatnonzero(brightness < t.dark_level)
    bright = np.flatnonzero(saturated > t.saturated_fraction)
    frozen = np.flatnonzero(change < t.frozen_level)
    height = store.image_shape[0]
    zeroed = np.flatnonzero((zero_rows > 0) & (zero_rows < height))
    checks = [
        Check(
            "unreadable_frames",
            not unreadable,
            float(len(unreadable)),
            0,
            len(unreadable),
            "frames that cannot be read (damaged; 'framestore verify' checks every file)",
            unreadable[:MAX_LISTED],
        ),
        _count_check(
            "dark_frames",
            dark,
            t.max_dark,
            f"mean below {100 * t.dark_level:g}% of full scale",
            _places(dark, numbers, mean=mean[dark]),
        ),
        _count_check(
            "saturated_frames",
            bright,
            t.max_saturated,
            f"over {100 * t.saturated_fraction:g}% of pixels at full scale",
            _places(bright, numbers, saturated_fraction=saturated[bright]),
        ),
        _count_check(
            "frozen_frames",
            frozen,
            t.max_frozen,
            f"mean change from the previous frame below {t.frozen_level:g}",
            _places(frozen, numbers, mean_change=change[frozen]),
        ),
        _count_check(
            "zeroed_rows",
            zeroed,
            t.max_zeroed,
            "frames with all-zero rows (lost data)",
            _places(zeroed, numbers, zero_rows=zero_rows[zeroed]),
        ),
        _damaged(numbers, kind, first_row, last_row, score, t),
    ]
    return checks, brightness, kind


def _damaged(
    numbers: np.ndarray,
    kind: np.ndarray,
    first_row: np.ndarray,
    last_row: np.ndarray,
    score: np.ndarray,
    t: Thresholds,
) -> Check:
    found = np.flatnonzero(kind > 0)
    rate = len(found) / len(kind) if len(kind) else 0.0
    where = [
        {
            "frame_index": int(i),
            "frame_number": int(numbers[i]),
            "kind": KINDS[kind[i] - 1],
            "rows": [int(first_row[i]), int(last_row[i])],
            "score": float(score[i]),
        }
        for i in found[:MAX_LISTED]
    ]
    by_kind = ", ".join(f"{np.count_nonzero(kind == k + 1)} {name}" for k, name in enumerate(KINDS))
    summary = f"{len(found)} damaged ({by_kind}; {100 * rate:.3g}%)"
    return Check("damaged_frames", rate <= t.max_damaged, rate, t.max_damaged, len(found), summary, where)


def _measure(task: ChunkTask) -> tuple[Any, ...]:
    """Per frame of ``start:stop``: mean level (NaN: unreadable), fraction of pixels at
    full scale, mean change from the previous frame (the one before ``start`` too), all-zero
    rows, and the damage verdict (kind code, first and last damaged row, score); and the
    places of the frames that cannot be read."""
    path, uuid, start, stop, damage = task
    store = open_reader(path, uuid, min_frames=stop)
    full = float(np.iinfo(store.dtype).max)
    n = stop - start
    mean = np.zeros(n, np.float32)
    saturated = np.zeros(n, np.float32)
    change = np.full(n, np.inf, np.float32)
    zero_rows = np.zeros(n, np.int32)
    unreadable: list[dict[str, Any]] = []
    judge = BatchJudge(damage, store.image_shape, store.dtype)  # a bounded batch at a time
    judged: list[int] = []  # the frames the judge saw: every readable one
    previous = _readable(store, start - 1) if start > 0 else None
    i = 0
    frames = store.iter_frames(start, stop)  # one frame held at a time
    while i < n:
        try:
            image = next(frames)
        except CorruptStoreError as exc:  # a finding: note it, go on with the next frame
            mean[i], previous = np.nan, None
            number = int(store.frame_numbers[start + i])
            place = {"frame_index": start + i, "frame_number": number, "file": str(store.file_of(start + i))}
            unreadable.append({**place, "error": " ".join(str(exc).split())})
            i += 1
            frames = store.iter_frames(start + i, stop)
            continue
        channels = image.shape[2] if image.ndim == 3 else 1
        mean[i] = sum(cv2.mean(image)[:channels]) / channels
        saturated[i] = np.count_nonzero(image == full) / image.size
        rows = image.reshape(image.shape[0], -1).any(axis=1)
        zero_rows[i] = np.count_nonzero(~rows)
        if previous is not None:
            change[i] = sum(cv2.mean(cv2.absdiff(image, previous))[:channels]) / channels
        previous = image
        judge.add(image)
        judged.append(i)
        i += 1
    verdicts = judge.finish()
    kind = np.zeros(n, np.int8)
    first_row, last_row = np.full(n, -1, np.int32), np.full(n, -1, np.int32)
    score = np.zeros(n, np.float32)
    for out, k in ((kind, 0), (first_row, 1), (last_row, 2), (score, 5)):
        out[judged] = verdicts[k]
    return mean, saturated, change, zero_rows, kind, first_row, last_row, score, unreadable


def _readable(store: StoreReader, i: int) -> np.ndarray | None:
    try:
        return store[i]
    except CorruptStoreError:
        return None


def require_matplotlib() -> None:
    """Raise ``ImportError`` saying how to install matplotlib when it is absent."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'framestore[plot]'") from None
    matplotlib.use("Agg")


def plot(report: QCReport, directory: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Write ``<name>_intervals.png`` (frame interval over time) and, when pixels were
    checked, ``<name>_brightness.png`` (damaged frames marked, by kind); needs matplotlib
    (``pip install 'framestore[plot]'``)."""
    require_matplotlib()
    from matplotlib import pyplot as plt

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    name = name or report.path.name
    seconds = report.frame_time - report.frame_time[0] if report.frames else report.frame_time
    written = []
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(seconds[1:], 1000 * np.diff(report.frame_time), lw=0.6)
    stalls = report.check("stalls")
    for p in stalls.where:
        ax.axvline(seconds[p["frame_index"]], color="red", lw=0.5, alpha=0.5)
    ax.set(
        xlabel="time since the first frame (s)",
        ylabel="frame interval (ms)",
        title=f"{name}: frame intervals",
    )
    written.append(_save(fig, out / f"{name}_intervals.png"))
    if report.brightness is not None:
        fig, ax = plt.subplots(figsize=(10, 3.5))
        ax.plot(seconds, 100 * report.brightness, lw=0.6)
        codes = report.damage_kind if report.damage_kind is not None else np.zeros(report.frames, np.int8)
        for code, (kind, color) in enumerate(zip(KINDS, ("tab:red", "black"), strict=True), 1):
            at = seconds[codes == code]
            if len(at):
                ax.vlines(at, 0, 100, color=color, lw=0.5, alpha=0.5, label=f"{kind}: {len(at)}")
        if codes.any():
            ax.legend(loc="upper right", fontsize="small", title="damaged frames")
        ax.set(
            xlabel="time since the first frame (s)",
            ylabel="mean brightness (% of full scale)",
            title=f"{name}: brightness, {np.count_nonzero(codes)} damaged frames",
        )
        written.append(_save(fig, out / f"{name}_brightness.png"))
    return written



def _save(fig: Any, path: Path) -> Path:
    from matplotlib import pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
