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
echo "reports in benchmarks/out/*-$stamp.md"
