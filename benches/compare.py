#!/usr/bin/env python3
"""Side by side on this machine: the same CSR workloads through csrbatch and its peers.

Peers, each a whole run that writes every key and CSR to files:
  - `openssl req`, one process per CSR under `xargs -P <cores>` (what a shell loop does);
  - pyca/cryptography in a pool of <cores> processes, for RSA and ECC;
  - Tongsuo (Alibaba's OpenSSL fork, through tongsuopy) in a pool of <cores> processes, for
    SM2: tongsuopy has no CSR builder, so this script puts the CSR's DER together and lets
    Tongsuo make the key and the SM2-with-SM3 signature (default ID 1234567812345678);
  - csrbatch: one `generate` on a CSV manifest (validation, keys, CSRs, files with their
    syncs, summary.json).

Install the Python peers first (a peer that cannot be imported is shown as "-"):
    pip install cryptography tongsuopy

Usage:
    cargo build --release
    benches/compare.py [path/to/csrbatch]          (default: target/release/csrbatch)

With a second build, made with `--features botan-sm2` (SM2 keys and signatures by Botan),
the SM2 row runs both builds in the same rounds against the same peer runs, and the table
has a row for each:
    cargo build --release --features botan-sm2 && cp target/release/csrbatch /tmp/csrbatch-botan
    cargo build --release
    BOTAN_SM2=/tmp/csrbatch-botan benches/compare.py

Environment:
    REPEAT=5       runs of each tool per row; the table shows the medians
    REPEAT_ONE_KEY runs of the one-key row, 8 x REPEAT by default (one RSA-4096 key takes
                   0.2 s or 4 s, so its median needs many runs)
    COUNT_SCALE=1  multiplies every row's count (COUNT_SCALE=0.01 for a quick check of the
                   script; the one-key RSA-4096 row stays at one key)
    ONLY="ECC SM2" runs only the rows of those algorithms (RSA, ECC, SM2)
    BOTAN_SM2      a csrbatch built with --features botan-sm2 (its --version is checked)
    TMPDIR         where the outputs go (a folder on a quiet part of the disk)
    KEEP=1         keep the outputs (by default they are deleted when the script ends)

Fairness: every run writes into a folder of its own, made fresh for it; `sync` runs before
each timed run, so no tool pays for flushing another's dirty pages (csrbatch makes its files
durable, the peers leave theirs in the page cache); nothing is deleted before the end, since
deleting many files slows file creation nearby on some file systems (ext4 without a
journal); the tools take turns within each round, starting with a different one each round.
The first round's CSRs are checked with `openssl req -verify` (not timed).

Output: a markdown table (work, csrbatch, peer, ratio, openssl req loop, ratio; a ratio is
the peer's time over csrbatch's), then each ratio's lowest and highest single round.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SUBJECT = [("2.5.4.6", "CN"), ("2.5.4.8", "Zhejiang"), ("2.5.4.7", "Hangzhou"), ("2.5.4.10", "compare")]
SM2_DIST_ID = "1234567812345678"
# (algorithm, key size, count before COUNT_SCALE, scaled?)
ROWS = [
    ("ECC", 256, 2000, True),
    ("SM2", 256, 2000, True),
    ("RSA", 2048, 60, True),
    ("RSA", 3072, 16, True),
    ("RSA", 4096, 8, True),
    ("RSA", 4096, 1, False),
]


def jobs():
    return len(os.sched_getaffinity(0))


# --- peers: run as `compare.py peer pyca|tongsuo ALG SIZE COUNT OUT JOBS`, a fresh process each.

def host(i):
    return f"h{i}.example.com"


def pyca_one(args):
    alg, size, i, out = args
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ObjectIdentifier

    key = rsa.generate_private_key(65537, size) if alg == "RSA" else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(ObjectIdentifier(oid), value) for oid, value in SUBJECT]
        + [x509.NameAttribute(ObjectIdentifier("2.5.4.3"), host(i))]
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host(i))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write(f"{out}/{i}.key", pem, 0o600)
    write(f"{out}/{i}.csr", csr.public_bytes(serialization.Encoding.PEM), 0o644)


def der(tag, body):
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        while p > 0x7F:
            p >>= 7
            chunk.append(0x80 | (p & 0x7F))
        body += bytes(reversed(chunk))
    return der(0x06, body)


def sm2_tbs(i, spki):
    """CertificationRequestInfo (RFC 2986) with the subject and SAN csrbatch writes."""
    rdns = b""
    for oid, value in SUBJECT + [("2.5.4.3", host(i))]:
        tag = 0x13 if oid == "2.5.4.6" else 0x0C  # C PrintableString, the rest UTF8String
        rdns += der(0x31, der(0x30, der_oid(oid) + der(tag, value.encode())))
    san = der(0x30, der(0x82, host(i).encode()))  # GeneralNames { dNSName }
    extension = der(0x30, der_oid("2.5.29.17") + der(0x04, san))
    attribute = der(0x30, der_oid("1.2.840.113549.1.9.14") + der(0x31, der(0x30, extension)))
    return der(0x30, der(0x02, b"\x00") + der(0x30, rdns) + spki + der(0xA0, attribute))


def tongsuo_one(args):
    _, _, i, out = args
    import base64

    from tongsuopy.crypto import hashes, serialization
    from tongsuopy.crypto.asymciphers import ec

    key = ec.generate_private_key(ec.SM2())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tbs = sm2_tbs(i, spki)
    signature = key.sign(tbs, ec.ECDSA(hashes.SM3()))  # SM2 with the default ID, DER (r, s)
    algorithm = der(0x30, der_oid("1.2.156.10197.1.501"))
    csr = der(0x30, tbs + algorithm + der(0x03, b"\x00" + signature))
    b64 = base64.encodebytes(csr).decode().replace("\n", "")
    lines = "\n".join(b64[j : j + 64] for j in range(0, len(b64), 64))
    pem = f"-----BEGIN CERTIFICATE REQUEST-----\n{lines}\n-----END CERTIFICATE REQUEST-----\n"
    write(f"{out}/{i}.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    write(f"{out}/{i}.csr", pem.encode(), 0o644)


def write(path, data, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def peer_main(argv):
    from concurrent.futures import ProcessPoolExecutor

    which, alg, size, count, out, n = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4], int(argv[5])
    one = pyca_one if which == "pyca" else tongsuo_one
    with ProcessPoolExecutor(n) as pool:
        list(pool.map(one, [(alg, size, i, out) for i in range(1, count + 1)], chunksize=max(1, count // (n * 4))))


# --- the driver

def importable(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def openssl_command(alg, size, out):
    common = f"-subj /C=CN/ST=Zhejiang/L=Hangzhou/O=compare/CN=h{{}}.example.com -addext subjectAltName=DNS:h{{}}.example.com"
    if alg == "RSA":
        return f"openssl req -new -newkey rsa:{size} -nodes -sha256 -keyout {out}/{{}}.key -out {out}/{{}}.csr {common}"
    if alg == "ECC":
        return f"openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -keyout {out}/{{}}.key -out {out}/{{}}.csr {common}"
    return (
        f"openssl genpkey -algorithm SM2 -out {out}/{{}}.key && openssl req -new -key {out}/{{}}.key -sm3 "
        f"-sigopt distid:{SM2_DIST_ID} -out {out}/{{}}.csr {common}"
    )


def timed(argv, **kw):
    os.sync()
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    return seconds


def csrs_in(folder):
    found = []
    for root, _, files in os.walk(folder):
        found += [os.path.join(root, f) for f in files if f.endswith((".csr", ".csr.pem"))]
    return sorted(found)


def check_output(tool, alg, folder, count):
    csrs = csrs_in(folder)
    if len(csrs) != count:
        sys.exit(f"{tool} made {len(csrs)} CSRs of {count} in {folder}")
    extra = ["-sm3", "-vfyopt", f"distid:{SM2_DIST_ID}"] if alg == "SM2" else []
    for csr in (csrs[0], csrs[-1]):
        done = subprocess.run(["openssl", "req", "-in", csr, "-noout", "-verify", *extra], capture_output=True, text=True)
        if "verify OK" not in done.stdout + done.stderr:  # exits 0 even on failure: read it
            sys.exit(f"{tool}: {csr} does not verify: {done.stdout}{done.stderr}")


def fmt_s(seconds):
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/csrbatch")
    if not os.access(binary, os.X_OK):
        sys.exit("build first: cargo build --release")
    n, repeat = jobs(), int(os.environ.get("REPEAT", "5"))
    scale = float(os.environ.get("COUNT_SCALE", "1"))
    only = os.environ.get("ONLY", "RSA ECC SM2").split()
    have = {"pyca": importable("cryptography"), "tongsuo": importable("tongsuopy")}
    work = tempfile.mkdtemp(prefix="csrbatch-compare.", dir=os.environ.get("TMPDIR"))
    me = os.path.abspath(__file__)

    # `--version` is three lines: `csrbatch X.Y.Z`, `RSA keys: rsa crate A.B` or `... OpenSSL A.B.C`,
    # `SM2 keys: sm2 crate A.B.C` or `... Botan A.B.C`.
    version = " ".join(subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split())
    backend = "openssl-rsa" if "RSA keys: OpenSSL" in version else "default"
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    botan = os.environ.get("BOTAN_SM2")
    if botan:
        botan = os.path.abspath(botan)
        botan_version = " ".join(subprocess.run([botan, "--version"], capture_output=True, text=True).stdout.split())
        if "SM2 keys: Botan" not in botan_version:
            sys.exit(f"BOTAN_SM2={botan} is not a botan-sm2 build: {botan_version}")
        if "SM2 keys: Botan" in version:
            sys.exit(f"{binary} is a botan-sm2 build: give the default build first")
    peers = []
    if have["pyca"]:
        peers.append("pyca/cryptography " + subprocess.run([sys.executable, "-c", "import cryptography; print(cryptography.__version__)"], capture_output=True, text=True).stdout.strip())
    if have["tongsuo"]:
        peers.append("tongsuopy " + subprocess.run([sys.executable, "-c", "import importlib.metadata as m; print(m.version('tongsuopy'))"], capture_output=True, text=True).stdout.strip())
    print(f"machine: {n} cores, {cpu}, {os.uname().sysname} {os.uname().release}")
    print(f"{version} ({backend} build); {openssl}; {', '.join(peers) or 'no Python peers'}")
    if botan:
        print(f"SM2 row also: {botan_version} (botan-sm2 build)")
    print(f"date: {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}; medians of {repeat} runs (the one-key row: {os.environ.get('REPEAT_ONE_KEY', 8 * repeat)}); outputs in {work}")
    print()

    table, spreads = [], []
    try:
        for index, (alg, size, base, scaled) in enumerate(ROWS):
            if alg not in only:
                continue
            count = max(1, round(base * scale)) if scaled else base
            label = f"{alg if alg != 'RSA' else f'RSA-{size}'}, {count:,}"
            manifest = os.path.join(work, f"m{index}-{alg}{size}.csv")
            with open(manifest, "w") as f:
                f.write("Algorithm,KeySize,CommonName,Sans,CountryCode,Province,Locality,CorpName\n")
                for i in range(1, count + 1):
                    f.write(f"{alg},{size},{host(i)},{host(i)},CN,Zhejiang,Hangzhou,compare\n")
            peer = "tongsuo" if alg == "SM2" else "pyca"
            # Our builds of this row: the default one, and the botan-sm2 one for SM2.
            ours_all = {"csrbatch": binary} | ({"csrbatch-botan": botan} if botan and alg == "SM2" else {})
            tools = list(ours_all) + ["openssl"] + ([peer] if have[peer] else [])
            times = {t: [] for t in tools}
            for rep in range(repeat if scaled else int(os.environ.get("REPEAT_ONE_KEY", str(8 * repeat)))):
                for tool in tools[rep % len(tools):] + tools[: rep % len(tools)]:
                    out = os.path.join(work, f"{tool}-{index}-{alg}{size}-{rep}")
                    os.mkdir(out)
                    if tool in ours_all:
                        argv = [ours_all[tool], "generate", manifest, "--out", out, "--quiet", "--jobs", str(n)]
                    elif tool == "openssl":
                        argv = ["sh", "-c", f"seq {count} | xargs -P {n} -I{{}} sh -c '{openssl_command(alg, size, out)} 2>/dev/null'"]
                    else:
                        argv = [sys.executable, me, "peer", tool, alg, str(size), str(count), out, str(n)]
                    times[tool].append(timed(argv))
                    if rep == 0:
                        check_output(tool, alg, out, count)
            for build in ours_all:
                ours = statistics.median(times[build])
                name_of_row = label if build == "csrbatch" else f"{label}, botan-sm2 build"
                row = [name_of_row, fmt_s(ours)]
                spread = [name_of_row]
                for tool, name in ((peer, {"pyca": "pyca pool", "tongsuo": "Tongsuo pool"}[peer]), ("openssl", None)):
                    if tool not in times:
                        row += ["-", "-"]
                        spread.append("-")
                        continue
                    theirs = statistics.median(times[tool])
                    row += [f"{name} {fmt_s(theirs)}" if name else fmt_s(theirs), f"{theirs / ours:.2f}x"]
                    rounds = sorted(t / c for t, c in zip(times[tool], times[build]))
                    spread.append(f"{rounds[0]:.2f}x-{rounds[-1]:.2f}x")
                table.append(row)
                spreads.append(spread)
            print(f"done: {label}", file=sys.stderr)
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)

    build = "csrbatch (default build)" if backend == "default" else "csrbatch (--features openssl-rsa)"
    print(f"| work | {build} | peer | ratio | openssl req loop | ratio |")
    print("|---|---|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    print()
    print("Lowest and highest ratio of a single round (one run of each tool, in turn):")
    print()
    print("| work | vs peer | vs openssl req loop |")
    print("|---|---|---|")
    for row in spreads:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "peer":
        peer_main(sys.argv[2:])
    else:
        main()
