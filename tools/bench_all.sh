#!/usr/bin/env bash
# Run every benchmark on this machine and keep the reports in benchmarks/out/.
# Usage: tools/bench_all.sh [--quick]   (from anywhere; uses .venv if present)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
mkdir -p benchmarks/out
stamp=$(date -u +%Y%m%d-%H%M%S)
"$python" benchmarks/bench_open.py | tee "benchmarks/out/open-$stamp.md"
"$python" benchmarks/bench_store.py "$@" --out "benchmarks/out/store-$stamp.md"
"$python" benchmarks/bench_remote.py | tee "benchmarks/out/remote-$stamp.md"
"$python" benchmarks/bench_scale.py | tee "benchmarks/out/scale-$stamp.md"
"$python" benchmarks/bench_video_file.py | tee "benchmarks/out/video-file-$stamp.md"
"$python" benchmarks/bench_damage.py | tee "benchmarks/out/damage-$stamp.md"
"$python" benchmarks/bench_uncompressed.py | tee "benchmarks/out/uncompressed-$stamp.md"
"$python" benchmarks/bench_h264_step.py | tee "benchmarks/out/h264-step-$stamp.md"
"$python" benchmarks/bench_batch.py | tee "benchmarks/out/batch-$stamp.md"
"$python" benchmarks/bench_write.py | tee "benchmarks/out/write-$stamp.md"
# live cameras: 60 s per run (over an hour in all); --quick: 10 s runs
record_seconds=60
[[ " $* " == *" --quick "* ]] && record_seconds=10
"$python" benchmarks/bench_record.py --seconds "$record_seconds" --out "benchmarks/out/record-$stamp.md"
# the mio comparison needs mio in its own venv and Debian's ffmpeg (see benchmarks/README.md)
if [ -x "${MIO:-/tmp/venv-mio/bin/mio}" ]; then
    "$python" benchmarks/bench_stitch.py --mio "${MIO:-/tmp/venv-mio/bin/mio}" | tee "benchmarks/out/stitch-$stamp.md"
fi
echo "reports in benchmarks/out/*-$stamp.md"
