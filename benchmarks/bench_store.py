#!/usr/bin/env python
"""framestore benchmark: write, sequential read, random access, size, memory, peers.

Standard workload: 3000 synthetic 640x512 uint8 gray frames (framestore.testing.frames),
chunksize 500, generated once into memory. Per format it measures framestore and the
limits of the tools underneath it on the same files:

* write frames/s (add_image loop + close) against PyAV's own encode rate with the same
  codec settings (for image formats: a plain cv2.imwrite / np.save loop);
* sequential read frames/s (iterating the store) against PyAV decoding the same chunk
  files (best of thread_type AUTO and PyAV's default; no pixel conversion), or a plain
  np.load / cv2.imread loop over the same image files;
* random access median / p95 latency of ``store[i]`` against one frame's decode time
  (1000 / decoder-limit fps), and a hand-rolled PyAV seek + decode on the same files;
* bytes per frame on disk;
* peers: a hand-rolled OpenCV VideoCapture loop (sequential, and random access with
  CAP_PROP_POS_FRAMES, checked frame by frame), and imgstore 0.4.0 run in its own
  interpreter (--imgstore-python);
* peak RSS of a sequential read of N and 2N frames, each in a fresh process;
* a lossless-codec survey (ffv1, ffvhuff, utvideo, x264 qp 0, rawvideo).

Usage::

    python benchmarks/bench_store.py                 # full run, ~5-10 min on 2 cores
    python benchmarks/bench_store.py --quick         # 600 frames, about a minute
    python benchmarks/bench_store.py --formats ffv1/mkv h264/mkv --out results.md
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

import framestore
from framestore.codecs import resolve_format
from framestore.codecs.base import ImageSpec
from framestore.testing.frames import read_barcode, synthetic_frame

HERE = Path(__file__).resolve().parent
SHAPE = (512, 640)  # (height, width)
FPS = 30
# imgstore 0.4.0 runs in its own interpreter: this one when it has imgstore (pip install
# '.[test]' brings it), else the venv tools/bench_all.sh makes
DEFAULT_IMGSTORE_PYTHON = (
    sys.executable if importlib.util.find_spec("imgstore") else "/tmp/venv-imgstore/bin/python"
)
# image formats: what a plain loop uses to write the same files (framestore's settings)
IMAGE_WRITE_PARAMS = {
    "png": [cv2.IMWRITE_PNG_COMPRESSION, 1],
    "jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
}


# ----------------------------------------------------------------------------- helpers
def now() -> float:
    return time.perf_counter()


def maxrss_mb() -> float:
    """Peak RSS of this process in MB.

    VmHWM (the high-water mark of this process image) where /proc has it: getrusage's
    ru_maxrss carries over the RSS a forked child had before exec, i.e. the benchmark
    parent's in-memory workload, which would swamp what the reader itself uses.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def intra_only(fmt: str) -> bool:
    spec = resolve_format(fmt)
    return spec.video is None or spec.video.gop == 1


def gray8_pix_fmt(vc) -> str:
    try:
        return vc.pix_fmt_for(ImageSpec(SHAPE, np.dtype(np.uint8)))
    except Exception:
        return vc.pix_fmts["gray8"]


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "framestore"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return f"{head}{' + uncommitted changes in framestore/' if dirty else ''}" if head else "unknown"
    except OSError:
        return "unknown"


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def fmt_num(v, digits=0, none="n/a"):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return none
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def best_of(repeat: int, measure) -> float:
    """The best of ``repeat`` throughput measurements (robust to a busy neighbour)."""
    return max(measure() for _ in range(max(1, repeat)))


def fs_name(fmt: str) -> str:
    return fmt.replace("/", "_")


def make_workload(n: int) -> np.ndarray:
    frames = np.empty((n, *SHAPE), np.uint8)
    for i in range(n):
        frames[i] = synthetic_frame(i, SHAPE)
    return frames


def chunk_files(store_dir: Path, ext: str) -> list[Path]:
    return sorted(p for p in store_dir.iterdir() if p.suffix == ext and p.stem.isdigit())


def image_files(store_dir: Path, ext: str) -> list[Path]:
    out = []
    for d in sorted(p for p in store_dir.iterdir() if p.is_dir() and p.name.isdigit()):
        out.extend(sorted(p for p in d.iterdir() if p.suffix == ext and p.stem.isdigit()))
    return out


