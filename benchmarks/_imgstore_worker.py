"""imgstore side of bench_store.py: runs in an interpreter that has imgstore 0.4.0.

Argument: one JSON object (workload .npy path, store path, framestore's mjpeg/avi store,
random indices, warm-up indices, chunksize, path of framestore/synthetic.py for the
barcode reader). Prints one JSON object with the timings.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import numpy as np


def load_barcode_reader(path):
    spec = importlib.util.spec_from_file_location("fs_synthetic", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.read_barcode


def gray(img):
    if img.ndim == 3:
        import cv2

        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img


def read_side(imgstore, path, indices, warm, read_barcode, frame_number_of):
    t0 = time.perf_counter()
    store = imgstore.new_for_filename(path)
    n = 0
    while True:
        try:
            store.get_next_image()
        except EOFError:
            break
        n += 1
    seq = n / (time.perf_counter() - t0)
    store.close()

    store = imgstore.new_for_filename(path)
    for i in warm:
        store.get_image(None, frame_index=int(i))
    lat = []
    wrong = 0
    for i in indices:
        t0 = time.perf_counter()
        try:
            img, _ = store.get_image(None, frame_index=int(i))
        except Exception:
            img = None
        lat.append(time.perf_counter() - t0)
        if img is None or read_barcode(gray(img)) != frame_number_of(int(i)):
            wrong += 1
    store.close()
    lat = np.array(lat) * 1000
    return {
        "frames": n,
        "seq_fps": seq,
        "rand_median_ms": float(np.median(lat)),
        "rand_p95_ms": float(np.percentile(lat, 95)),
        "rand_wrong_fraction": wrong / len(indices),
    }


def main():
    spec = json.loads(sys.argv[1])
    import logging

    logging.disable(logging.WARNING)
    import imgstore

    read_barcode = load_barcode_reader(spec["synthetic_py"])
    frames = np.load(spec["workload"], mmap_mode="r")
    frames = np.array(frames)  # into memory, as framestore's writer gets them
    path = spec["store"]
    t0 = time.perf_counter()
    s = imgstore.new_for_format(
        "mjpeg/avi", path=path, imgshape=frames.shape[1:], imgdtype=np.uint8, chunksize=spec["chunksize"]
    )
    for i in range(len(frames)):
        s.add_image(frames[i], i, 1.7e9 + i / 30)
    s.close()
    write_fps = len(frames) / (time.perf_counter() - t0)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    own = read_side(imgstore, path, spec["indices"], spec["warm"], read_barcode, lambda i: i)
    own.update(write_fps=write_fps, bytes_per_frame=size / len(frames))
    result = {"own": own}
    if spec.get("framestore_mjpeg"):
        try:
            result["framestore"] = read_side(
                imgstore, spec["framestore_mjpeg"], spec["indices"], spec["warm"], read_barcode, lambda i: i
            )
        except Exception as exc:  # report, don't fail the run
            result["framestore"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
