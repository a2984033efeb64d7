"""Damaged-frame detection: framestore's detector against the miniscope project's
``InvalidFrameDetector`` (PyPI ``mio``) on the same generated frames, in one run.

    python benchmarks/bench_damage.py --recordings 6 --frames 1000 --mio-python /tmp/venv-mio/bin/python

Frames come from ``framestore.testing.damage``: miniscope-like recordings (200x200) with
about 30% of frames damaged (check pattern or blacked out, at random rows and sizes), as
written (lossless) and after H.264 (libx264 crf 23, yuv420p), plus clean recordings (as
drawn; with the sensor's offset at 0, so dark parts clip to 0; with strong shot noise) and
behaviour-camera-like frames (``testing.frames.synthetic_frame``: shapes, a barcode); then
the receiver videos of ``testing.miniscope`` (the stitch tests' generator).
Reports frames/s on one core (this process and mio's are pinned to one CPU), recall per kind
and size, and false positives. ``--labelled VIDEO LABELS`` (repeatable) adds real recordings
with hand labels in mio's YAML form (``frames: {kind: {size: [frame indexes]}}``), e.g. mio's
own ``tests/data/wireless_corrupted.avi`` and ``wireless_corrupted.yaml``: every labelled
frame should be flagged and no other, as written and after H.264. ``mio`` runs in its own
environment with its default ``NoisePatchConfig`` (gradient and black-area methods);
absent, its column is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import yaml

import framestore
from framestore.testing.damage import SIZES, clean_frames, damaged_recording, through_h264
from framestore.testing.frames import synthetic_frame
from framestore.testing.miniscope import make_session
from framestore.tools.damage import detect_damage

_MIO_SCRIPT = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
os.sched_setaffinity(0, {int(sys.argv[2])})
import numpy as np
from mio.models.process import NoisePatchConfig
from mio.process.frame_helper import InvalidFrameDetector
frames = np.load(sys.argv[1])
detector = InvalidFrameDetector(NoisePatchConfig())
detector.find_invalid_area(frames[0])  # warm up
t0 = time.perf_counter()
flags = [bool(detector.find_invalid_area(f)[0]) for f in frames]
seconds = time.perf_counter() - t0
print(json.dumps({"flags": flags, "fps": len(frames) / seconds}))
"""


def pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def framestore_speed(frames: np.ndarray, repeat: int) -> float:
    """Best frames/s of detect_damage over ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        detect_damage(frames)
        best = max(best, len(frames) / (time.perf_counter() - t0))
    return best


def run_mio(python: str, frames: np.ndarray, core: int, workdir: Path) -> tuple[np.ndarray, float] | None:
    path = workdir / "frames.npy"
    np.save(path, frames)
    done = subprocess.run(
        [python, "-c", _MIO_SCRIPT, str(path), str(core)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        print(f"mio failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return np.array(result["flags"]), float(result["fps"])


def summary(truth: pd.DataFrame, flags: np.ndarray, kinds: np.ndarray | None) -> dict[str, str]:
    """Recall per kind (and kind right, when the detector names kinds), false positives."""
    out = {}
    for kind in ("check_pattern", "blacked_out"):
        m = (truth.kind == kind).to_numpy()
        hit = flags[m]
        text = f"{hit.sum()}/{m.sum()}" if m.any() else "–"
        if kinds is not None and m.any():
            text += f" ({np.count_nonzero(kinds[m] == kind)} kind right)"
        out[kind] = text
    clean = ~truth.damaged.to_numpy()
    out["false positives"] = f"{flags[clean].sum()}/{clean.sum()}"
    return out


def markdown(table: pd.DataFrame) -> str:
    """A markdown table (no tabulate needed)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join("–" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=6, help="damaged recordings (seeds 0..N-1)")
    parser.add_argument("--frames", type=int, default=1000, help="frames per recording")
    parser.add_argument("--clean", type=int, default=10_000, help="frames of clean recordings")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for frames/s")
    parser.add_argument("--mio-python", default="/tmp/venv-mio/bin/python")
    parser.add_argument(
        "--labelled",
        nargs=2,
        action="append",
        default=[],
        metavar=("VIDEO", "LABELS"),
        help="a real recording and its labels (mio's YAML form)",
    )
    args = parser.parse_args()
    core = pin_to_one_core()
    has_mio = Path(args.mio_python).exists()
    if not has_mio:
        print(f"mio: {args.mio_python} not found; its column is skipped (install mio in its own venv)")

    parts, truths = {"lossless": [], "h264": []}, []
    for seed in range(args.recordings):
        frames, truth = damaged_recording(args.frames, seed=seed, sizes=SIZES)  # with zero padding
        parts["lossless"].append(frames)
        parts["h264"].append(through_h264(frames))
        truths.append(truth)
    truth = pd.concat(truths, ignore_index=True)
    per_recording = max(1, args.clean // 1000)

    def clean_set(count: int, **kwargs: float) -> np.ndarray:
        return np.concatenate(
            [clean_frames(count // per_recording, seed=1000 + s, **kwargs) for s in range(per_recording)]
        )

    clean = clean_set(args.clean)
    clean_truth = pd.DataFrame({"damaged": np.zeros(len(clean), bool), "kind": None})
    zero_offset = clean_set(args.clean // 5, offset=0.0)
    noisy = clean_set(args.clean // 5, shot_noise=1.5)
    behaviour = np.stack([synthetic_frame(n, (200, 200)) for n in range(1000, 1000 + args.clean // 10)])

    speed = framestore_speed(np.concatenate(parts["lossless"]), args.repeat)
    print(
        f"framestore detect_damage: {speed:,.0f} frames/s on one core (200x200 uint8, best of {args.repeat})"
    )
    rows = []
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, frames, expected in (
            ("lossless", np.concatenate(parts["lossless"]), truth),
            ("H.264 crf 23", np.concatenate(parts["h264"]), truth),
            ("clean", clean, clean_truth),
            ("clean, sensor offset 0", zero_offset, clean_truth.iloc[: len(zero_offset)]),
            ("clean, noisy (shot noise 1.5 DN²/DN)", noisy, clean_truth.iloc[: len(noisy)]),
            ("behaviour camera", behaviour, clean_truth.iloc[: len(behaviour)]),
        ):
            t0 = time.perf_counter()
            found = detect_damage(frames)
            fps = len(frames) / (time.perf_counter() - t0)
            rows.append(
                {
                    "frames": label,
                    "n": len(frames),
                    "detector": f"framestore ({fps:,.0f} frames/s)",
                    **summary(expected, found.damaged.to_numpy(), found.kind.to_numpy()),
                }
            )
            if label in ("lossless", "H.264 crf 23"):
                for (kind, size), group in expected[expected.damaged].groupby(["kind", "size"]):
                    sizes.append(
                        {
                            "frames": label,
                            "kind": kind,
                            "size": size,
                            "n": len(group),
                            "framestore": int(found.damaged[group.index].sum()),
                        }
                    )
            if has_mio:
                mio = run_mio(args.mio_python, frames, core, Path(tmp))
                if mio is not None:
                    flags, mio_fps = mio
                    rows.append(
                        {
                            "frames": label,
                            "n": len(frames),
                            "detector": f"mio ({mio_fps:,.0f} frames/s)",
                            **summary(expected, flags, None),
                        }
                    )
                    if label in ("lossless", "H.264 crf 23"):
                        for entry in sizes:
                            if entry["frames"] == label:
                                group = expected[
                                    (expected.kind == entry["kind"]) & (expected["size"] == entry["size"])
                                ]
                                entry["mio"] = int(flags[group.index].sum())
    print()
    print(markdown(pd.DataFrame(rows)))
    print()
    print(markdown(pd.DataFrame(sizes)))
    print()
    print(markdown(receivers(args.frames, args.mio_python if has_mio else None, core)))
    if args.labelled:
        print()
        print(markdown(labelled(args.labelled, args.mio_python if has_mio else None, core)))


def labelled(recordings: list[list[str]], mio_python: str | None, core: int) -> pd.DataFrame:
    """Both detectors on real recordings with hand-labelled damaged frames, as written and
    after H.264: labelled frames flagged, other frames flagged."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for video, labels in recordings:
            marked = yaml.safe_load(Path(labels).read_text())["frames"]
            damaged = sorted({int(i) for sizes in marked.values() for group in sizes.values() for i in group})
            with framestore.open_video(video, gray=True) as store:
                frames = store[:]
            truth = np.zeros(len(frames), bool)
            truth[damaged] = True
            for how, judged in (("as written", frames), ("H.264 crf 23", through_h264(frames))):
                flags = {"framestore": detect_damage(judged).damaged.to_numpy()}
                if mio_python is not None and (mio := run_mio(mio_python, judged, core, Path(tmp))):
                    flags["mio"] = mio[0]
                for detector, found in flags.items():
                    rows.append(
                        {
                            "recording": f"{Path(video).name} ({how})",
                            "detector": detector,
                            "labelled damaged found": f"{found[truth].sum()}/{truth.sum()}",
                            "others flagged": f"{found[~truth].sum()}/{(~truth).sum()}",
                        }
                    )
    return pd.DataFrame(rows)


def receivers(count: int, mio_python: str | None, core: int) -> pd.DataFrame:
    """Both detectors on the receiver videos of ``testing.miniscope`` (the stitch tests'
    generator: behaviour-like frames, lost buffers, zero padding, every other row of a
    buffer garbled), by how many pixels of a frame are damaged."""
    with tempfile.TemporaryDirectory() as tmp:
        session = make_session(
            Path(tmp) / "s", receivers=2, frames=count, split_frame=False, glitch_frame=False
        )
        videos, damaged = [], []
        for receiver in session.receivers:
            with av.open(str(session.video(receiver.stem))) as container:
                videos += [f.to_ndarray(format="gray") for f in container.decode(video=0)]
            damaged += receiver.damaged
        frames, pixels = np.stack(videos), np.array(damaged)
        flags = {"framestore": detect_damage(frames).damaged.to_numpy()}
        if mio_python is not None:
            mio = run_mio(mio_python, frames, core, Path(tmp))
            if mio is not None:
                flags["mio"] = mio[0]
    groups = {
        "undamaged (false positives)": pixels == 0,
        "1-199 damaged pixels (less than a row)": (pixels > 0) & (pixels < 200),
        "200 or more damaged pixels": pixels >= 200,
    }
    return pd.DataFrame(
        [
            {"receiver frames": name, **{d: f"{f[m].sum()}/{m.sum()}" for d, f in flags.items()}}
            for name, m in groups.items()
        ]
    )


if __name__ == "__main__":
    main()
