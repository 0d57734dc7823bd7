#!/usr/bin/env bash
# Peak memory and time of `validate` (and, with GENERATE=1, `generate`) on the same
# requests as YAML and as CSV: the YAML reader streams request by request, so its peak
# should stay near the CSV one (at most 256 MiB at a million requests) and its time
# within 3x. Not a test: timings depend on the machine and its load.
#
#   benches/yaml-memory.sh                 # 1,000,000 requests, validate only
#   COUNT=200000 GENERATE=1 benches/yaml-memory.sh
#   KEEP=1 ...                             # keep the outputs (deleting many files slows
#                                          # the next file-heavy benchmark on some disks)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-1000000}
bin=${CSRBATCH:-target/release/csrbatch}
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d "${TMPDIR:-/tmp}/yaml-memory.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

python3 - "$count" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/m.yaml", "w") as y, open(f"{work}/m.csv", "w") as c:
    y.write("defaults:\n  CountryCode: CN\n  Province: Zhejiang\n  Locality: Hangzhou\nrequests:\n")
    c.write("Algorithm,CommonName,Sans,CountryCode,Province,Locality\n")
    for i in range(n):
        y.write(f"  - Algorithm: ECC\n    CommonName: h{i}.example.com\n    Sans: [a{i}.example.com, b{i}.example.com]\n")
        c.write(f'ECC,h{i}.example.com,"a{i}.example.com,b{i}.example.com",CN,Zhejiang,Hangzhou\n')
PY

measure() { # label, command...
    local label=$1; shift
    /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || { cat "$work/time.txt"; exit 1; }
    local rss wall
    rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed/ {print $2}' "$work/time.txt")
    printf '%-28s %10s   peak RSS %5s MiB\n' "$label" "$wall" "$rss"
}

echo "$count requests ($(du -h "$work/m.yaml" | cut -f1) YAML, $(du -h "$work/m.csv" | cut -f1) CSV)"
measure "validate CSV" "$bin" validate "$work/m.csv"
measure "validate YAML" "$bin" validate "$work/m.yaml"
if [ "${GENERATE:-0}" = 1 ]; then
    measure "generate CSV" "$bin" generate "$work/m.csv" --out "$work/out-csv" --layout fanout --quiet
    measure "generate YAML" "$bin" generate "$work/m.yaml" --out "$work/out-yaml" --layout fanout --quiet
fi