def gray_from_bgr(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


# ------------------------------------------------------------------ framestore itself
def fs_write(fmt: str, path: Path, frames: np.ndarray, chunksize: int, count: int | None = None) -> float:
    """Write ``count`` frames (cycling the workload) and return the wall time."""
    n = len(frames) if count is None else count
    t0 = now()
    w = framestore.new_for_format(fmt, path, imgshape=SHAPE, chunksize=chunksize, fps=FPS, overwrite=True)
    base = 1.7e9
    for i in range(n):
        w.add_image(frames[i % len(frames)], i, base + i / FPS)
    w.close()
    return now() - t0


def fs_sequential(path: Path) -> tuple[float, int]:
    t0 = now()
    store = framestore.new_for_filename(path)
    n = 0
    for _img in store:
        n += 1
    store.close()
    return now() - t0, n


def lru_hits(indices: np.ndarray, chunksize: int, capacity: int, warm: list[int]) -> np.ndarray:
    """Whether each read finds its chunk among the reader's open chunks (framestore's LRU)."""
    lru: OrderedDict[int, None] = OrderedDict()

    def touch(c: int) -> bool:
        hit = c in lru
        if hit:
            lru.move_to_end(c)
        else:
            lru[c] = None
            while len(lru) > capacity:
                lru.popitem(last=False)
        return hit

    for i in warm:
        touch(i // chunksize)
    return np.array([touch(int(i) // chunksize) for i in indices])


def fs_random(path: Path, indices: np.ndarray, warm: list[int], frames: np.ndarray, lossless: bool):
    store = framestore.new_for_filename(path)
    for i in warm:
        store[int(i)]
    lat = np.empty(len(indices))
    got = {}
    wrong = 0
    for j, i in enumerate(indices):
        t0 = now()
        img = store[int(i)]
        lat[j] = now() - t0
        got[int(i)] = img
        if lossless:
            wrong += not np.array_equal(img, frames[int(i)])
        else:
            wrong += read_barcode(img) != int(i)
    store.close()
    return lat * 1000.0, wrong, got


# -------------------------------------------------------------------- decoder limits
def pyav_decode(files: list[Path], thread_type: str | None, thread_count: int | None, to_array: bool = False):
    """Frames/s of PyAV decoding every file (no pixel conversion unless to_array)."""
    n = 0
    t0 = now()
    for f in files:
        with av.open(str(f)) as c:
            s = c.streams.video[0]
            if thread_type is not None:
                s.thread_type = thread_type
            if thread_count is not None:
                s.thread_count = thread_count
            for frame in c.decode(s):
                if to_array:  # what a reader must at least do: copy the luma plane out
                    p = frame.planes[0]
                    np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
                n += 1
    return n / (now() - t0)


def image_read_limit(files: list[Path], fmt: str) -> float:
    t0 = now()
    if fmt == "npy":
        for f in files:
            np.load(f)
    else:
        for f in files:
            cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
    return len(files) / (now() - t0)


def image_write_limit(frames: np.ndarray, fmt: str, directory: Path, chunksize: int) -> float:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    t0 = now()
    for i, img in enumerate(frames):
        d = directory / f"{i // chunksize:06d}"
        if i % chunksize == 0:
            d.mkdir()
        p = d / f"{i % chunksize:06d}.{fmt}"
        if fmt == "npy":
            np.save(p, img)
        else:
            cv2.imwrite(str(p), img, IMAGE_WRITE_PARAMS[fmt])
    dt = now() - t0
    shutil.rmtree(directory, ignore_errors=True)
    return len(frames) / dt


def gray_to_frame(img: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    if pix_fmt in ("gray", "gray16le"):
        return av.VideoFrame.from_ndarray(img, format=pix_fmt)
    frame = av.VideoFrame(img.shape[1], img.shape[0], pix_fmt)  # luma = image, neutral chroma
    for k, plane in enumerate(frame.planes):
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        if k == 0:
            rows[:, : img.shape[1]] = img
        else:
            rows[:] = 128
    return frame


def pyav_encode_file(
    path: Path,
    frames: np.ndarray,
    encoder: str,
    pix_fmt: str,
    options: dict,
    gop: int,
    thread_type: str,
    thread_count: int,
    quantizer: int | None = None,
    full_range_gray: bool = False,
) -> None:
    ext = path.suffix
    rate = Fraction(FPS)
    tb = Fraction(1, 1000) if ext == ".mkv" else 1 / rate
    step = Fraction(1000) / rate if ext == ".mkv" else Fraction(1)
    with av.open(str(path), "w") as c:
        s = c.add_stream(encoder, rate=rate)
        cc = s.codec_context
        cc.width, cc.height = frames.shape[2], frames.shape[1]
        cc.pix_fmt = pix_fmt
        cc.time_base = tb
        cc.gop_size = gop
        cc.max_b_frames = 0
        cc.thread_count = thread_count
        cc.thread_type = thread_type
        if quantizer is not None:
            cc.qmin = cc.qmax = quantizer
        if full_range_gray and pix_fmt == "gray":
            cc.color_range = 2
        cc.options = dict(options)
        for i, img in enumerate(frames):
            vf = gray_to_frame(img, pix_fmt)
            vf.pts = round(i * step)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def pyav_encode_limit(fmt: str, frames: np.ndarray, directory: Path, chunksize: int) -> float:
    """PyAV alone, framestore's VideoCodec settings, one file per chunk as the store has."""
    vc = resolve_format(fmt).video
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    t0 = now()
    for c0 in range(0, len(frames), chunksize):
        pyav_encode_file(
            directory / f"{c0 // chunksize:06d}{vc.extension}",
            frames[c0 : c0 + chunksize],
            vc.encoder,
            gray8_pix_fmt(vc),
            vc.options,
            vc.gop,
            vc.encode_thread_type,
            vc.encode_threads,
            vc.quantizer,
            vc.full_range_gray,
        )
    dt = now() - t0
    shutil.rmtree(directory, ignore_errors=True)
    return len(frames) / dt


def pyav_random(store_dir: Path, ext: str, indices: np.ndarray, warm: list[int], chunksize: int, thread_type):
    """Hand-rolled random access with PyAV: every chunk kept open, seek to the keyframe
    before the frame's pts (from framestore's index), decode forward to it, with the
    codec's decode_thread_type and 2 threads."""
    files = chunk_files(store_dir, ext)
    pts = [np.load(store_dir / f"{f.stem}.npz")["video_pts"] for f in files]
    open_: dict[int, tuple] = {}

    def get(i: int):
        c, k = divmod(int(i), chunksize)
        if c not in open_:
            cont = av.open(str(files[c]))
            s = cont.streams.video[0]
            s.thread_type = thread_type
            s.thread_count = 2
            open_[c] = (cont, s)
        cont, s = open_[c]
        target = int(pts[c][k])
        cont.seek(target, stream=s, backward=True, any_frame=False)
        for frame in cont.decode(s):
            if frame.pts == target:
                return frame
        return None

    for c in range(len(files)):  # open everything first: this measures seek + decode
        get(c * chunksize)
    for i in warm:
        get(i)
    lat = np.empty(len(indices))
    for j, i in enumerate(indices):
        t0 = now()
        get(i)
        lat[j] = now() - t0
    for cont, _s in open_.values():
        cont.close()
    return lat * 1000.0


# ---------------------------------------------------------------------- OpenCV peer
def cv2_sequential(files: list[Path]) -> float:
    n = 0
    t0 = now()
    for f in files:
        cap = cv2.VideoCapture(str(f))
        while True:
            ok, _img = cap.read()
            if not ok:
                break
            n += 1
        cap.release()
    return n / (now() - t0)


def cv2_random(files: list[Path], indices, warm, chunksize: int, fs_frames: dict[int, np.ndarray]):
    caps = {}

    def get(i: int):
        c, k = divmod(int(i), chunksize)
        if c not in caps:
            caps[c] = cv2.VideoCapture(str(files[c]))
        cap = caps[c]
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, img = cap.read()
        return img if ok else None

    for c in range(len(files)):
        get(c * chunksize)
    for i in warm:
        get(i)
    lat = np.empty(len(indices))
    wrong = failed = 0
    mad = []
    for j, i in enumerate(indices):
        t0 = now()
        img = get(i)
        lat[j] = now() - t0
        if img is None:
            failed += 1
            continue
        g = gray_from_bgr(img)
        mad.append(float(np.abs(g.astype(np.int16) - fs_frames[int(i)]).mean()))
        if read_barcode(g) != int(i):
            wrong += 1
    for cap in caps.values():
        cap.release()
    return lat * 1000.0, (wrong + failed) / len(indices), failed, (float(np.median(mad)) if mad else None)


# ------------------------------------------------------------------- memory worker
def memory_worker(path: str) -> None:
    base = maxrss_mb()
    store = framestore.new_for_filename(path)
    opened = maxrss_mb()
    n = 0
    t0 = now()
    for _img in store:
        n += 1
    dt = now() - t0
    store.close()
    print(
        json.dumps({"frames": n, "base_mb": base, "opened_mb": opened, "peak_mb": maxrss_mb(), "seconds": dt})
    )


def memory_probe(path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--memory-worker", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- lossless survey
def survey_configs() -> list[dict]:
    ffv1 = resolve_format("ffv1/mkv").video
    return [
        dict(
            name="ffv1 (framestore: level 3, 4 slices, slicecrc)",
            encoder="ffv1",
            pix_fmt="gray",
            options=dict(ffv1.options),
            gop=ffv1.gop,
        ),
        dict(name="ffvhuff", encoder="ffvhuff", pix_fmt="gray", options={}, gop=1),
        dict(
            name="utvideo (gray as luma of yuv420p)", encoder="utvideo", pix_fmt="yuv420p", options={}, gop=1
        ),
        dict(
            name="libx264 qp=0 ultrafast, gop 30",
            encoder="libx264",
            pix_fmt="gray",
            options={"preset": "ultrafast", "qp": "0"},
            gop=30,
        ),
        dict(
            name="libx264 qp=0 ultrafast, gop 1",
            encoder="libx264",
            pix_fmt="gray",
            options={"preset": "ultrafast", "qp": "0"},
            gop=1,
        ),
        dict(name="rawvideo", encoder="rawvideo", pix_fmt="gray", options={}, gop=1),
    ]


def lossless_survey(frames: np.ndarray, workdir: Path) -> list[dict]:
    rows = []
    for cfg in survey_configs():
        row = {"name": cfg["name"]}
        encoded = None
        for ext in (".mkv", ".avi"):  # Matroska where FFmpeg allows the codec, else AVI
            path = workdir / f"survey_{cfg['encoder']}_{cfg['gop']}{ext}"
            best = 0.0
            try:
                for tt in ("SLICE", "AUTO"):
                    t0 = now()
                    pyav_encode_file(
                        path, frames, cfg["encoder"], cfg["pix_fmt"], cfg["options"], cfg["gop"], tt, 2
                    )
                    fps = len(frames) / (now() - t0)
                    if fps > best:
                        best, row["encode_mode"] = fps, tt
                encoded = path
                row["container"] = ext[1:]
                row["encode_fps"] = best
                break
            except (av.FFmpegError, ValueError) as exc:
                row["error"] = str(exc)
                path.unlink(missing_ok=True)
        if encoded is None:
            rows.append(row)
            continue
        row.pop("error", None)
        row["bytes_per_frame"] = encoded.stat().st_size / len(frames)
        dec = {tt: pyav_decode([encoded], tt, None) for tt in ("SLICE", "AUTO")}
        row["decode_mode"] = max(dec, key=dec.get)
        row["decode_fps"] = dec[row["decode_mode"]]
        # exact?
        exact = True
        with av.open(str(encoded)) as c:
            n = 0
            for frame in c.decode(c.streams.video[0]):
                p = frame.planes[0]
                y = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
                exact &= np.array_equal(y, frames[n])
                n += 1
        row["exact"] = exact and n == len(frames)
        encoded.unlink()
        rows.append(row)
        log(
            f"  survey {row['name']}: enc {row['encode_fps']:.0f} fps, dec {row['decode_fps']:.0f} fps, "
            f"{row['bytes_per_frame']:.0f} B/frame, exact={row['exact']}"
        )
    return rows


# --------------------------------------------------------------------- imgstore peer
def imgstore_peer(
    python: str, workload_path: Path, workdir: Path, fs_mjpeg: Path | None, indices, warm, chunksize
):
    spec = {
        "workload": str(workload_path),
        "store": str(workdir / "imgstore_mjpeg"),
        "framestore_mjpeg": str(fs_mjpeg) if fs_mjpeg else None,
        "indices": [int(i) for i in indices],
        "warm": [int(i) for i in warm],
        "chunksize": chunksize,
        "synthetic_py": str(Path(framestore.testing.frames.__file__).resolve()),
    }
    out = subprocess.run(
        [python, str(HERE / "_imgstore_worker.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def imgstore_version(python: str | None) -> str | None:
    if not python or not Path(python).exists():
        return None
    r = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('imgstore'))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() if r.returncode == 0 else None


# ---------------------------------------------------------------------- per format
def bench_format(fmt: str, frames: np.ndarray, args, workdir: Path, indices, warm) -> dict:
    spec = resolve_format(fmt)
    lossless = spec.lossless
    path = workdir / f"store_{fs_name(fmt)}"
    r: dict = {"format": fmt, "path": path, "load": os.getloadavg()[0], "t0": now()}
    n = len(frames)
    log(f"[{fmt}] framestore write ...")
    R = args.repeat
    r["write_fps"] = best_of(R, lambda: n / fs_write(fmt, path, frames, args.chunksize))
    r["bytes_per_frame"] = dir_bytes(path) / n

    log(f"[{fmt}] framestore sequential read ...")

    def seq() -> float:
        dt, got = fs_sequential(path)
        assert got == n, f"{fmt}: iterated {got} frames, expected {n}"
        return n / dt

    r["seq_fps"] = best_of(R, seq)

    log(f"[{fmt}] framestore random access ...")
    lat, wrong, fs_frames = fs_random(path, indices, warm, frames, lossless)
    r["rand_median_ms"], r["rand_p95_ms"] = float(np.median(lat)), float(np.percentile(lat, 95))
    r["rand_wrong"] = wrong
    if spec.video is not None:
        with framestore.new_for_filename(path) as probe:
            open_limit = probe._open_limit  # chunk readers the reader keeps open (LRU)
        hits = lru_hits(indices, args.chunksize, open_limit, warm)
        r["rand_hit_median_ms"] = float(np.median(lat[hits])) if hits.any() else None
        r["rand_miss_median_ms"] = float(np.median(lat[~hits])) if (~hits).any() else None
        r["rand_miss_fraction"] = float((~hits).mean())

    if spec.video is not None:
        vc = spec.video
        files = chunk_files(path, vc.extension)
        log(f"[{fmt}] PyAV decode limit ...")
        r["dec_default_fps"] = best_of(R, lambda: pyav_decode(files, None, None))
        r["dec_auto_fps"] = best_of(R, lambda: pyav_decode(files, "AUTO", None))
        r["dec_fsconf_fps"] = pyav_decode(files, vc.decode_thread_type, 2)
        r["dec_limit_mode"] = "AUTO" if r["dec_auto_fps"] >= r["dec_default_fps"] else "default"
        r["dec_limit_fps"] = max(r["dec_auto_fps"], r["dec_default_fps"])
        best_tt = "AUTO" if r["dec_limit_mode"] == "AUTO" else None
        r["dec_copy_fps"] = pyav_decode(files, best_tt, None, to_array=True)
        log(f"[{fmt}] PyAV encode limit ...")
        r["enc_limit_fps"] = best_of(
            R, lambda: pyav_encode_limit(fmt, frames, workdir / "pyav_encode", args.chunksize)
        )
        log(f"[{fmt}] PyAV seek+decode random ...")
        plat = pyav_random(path, vc.extension, indices, warm, args.chunksize, vc.decode_thread_type)
        r["pyav_rand_median_ms"] = float(np.median(plat))
        log(f"[{fmt}] OpenCV peer ...")
        r["cv2_seq_fps"] = cv2_sequential(files)
        clat, cwrong, cfailed, cmad = cv2_random(files, indices, warm, args.chunksize, fs_frames)
        r["cv2_rand_median_ms"] = float(np.median(clat))
        r["cv2_rand_p95_ms"] = float(np.percentile(clat, 95))
        r["cv2_wrong_fraction"] = cwrong
        r["cv2_failed"] = cfailed
        r["cv2_median_mad"] = cmad
    else:
        files = image_files(path, spec.extension)
        log(f"[{fmt}] plain image read / write loops ...")
        r["dec_limit_fps"] = best_of(R, lambda: image_read_limit(files, fmt))
        r["dec_limit_mode"] = "np.load" if fmt == "npy" else "cv2.imread"
        r["enc_limit_fps"] = best_of(
            R, lambda: image_write_limit(frames, fmt, workdir / "plain_write", args.chunksize)
        )
    r["one_frame_ms"] = 1000.0 / r["dec_limit_fps"]
    r["seq_ratio"] = r["seq_fps"] / r["dec_limit_fps"]
    r["write_ratio"] = r["write_fps"] / r["enc_limit_fps"]
    r["rand_ratio"] = r["rand_median_ms"] / r["one_frame_ms"]
    r["seconds"] = now() - r["t0"]
    log(
        f"[{fmt}] write {r['write_fps']:.0f} fps "
        f"({r['write_ratio']:.2f}x encode), seq {r['seq_fps']:.0f} fps "
        f"({r['seq_ratio']:.2f}x decode), random "
        f"{r['rand_median_ms']:.2f} ms ({r['rand_ratio']:.1f}x one frame)"
    )
    return r


# -------------------------------------------------------------------------- report
def verdicts(results: list[dict], memory: list[dict]) -> list[tuple[str, str, str]]:
    out = []
    for r in results:
        f = r["format"]
        out.append(
            (
                "sequential read >= 0.8x decoder limit",
                f,
                f"{r['seq_ratio']:.2f}x",
                "met" if r["seq_ratio"] >= 0.8 else "NOT met",
            )
        )
        out.append(
            (
                "write >= 0.8x encode limit",
                f,
                f"{r['write_ratio']:.2f}x",
                "met" if r["write_ratio"] >= 0.8 else "NOT met",
            )
        )
        if intra_only(f):
            out.append(
                (
                    "intra-only random median <= 2x one frame's decode",
                    f,
                    f"{r['rand_ratio']:.1f}x",
                    "met" if r["rand_ratio"] <= 2 else "NOT met",
                )
            )
        if f.startswith("h264"):
            out.append(
                (
                    "H.264 random median <= 20 ms",
                    f,
                    f"{r['rand_median_ms']:.1f} ms",
                    "met" if r["rand_median_ms"] <= 20 else "NOT met",
                )
            )
    by_fmt: dict[str, list[dict]] = {}
    for m in memory:
        by_fmt.setdefault(m["format"], []).append(m)
    for f, ms in by_fmt.items():
        ms = sorted(ms, key=lambda m: m["frames"])
        if len(ms) >= 2:
            g = ms[-1]["peak_mb"] / ms[0]["peak_mb"]
            out.append(
                (
                    f"memory bounded (peak RSS {ms[-1]['frames']} vs {ms[0]['frames']} frames <= 1.1x)",
                    f,
                    f"{g:.2f}x",
                    "met" if g <= 1.1 else "NOT met",
                )
            )
    return out


def render(results, memory, survey, imgstore, env) -> str:
    L = []
    L.append(f"# framestore benchmark — {env['date']}")
    L.append("")
    L.append(
        f"Machine: {env['cpus']} cores, {env['machine']}, no GPU. Python {env['python']}, framestore "
        f"{env['framestore']}, PyAV {env['av']} (libavcodec {env['libavcodec']}), OpenCV {env['cv2']}, "
        f"numpy {env['numpy']}, imgstore {env['imgstore'] or 'not available'}. framestore at {env['git']} "
        f"(default format {env['default_format']}). 1-min load average {env['load'][0]:.2f} at start, "
        f"{env['load'][1]:.2f} at end."
    )
    L.append(
        f"Workload: {env['frames']} synthetic {SHAPE[1]}x{SHAPE[0]} uint8 gray frames, chunksize "
        f"{env['chunksize']}, best of {env['repeat']} run(s) for throughputs, {env['random']} random "
        f"reads (seed 12345, after {env['warm']} warm-up reads). Files are in the page cache (just "
        f"written). Run time {env['runtime']:.0f} s."
    )
    L.append("")
    L.append("## framestore vs. the limits underneath it")
    L.append("")
    L.append(
        "| format | write fps | encode limit fps | write/enc | seq read fps | decoder limit fps | seq/dec "
        "| random median ms | random p95 ms | one-frame decode "
        "ms | random/one-frame | bytes/frame | wrong frames |"
    )
    L.append("|" + "---|" * 13)
    for r in results:
        L.append(
            f"| {r['format']} | {fmt_num(r['write_fps'])} | {fmt_num(r['enc_limit_fps'])} | "
            f"{r['write_ratio']:.2f} | {fmt_num(r['seq_fps'])} | {fmt_num(r['dec_limit_fps'])} "
            f"({r['dec_limit_mode']}) | {r['seq_ratio']:.2f} | {r['rand_median_ms']:.2f} | "
            f"{r['rand_p95_ms']:.2f} | {r['one_frame_ms']:.3f} | {r['rand_ratio']:.1f} | "
            f"{fmt_num(r['bytes_per_frame'])} | {r['rand_wrong']}/{env['random']} |"
        )
    L.append("")
    L.append(
        "Encode limit: PyAV writing the same chunk files with framestore's VideoCodec settings "
        "(encoder, pix_fmt, options, gop, qmin/qmax, thread type/count); for image formats a plain "
        "cv2.imwrite / np.save loop. Decoder limit: PyAV decoding framestore's own chunk files, "
        "no pixel conversion, best of thread_type AUTO and PyAV's default; for image formats a plain "
        "np.load / cv2.imread loop over the store's files. Wrong frames: framestore random reads that "
        "were not the frame asked for (pixel-exact check for lossless formats, barcode for lossy)."
    )
    L.append("")
    L.append(
        "1-min load average when each format started (anything above ~0.5 means another process "
        "shared the 2 cores): "
        + ", ".join(f"{r['format']} {r['load']:.2f} ({r['seconds']:.0f} s)" for r in results)
        + "."
    )
    L.append("")
    vids = [r for r in results if "dec_default_fps" in r]
    if vids:
        L.append("### Decoder details and random-access breakdown (video formats)")
        L.append("")
        L.append(
            "| format | PyAV default fps | PyAV AUTO fps | "
            "codec's decode_thread_type, 2 threads fps | decode + luma copy fps "
            "| PyAV seek+decode median ms | framestore random: "
            "open-chunk hit median ms | miss (chunk reopened) "
            "median ms | miss fraction |"
        )
        L.append("|" + "---|" * 9)
        for r in vids:
            vc = resolve_format(r["format"]).video
            L.append(
                f"| {r['format']} | {fmt_num(r['dec_default_fps'])} | {fmt_num(r['dec_auto_fps'])} | "
                f"{fmt_num(r['dec_fsconf_fps'])} ({vc.decode_thread_type}, "
                f"2) | {fmt_num(r['dec_copy_fps'])} | "
                f"{r['pyav_rand_median_ms']:.2f} | {fmt_num(r.get('rand_hit_median_ms'), 2)} | "
                f"{fmt_num(r.get('rand_miss_median_ms'), 2)} | {r['rand_miss_fraction']:.2f} |"
            )
        L.append("")
        L.append(
            "PyAV seek+decode: every chunk file kept open, container.seek to the frame's pts "
            "(backward, keyframes only) and decode forward to it, with the codec's decode_thread_type "
            "and 2 threads: what framestore's random read does, hand-rolled, without its per-read "
            "overhead. Hit/miss: whether the chunk was among the reader's open chunks "
            "(framestore keeps up to `StoreReader._open_limit` chunk readers open, LRU)."
        )
        L.append("")
    L.append("## Peers in the same run")
    L.append("")
    L.append(
        "| reader | store | write fps | seq read fps | random "
        "median ms | random p95 ms | wrong random frames |"
    )
    L.append("|---|---|---|---|---|---|---|")
    for r in results:
        L.append(
            f"| framestore | {r['format']} | {fmt_num(r['write_fps'])} | {fmt_num(r['seq_fps'])} | "
            f"{r['rand_median_ms']:.2f} | {r['rand_p95_ms']:.2f} | {r['rand_wrong'] / env['random']:.1%} |"
        )
    for r in vids:
        extra = (
            f" (median abs diff vs framestore {r['cv2_median_mad']:.2f})"
            if r["cv2_median_mad"] is not None
            else ""
        )
        fail = f", {r['cv2_failed']} reads failed" if r["cv2_failed"] else ""
        L.append(
            f"| OpenCV VideoCapture loop | framestore's {r['format']} "
            f"chunks | – | {fmt_num(r['cv2_seq_fps'])} | "
            f"{r['cv2_rand_median_ms']:.2f} | {r['cv2_rand_p95_ms']:.2f} "
            f"| {r['cv2_wrong_fraction']:.1%}{fail}{extra} |"
        )
    if imgstore:
        if "error" in imgstore:
            L.append(f"| imgstore {env['imgstore'] or ''} | – | not run: {imgstore['error']} | | | | |")
        else:
            o = imgstore["own"]
            L.append(
                f"| imgstore {env['imgstore']} | its own mjpeg/avi "
                f"(OpenCV MJPG, color) | {fmt_num(o['write_fps'])} | "
                f"{fmt_num(o['seq_fps'])} | {o['rand_median_ms']:.2f} | {o['rand_p95_ms']:.2f} | "
                f"{o['rand_wrong_fraction']:.1%} |"
            )
            fsr = imgstore.get("framestore")
            if fsr is not None:
                if "error" in fsr:
                    L.append(
                        f"| imgstore {env['imgstore']} | framestore's "
                        f"mjpeg/avi | – | does not open: {fsr['error']} | | | |"
                    )
                else:
                    L.append(
                        f"| imgstore {env['imgstore']} | framestore's "
                        f"mjpeg/avi | – | {fmt_num(fsr['seq_fps'])} | "
                        f"{fsr['rand_median_ms']:.2f} | {fsr['rand_p95_ms']:.2f} "
                        f"| {fsr['rand_wrong_fraction']:.1%} |"
                    )
            L.append("")
            L.append(
                f"imgstore's own store: {fmt_num(o['bytes_per_frame'])} bytes/frame on disk. imgstore ran in "
                f"its own interpreter ({env['imgstore_python']}); "
                "its random reads use get_image(frame_index=i), "
                "checked by the frame's barcode."
            )
    L.append("")
    L.append(
        "OpenCV loop: cv2.VideoCapture over the same chunk files (read() returns BGR); random access "
        "with CAP_PROP_POS_FRAMES on chunks kept open; a frame is wrong when its barcode is not the "
        "frame asked for (or the read failed)."
    )
    L.append("")
    if memory:
        L.append("## Memory: peak RSS of a sequential read, fresh process each")
        L.append("")
        L.append("Peak RSS is the process's VmHWM (ru_maxrss would include the parent's pre-exec pages).")
        L.append("")
        L.append(
            "| format | frames | RSS after imports MB | RSS after "
            "open MB | peak RSS MB | growth during read MB |"
        )
        L.append("|---|---|---|---|---|---|")
        for m in memory:
            L.append(
                f"| {m['format']} | {m['frames']} | {m['base_mb']:.0f} | {m['opened_mb']:.0f} | "
                f"{m['peak_mb']:.0f} | {m['peak_mb'] - m['opened_mb']:.0f} |"
            )
        L.append("")
    if survey:
        L.append(f"## Lossless codec survey (PyAV only, first {env['survey_frames']} frames, 2 threads)")
        L.append("")
        L.append("| codec | container | encode fps | decode fps | bytes/frame | vs raw | exact |")
        L.append("|---|---|---|---|---|---|---|")
        raw = SHAPE[0] * SHAPE[1]
        for s in survey:
            if "error" in s:
                L.append(f"| {s['name']} | – | failed: {s['error']} | | | | |")
                continue
            L.append(
                f"| {s['name']} | {s['container']} | {fmt_num(s['encode_fps'])} ({s['encode_mode']}) | "
                f"{fmt_num(s['decode_fps'])} ({s['decode_mode']}) | {fmt_num(s['bytes_per_frame'])} | "
                f"{s['bytes_per_frame'] / raw:.2f} | {'yes' if s['exact'] else 'NO'} |"
            )
        L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | format | measured | verdict |")
    L.append("|---|---|---|---|")
    for t, f, v, ok in verdicts(results, memory):
        L.append(f"| {t} | {f} | {v} | {ok} |")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=3000)
    p.add_argument("--chunksize", type=int, default=500)
    p.add_argument("--formats", nargs="+", default=None, help="default: all of get_supported_formats()")
    p.add_argument("--random", type=int, default=200, help="random reads per format")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="best of N for write, encode-limit, sequential-read and decoder-limit throughput",
    )
    p.add_argument("--out", default="results.md")
    p.add_argument("--quick", action="store_true", help="600 frames, 50 random reads, small survey")
    p.add_argument(
        "--imgstore-python",
        default=DEFAULT_IMGSTORE_PYTHON,
        help="interpreter with imgstore 0.4.0 installed ('' to skip)",
    )
    p.add_argument(
        "--memory-formats", nargs="*", default=None, help="default: framestore's default format and h264/mkv"
    )
    p.add_argument("--survey-frames", type=int, default=600)
    p.add_argument("--no-survey", action="store_true")
    p.add_argument("--workdir", default=None, help="where stores are written (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the written stores")
    p.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_worker:
        memory_worker(args.memory_worker)
        return 0
    if args.quick:
        args.frames = min(args.frames, 600)
        args.random = min(args.random, 50)
        args.survey_frames = min(args.survey_frames, 150)
        args.chunksize = min(args.chunksize, 100) if args.chunksize == 500 else args.chunksize
    formats = args.formats or framestore.get_supported_formats()
    if args.memory_formats is None:
        args.memory_formats = list(
            dict.fromkeys([resolve_format(framestore.DEFAULT_FORMAT).name, "h264/mkv"])
        )
    load_start = os.getloadavg()
    for f in formats:
        resolve_format(f)
    t_start = now()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="framestore-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"workdir {workdir}; generating {args.frames} frames ...")
    frames = make_workload(args.frames)
    rng = np.random.default_rng(12345)
    indices = rng.integers(0, args.frames, args.random)
    warm = [int(i) for i in rng.integers(0, args.frames, 3)]

    results = []
    try:
        for fmt in formats:
            results.append(bench_format(fmt, frames, args, workdir, indices, warm))

        imgstore = None
        isv = imgstore_version(args.imgstore_python)
        if args.imgstore_python and isv:
            log("imgstore peer ...")
            wl = workdir / "workload.npy"
            np.save(wl, frames)
            fs_mjpeg = next((r["path"] for r in results if r["format"] == "mjpeg/avi"), None)
            imgstore = imgstore_peer(
                args.imgstore_python, wl, workdir, fs_mjpeg, indices, warm, args.chunksize
            )
            wl.unlink()
            shutil.rmtree(workdir / "imgstore_mjpeg", ignore_errors=True)
        elif args.imgstore_python:
            imgstore = {"error": f"imgstore not importable with {args.imgstore_python}"}

        memory = []
        for fmt in args.memory_formats:
            log(f"[{fmt}] memory: {args.frames} and {2 * args.frames} frames ...")
            small = next((r["path"] for r in results if r["format"] == fmt), None)
            if small is None:
                small = workdir / f"mem_{fs_name(fmt)}_{args.frames}"
                fs_write(fmt, small, frames, args.chunksize)
            big = workdir / f"mem_{fs_name(fmt)}_{2 * args.frames}"
            fs_write(fmt, big, frames, args.chunksize, count=2 * args.frames)
            for path in (small, big):
                m = memory_probe(path)
                m["format"] = fmt
                memory.append(m)
            shutil.rmtree(big, ignore_errors=True)

        survey = []
        if not args.no_survey:
            log("lossless codec survey ...")
            survey = lossless_survey(frames[: args.survey_frames], workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    env = {
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "framestore": framestore.__version__,
        "av": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "cv2": cv2.__version__,
        "numpy": np.__version__,
        "imgstore": isv,
        "imgstore_python": args.imgstore_python,
        "frames": args.frames,
        "chunksize": args.chunksize,
        "random": args.random,
        "repeat": args.repeat,
        "warm": len(warm),
        "survey_frames": min(args.survey_frames, args.frames),
        "runtime": now() - t_start,
        "load": (load_start[0], os.getloadavg()[0]),
        "git": git_state(),
        "default_format": resolve_format(framestore.DEFAULT_FORMAT).name,
    }
    text = render(results, memory, survey, imgstore, env)
    print(text)
    Path(args.out).write_text(text + "\n")
    log(f"wrote {args.out} ({env['runtime']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
