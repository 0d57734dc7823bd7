#!/usr/bin/env bash
# Side by side on this machine: the same CSR workload through
#   1. `openssl req`, one process per CSR, `xargs -P <cores>` (what a shell loop does),
#   2. pyca/cryptography in <cores> processes (only if `python3 -c 'import cryptography'` works),
#   3. `csrbatch generate` on a CSV manifest (whole run: validation, keys, CSRs, files, summary),
# then per-key RSA key generation medians on one core: csrbatch vs pyca.
#
# Usage: benches/compare-openssl.sh [path/to/csrbatch]   (default: target/release/csrbatch)
# Counts can be changed with RSA2048=40 RSA3072=12 RSA4096=6 EC=400 KEYGEN_RSA2048=100 ...;
# REPEAT=3 (the default) runs each tool that many times per row and shows the median, and
# the lowest and highest ratio of a round (what one run of each would have shown).
# ONLY="ECC SM2" runs just those rows (and skips the per-key RSA table unless RSA is in it).
# Every timed run starts after a `sync`, so that none pays for flushing the files the one
# before it left in the page cache (csrbatch syncs its writes; the others do not).
# The outputs go under ${TMPDIR:-/tmp} and are deleted at the end; KEEP=1 keeps them.
# Deleting tens of thousands of files can slow file creation nearby for minutes on some
# file systems (ext4 without a journal): point TMPDIR at a quiet disk, and leave a few
# minutes between runs of this script.
set -euo pipefail

BIN=${1:-target/release/csrbatch}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
JOBS=$(nproc)
REPEAT=${REPEAT:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/csrbatch-compare.XXXXXX")
if [ -n "${KEEP:-}" ]; then trap 'echo "outputs kept in $WORK" >&2' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi
SUBJ='/C=CN/ST=Zhejiang/L=Hangzhou/O=compare'
HAVE_PYCA=no
python3 -c 'import cryptography' 2>/dev/null && HAVE_PYCA=yes

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

openssl_cmd() { # $1 algorithm, $2 size, $3 output dir -> a command line with {} for the index
    local alg=$1 size=$2 d=$3
    case $alg in
    RSA) echo "openssl req -new -newkey rsa:$size -nodes -sha256 -keyout $d/{}.key -out $d/{}.csr -subj $SUBJ/CN=h{}.example.com -addext subjectAltName=DNS:h{}.example.com" ;;
    ECC) echo "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -keyout $d/{}.key -out $d/{}.csr -subj $SUBJ/CN=h{}.example.com -addext subjectAltName=DNS:h{}.example.com" ;;
    SM2) echo "openssl genpkey -algorithm SM2 -out $d/{}.key && openssl req -new -key $d/{}.key -sm3 -sigopt distid:1234567812345678 -out $d/{}.csr -subj $SUBJ/CN=h{}.example.com -addext subjectAltName=DNS:h{}.example.com" ;;
    esac
}

