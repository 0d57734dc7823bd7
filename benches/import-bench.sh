#!/usr/bin/env bash
# Import benchmark: COUNT (10,000) ECC requests are generated, a throwaway CA (root and
# intermediate, P-256) issues a certificate for every CSR (pyca/cryptography, so that
# issuing is not what is timed), then in each of REPEAT rounds, in turn: the `generate`
# of COUNT CSRs into a new folder (the yardstick the issue sets), `csrbatch import` from
# one .p7b holding every leaf and the intermediate, and from a folder of one PEM file per
# certificate, each into its own copy of the generated folder (copies made before any
# timed run), both with --ca-bundle (every chain verified to the root). `sync` before
# each timed run, nothing deleted until the end. Medians, and the median of each round's
# ratio import/generate. Peak memory (max RSS) from /usr/bin/time.
#
#   benches/import-bench.sh [BIN]      COUNT=10000 REPEAT=5 TMPDIR=/quiet/disk KEEP=1
set -euo pipefail
bin=${1:-target/release/csrbatch}
bin=$(realpath "$bin")
count=${COUNT:-10000}
repeat=${REPEAT:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/csrbatch-import-bench.XXXXXX")
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
cd "$work"

python3 - "$count" <<'EOF'
import sys
n = int(sys.argv[1])
with open("m.csv", "w") as f:
    f.write("Name,Algorithm,CommonName,Sans,CountryCode,Province,Locality\n")
    for i in range(n):
        f.write(f"h{i},ECC,h{i}.example.com,www.h{i}.example.com,CN,Zhejiang,Hangzhou\n")
EOF

timed() { # label, command...: prints "label seconds max_rss_kib user sys"
    local label=$1
    shift
    sync
    /usr/bin/time -f "%e %M %U %S" -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || {
        cat "$work/stderr.txt" >&2
        return 1
    }
    echo "$label $(cat "$work/time.txt")"
}

results=()
"$bin" generate m.csv --out gen1 -q
python3 - "$count" <<'EOF'
import datetime, glob, os, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

now = datetime.datetime.now(datetime.timezone.utc)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def ca(subject, key, issuer, issuer_key):
    return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256()))
root_key, int_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
root = ca("Bench Root", root_key, "Bench Root", root_key)
inter = ca("Bench Intermediate", int_key, "Bench Root", root_key)
open("root.pem", "wb").write(root.public_bytes(serialization.Encoding.PEM))
os.makedirs("issued", exist_ok=True)
leaves = []
for path in sorted(glob.glob("gen1/*.csr.pem")):
    csr = x509.load_pem_x509_csr(open(path, "rb").read())
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(inter.subject)
        .public_key(csr.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(sans, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(int_key, hashes.SHA256()))
    leaves.append(cert)
    stem = os.path.basename(path)[: -len(".csr.pem")]
    open(f"issued/{stem}.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM)
        + inter.public_bytes(serialization.Encoding.PEM))
open("all.p7b", "wb").write(pkcs7.serialize_certificates(leaves + [inter], serialization.Encoding.DER))
EOF

for round in $(seq 1 "$repeat"); do
    cp -a gen1 "imp-p7b-$round"
    cp -a gen1 "imp-folder-$round"
done
for round in $(seq 1 "$repeat"); do
    results+=("$(timed "generate-$round" "$bin" generate m.csv --out "gen-timed-$round" -q)")
    results+=("$(timed "import-p7b-$round" "$bin" import all.p7b --out "imp-p7b-$round" --ca-bundle root.pem -q)")
    results+=("$(timed "import-folder-$round" "$bin" import issued --out "imp-folder-$round" --ca-bundle root.pem -q)")
done

python3 - "$count" "${results[@]}" <<'EOF'
import statistics, sys
count = int(sys.argv[1])
rows = {}
for line in sys.argv[2:]:
    label, seconds, rss, user, system = line.split()
    kind, _, round_ = label.rpartition("-")
    rows.setdefault(kind, {})[round_] = (float(seconds), int(rss), float(user), float(system))
print(f"| {count:,} ECC requests | median s | per second | user s | sys s | max RSS MiB | / generate (median of rounds) |")
print("|---|---|---|---|---|---|---|")
for label in ("generate", "import-p7b", "import-folder"):
    runs = rows[label]
    med = lambda i: statistics.median(r[i] for r in runs.values())
    rss = max(r[1] for r in runs.values()) / 1024
    ratio = statistics.median(runs[k][0] / rows["generate"][k][0] for k in runs)
    print(f"| {label} | {med(0):.2f} | {count / med(0):,.0f} | {med(2):.2f} | {med(3):.2f} | {rss:.0f} | {ratio:.2f} |")
EOF
