#!/usr/bin/env bash
# Kept for the commands that name it: the comparison is benches/compare.py (see its header
# for the peers, `pip install cryptography tongsuopy`, and REPEAT, COUNT_SCALE, ONLY, KEEP).
exec python3 "$(dirname "$0")/compare.py" "$@"