pyca_run() { # $1 algorithm, $2 size, $3 count, $4 output dir
    python3 - "$@" "$JOBS" <<'PY'
import sys, os
from concurrent.futures import ProcessPoolExecutor
alg, size, count, out, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
def one(i):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa, ec
    key = rsa.generate_private_key(65537, size) if alg == "RSA" else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Zhejiang"),
                      x509.NameAttribute(NameOID.LOCALITY_NAME, "Hangzhou"), x509.NameAttribute(NameOID.COMMON_NAME, f"h{i}.example.com")])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(name)
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"h{i}.example.com")]), critical=False)
           .sign(key, hashes.SHA256()))
    with open(f"{out}/{i}.key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(f"{out}/{i}.csr", "wb") as f:
        f.write(csr.public_bytes(serialization.Encoding.PEM))
with ProcessPoolExecutor(jobs) as pool:
    list(pool.map(one, range(count), chunksize=max(1, count // (jobs * 4))))
PY
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
RSA_KEYS=$("$BIN" --version | sed -n 's/^RSA keys: //p')
echo "openssl: $(openssl version); csrbatch: $("$BIN" -V), RSA keys by $RSA_KEYS; pyca: $HAVE_PYCA$( [ $HAVE_PYCA = yes ] && python3 -c 'import cryptography; print(" " + cryptography.__version__)')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '%-9s %6s %12s %10s %10s %14s %12s %16s\n' work count "openssl s" "pyca s" "csrbatch s" "vs openssl" "vs pyca" "range vs openssl"
for spec in "RSA 2048 ${RSA2048:-40}" "RSA 3072 ${RSA3072:-12}" "RSA 4096 ${RSA4096:-6}" "ECC 256 ${EC:-400}" "SM2 256 ${EC:-400}"; do
    set -- $spec
    alg=$1 size=$2 count=$3
    case " ${ONLY:-RSA ECC SM2} " in *" $alg "*) ;; *) continue ;; esac
    { echo "Algorithm,KeySize,CommonName,Sans,CountryCode,Province,Locality,CorpName"
      for i in $(seq "$count"); do echo "$alg,$size,h$i.example.com,h$i.example.com,CN,Zhejiang,Hangzhou,compare"; done
    } > "$WORK/m-$alg$size.csv"
    # Each tool runs REPEAT times, in turn, into a new folder each time; the median counts.
    ot=() pt=() ct=()
    for rep in $(seq "$REPEAT"); do
        o="$WORK/openssl-$alg$size-$rep" c="$WORK/csrbatch-$alg$size-$rep" p="$WORK/pyca-$alg$size-$rep"
        mkdir -p "$o" "$p"
        cmd=$(openssl_cmd "$alg" "$size" "$o")
        sync; t0=$(now); seq "$count" | xargs -P "$JOBS" -I{} sh -c "$cmd 2>/dev/null"; t1=$(now)
        ot+=("$(secs "$t0" "$t1")")
        [ "$(ls "$o" | grep -c '\.csr$')" = "$count" ] || echo "warning: openssl made $(ls "$o" | grep -c '\.csr$') of $count CSRs" >&2
        if [ $HAVE_PYCA = yes ] && [ "$alg" != SM2 ]; then
            sync; t0=$(now); pyca_run "$alg" "$size" "$count" "$p"; t1=$(now); pt+=("$(secs "$t0" "$t1")")
        fi
        sync; t0=$(now); "$BIN" generate "$WORK/m-$alg$size.csv" --out "$c" --quiet --jobs "$JOBS" 2>/dev/null; t1=$(now)
        ct+=("$(secs "$t0" "$t1")")
    done
    os=$(median "${ot[@]}") cs=$(median "${ct[@]}") ps=-
    [ ${#pt[@]} -gt 0 ] && ps=$(median "${pt[@]}")
    vp=-; [ "$ps" != - ] && vp=$(ratio "$ps" "$cs")
    # The spread a single run shows: the ratio of each round's two times (same round, same
    # state of the machine), lowest to highest.
    rr=(); for i in "${!ot[@]}"; do rr+=("$(ratio "${ot[$i]}" "${ct[$i]}" | tr -d x)"); done
    range="$(printf '%s\n' "${rr[@]}" | sort -g | sed -n '1p;$p' | paste -sd- -)x"
    printf '%-9s %6s %12s %10s %10s %14s %12s %16s\n' "$alg-$size" "$count" "$os" "$ps" "$cs" "$(ratio "$os" "$cs")" "$vp" "$range"
done

case " ${ONLY:-RSA} " in *" RSA "*) ;; *) exit 0 ;; esac
echo
echo "RSA key generation, one core, per key (ms): median / p90 over N keys"
# OPENSSL_RSA_BIN=path/to/a/build/with/--features/openssl-rsa adds its column.
keygen() { # $1 binary, $2 bits, $3 count
    "$1" bench --algorithm RSA --key-size "$2" --count "$3" --jobs 1 --json |
        python3 -c 'import json,sys; f=json.load(sys.stdin)[0]["KeygenMs"]; print("%.0f / %.0f" % (f["P50"], f["P90"]))'
}
printf '%-9s %6s %22s %22s %22s
' size keys "csrbatch ($RSA_KEYS)" "csrbatch (openssl-rsa)" pyca
for spec in "2048 ${KEYGEN_RSA2048:-100}" "3072 ${KEYGEN_RSA3072:-30}" "4096 ${KEYGEN_RSA4096:-12}"; do
    set -- $spec
    ours=$(keygen "$BIN" "$1" "$2")
    feature=-
    [ -n "${OPENSSL_RSA_BIN:-}" ] && feature=$(keygen "$OPENSSL_RSA_BIN" "$1" "$2")
    theirs=-
    if [ $HAVE_PYCA = yes ]; then
        theirs=$(python3 - "$1" "$2" <<'PY'
import sys, time, statistics
from cryptography.hazmat.primitives.asymmetric import rsa
bits, n = int(sys.argv[1]), int(sys.argv[2])
t = []
for _ in range(n):
    s = time.perf_counter(); rsa.generate_private_key(65537, bits); t.append((time.perf_counter() - s) * 1e3)
t.sort()
print("%.0f / %.0f" % (statistics.median(t), t[min(len(t) - 1, int(len(t) * 0.9))]))
PY
)
    fi
    printf '%-9s %6s %22s %22s %22s
' "RSA-$1" "$2" "$ours" "$feature" "$theirs"
done
