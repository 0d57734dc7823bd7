#!/usr/bin/env python3
"""Verifies SM2 CSRs with Tongsuo (tongsuopy): SM2-with-SM3 under the GM/T 0009 default ID
1234567812345678, which is what tongsuopy's ECDSA(SM3) on an SM2 key means.

Usage: sm2_tongsuo_verify.py CSR.pem...
Prints `PATH: valid` or `PATH: INVALID (why)` a line each; exits 1 if any is invalid.
The CSR is split by a small DER reader (tongsuopy has no CSR loader): the signed
CertificationRequestInfo, the signature algorithm, which must be SM2-with-SM3, and the
signature; the public key is the request's SubjectPublicKeyInfo, loaded by Tongsuo.
"""

import base64
import sys

from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature

SM2_WITH_SM3 = bytes.fromhex("06082a811ccf55018375")  # OID 1.2.156.10197.1.501


def tlv(data, at):
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at : at + n], "big")
        at += n
    return tag, at, at + length


def judge(path):
    text = open(path).read()
    body = text.split("-----BEGIN CERTIFICATE REQUEST-----")[1].split("-----END CERTIFICATE REQUEST-----")[0]
    csr = base64.b64decode("".join(body.split()))
    _, start, _ = tlv(csr, 0)
    _, info_start, info_end = tlv(csr, start)
    info = csr[start:info_end]
    _, alg_start, alg_end = tlv(csr, info_end)
    if not csr[alg_start:alg_end].startswith(SM2_WITH_SM3):
        return "signature algorithm is not SM2-with-SM3"
    tag, sig_start, sig_end = tlv(csr, alg_end)
    if tag != 0x03 or csr[sig_start] != 0:
        return "signature is not a BIT STRING"
    signature = csr[sig_start + 1 : sig_end]
    # CertificationRequestInfo: version, subject, subjectPKInfo, attributes.
    _, v_start, v_end = tlv(csr, info_start)
    _, _, subject_end = tlv(csr, v_end)
    _, _, spki_end = tlv(csr, subject_end)
    key = serialization.load_der_public_key(csr[subject_end:spki_end])
    if not isinstance(key.curve, ec.SM2):
        return f"key is on {key.curve.name}, not SM2"
    try:
        key.verify(signature, info, ec.ECDSA(hashes.SM3()))
    except InvalidSignature:
        return "signature does not verify"
    return None


def main():
    bad = 0
    for path in sys.argv[1:]:
        try:
            why = judge(path)
        except Exception as e:  # a CSR this reader cannot take is a failure, said
            why = f"{type(e).__name__}: {e}"
        if why is None:
            print(f"{path}: valid")
        else:
            bad += 1
            print(f"{path}: INVALID ({why})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
