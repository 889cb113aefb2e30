#!/usr/bin/env bash
# UWS service benchmark (BENCHMARKS.md, "UWS service"): builds a Release otfd in its own build
# folder, starts it on loopback with a fresh data directory (SQLite store, synchronous=FULL, as
# shipped) and the fixture models, and measures with wrk for a fixed duration:
#   1. job-document GETs/s (GET /jobs/{id} of one PENDING job), p50/p99 latency;
#   2. job creations/s: POST /jobs, multipart with a small FITS upload (PHASE not RUN, so the
#      jobs stay PENDING), each one fsync'd before its 303.
# Usage: bench/uws/run.sh [DURATION (default 20s)]; CONNS, THREADS, HTTP_THREADS override wrk's
# connections, wrk's threads and otfd's http.threads. Needs wrk and curl (Debian packages).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/uws"
build="${OTF_BENCH_BUILD:-$root/build/bench-uws}"
duration="${1:-20s}"
conns="${CONNS:-32}"
threads="${THREADS:-2}"
http_threads="${HTTP_THREADS:-4}"
models="$root/tests/data/models"

for tool in wrk curl cmake; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done

echo "== building Release otfd in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target otfd -j2 >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/otf-bench-uws.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$build/bin/otfd" --listen 127.0.0.1:0 --data "$tmp/data" --models "$models" \
    --ready-file "$tmp/ready" --log_level warn --http.threads "$http_threads" \
    >"$tmp/otfd.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    [ -s "$tmp/ready" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/otfd.log" >&2; exit 1; }
    sleep 0.1
done
url=$(head -n1 "$tmp/ready")
model=$(curl -fsS -H 'Accept: application/json' "$url/models" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["models"][0]["id"])')
export OTF_BENCH_MODEL="$model"

# One job to read: created the way the creation benchmark creates them.
python3 - "$tmp/small.fits" <<'PY'
import sys
cards = ["SIMPLE  =                    T", "BITPIX  =                    8",
         "NAXIS   =                    2", "NAXIS1  =                   64",
         "NAXIS2  =                   48", "END"]
h = "".join(c.ljust(80) for c in cards).ljust(2880).encode()
d = bytes((i * 13) % 256 for i in range(1, 64 * 48 + 1))
open(sys.argv[1], "wb").write(h + d + b"\0" * (-len(d) % 2880))
PY
job=$(curl -fsS -o /dev/null -w '%{redirect_url}' -F "MODEL=$model" \
    -F "image=@$tmp/small.fits;type=application/fits" "$url/jobs")
[ -n "$job" ] || { echo "run.sh: job creation failed" >&2; exit 1; }

summary() { # name, wrk output file
    awk -v name="$1" '
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx or 3xx/ { bad = $NF }
        /Socket errors/ { err = $0 }
        END { printf "%-22s %10s req/s   p50 %8s   p99 %8s   non-2xx/3xx %s %s\n",
                     name, rps, p50, p99, (bad == "" ? 0 : bad), err }' "$2"
}

echo "== otfd $url, model $model, wrk -t$threads -c$conns -d$duration, http.threads $http_threads"
echo "== 1. GET $job"
wrk -t"$threads" -c"$conns" -d"$duration" --latency "$job" | tee "$tmp/get.txt"
echo "== 2. POST $url/jobs (multipart, $(stat -c %s "$tmp/small.fits")-byte FITS)"
wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$here/create_job.lua" "$url/jobs" |
    tee "$tmp/create.txt"
created=$(curl -fsS "$url/metrics" | awk '/^otf_jobs_created_total/ { print $2 }')

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p'))"
summary "job document GET" "$tmp/get.txt"
summary "job creation POST" "$tmp/create.txt"
echo "jobs created in total: $created"
