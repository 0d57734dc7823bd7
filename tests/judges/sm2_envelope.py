#!/usr/bin/env python3
"""An independent maker of SM2 dual-certificate key deliveries, for the import tests.

Written from GM/T 0009-2012 §7.4 (GB/T 35276-2017 §7.4) and GM/T 0092-2020, with the
SM2/SM3/SM4 of the pure-Python `gmssl` package (pip install gmssl) and DER written by hand
here: nothing of csrbatch is used.

  SM2EnvelopedKey ::= SEQUENCE {
    symAlgID               AlgorithmIdentifier,   -- sm4-ecb 1.2.156.10197.1.104.1
    symEncryptedKey        SM2Cipher,             -- the SM4 key, to the signing key
    sm2PublicKey           BIT STRING,            -- 04||X||Y of the encryption key
    sm2EncryptedPrivateKey BIT STRING }           -- SM4-ECB, no padding, of its scalar
  SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
                           HASH OCTET STRING, CipherText OCTET STRING }   -- C1 C3 C2
  CSRResponse ::= SEQUENCE { signCertificate Certificate,
                             [0] EXPLICIT SM2EnvelopedKey, [1] EXPLICIT Certificate }

Commands:
  envelope SIGN_PUB ENC_KEY OUT.der [--tamper] [--null-params]
      SIGN_PUB: an SPKI PEM, a certificate PEM, a CSR PEM or a private key PEM (its public
      key is taken); ENC_KEY: the encryption private key (PKCS#8 or SEC1 PEM, unencrypted).
      --tamper flips a byte of sm2EncryptedPrivateKey.
  envelopes LIST                      one envelope per line of LIST: SIGN_PUB ENC_KEY OUT.der
  csrresponse SIGN_CERT_PEM ENVELOPE_DER ENC_CERT_PEM OUT.der
  base64 IN OUT [--wrap N]            the base64 of IN's bytes (N columns, 0: one line)
  encrypt PUB MESSAGE_HEX             -> hex of the SM2Cipher DER (C1C3C2)
  decrypt KEY_PEM CIPHER_HEX          -> hex plaintext (C3 checked)
  unwrap SIGN_KEY_PEM ENVELOPE_DER    -> hex of the encryption scalar, checked against
                                         sm2PublicKey (prints "MISMATCH ..." otherwise)
  symkey-cipher ENVELOPE_DER OUT.der  the symEncryptedKey SM2Cipher DER alone (for openssl)
  sec1 KEY_PEM OUT.pem                the key as SEC1 `EC PRIVATE KEY` (RFC 5915, curve sm2)
  selftest                            SM4/SM2 vectors and round trips
"""

import base64
import binascii
import os
import sys

try:
    from gmssl import sm2, sm3, sm4
except ImportError as e:  # the tests look for this line
    sys.stderr.write(f"gmssl is not importable ({e}): pip install gmssl\n")
    sys.exit(3)

SM4_ECB_OID = "1.2.156.10197.1.104.1"
SM2_CURVE_OID = "1.2.156.10197.1.301"
N = int(sm2.default_ecc_table["n"], 16)


# -- DER, by hand ---------------------------------------------------------------------


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def der_int(v):
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return tlv(0x02, b)


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(chunk)
    return tlv(0x06, out)


def seq(*items):
    return tlv(0x30, b"".join(items))


def bit_string(b):
    return tlv(0x03, b"\x00" + b)


def octets(b):
    return tlv(0x04, b)


def read_tlv(b, i=0):
    """(tag, content, next index) of the element at b[i]."""
    tag = b[i]
    n = b[i + 1]
    j = i + 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[j : j + k], "big")
        j += k
    return tag, b[j : j + n], j + n


def children(content):
    out, i = [], 0
    while i < len(content):
        tag, c, i = read_tlv(content, i)
        out.append((tag, c))
    return out


# -- keys -------------------------------------------------------------------------------


def pem_blocks(path):
    text = open(path, "rb").read()
    if not text.lstrip().startswith(b"-----"):
        return [("DER", text)]
    out, label, body = [], None, []
    for line in text.decode().splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN "):
            label, body = line[11:-5], []
        elif line.startswith("-----END "):
            out.append((label, base64.b64decode("".join(body))))
            label = None
        elif label is not None:
            body.append(line)
    return out


def point_of_spki(spki):
    bits = [c for t, c in children(spki) if t == 0x03][0]
    point = bits[1:]
    assert point[0] == 4 and len(point) == 65, f"an uncompressed SM2 point: {point.hex()}"
    return point[1:]


def sec1_parts(ec):
    """(scalar, X||Y or None) of an ECPrivateKey."""
    items = children(ec)
    scalar = [c for t, c in items if t == 0x04][0]
    point = None
    for t, c in items:
        if t == 0xA1:
            point = children(c)[0][1][1:][1:]
    return scalar.rjust(32, b"\x00"), point


def private_scalar(path):
    for label, der in pem_blocks(path):
        if label == "PRIVATE KEY":
            items = children(read_tlv(der)[1])
            ec = [c for t, c in items if t == 0x04][0]
            return sec1_parts(read_tlv(ec)[1])[0]
        if label == "EC PRIVATE KEY":
            return sec1_parts(read_tlv(der)[1])[0]
        if label == "ENCRYPTED PRIVATE KEY":
            sys.exit(f"{path}: an encrypted key: decrypt it with openssl first")
    sys.exit(f"{path}: no SM2 private key")


def public_point(path):
    """X||Y (64 bytes) of a public key, certificate, CSR or private key."""
    for label, der in pem_blocks(path):
        body = read_tlv(der)[1]
        if label == "PUBLIC KEY":
            return point_of_spki(body)
        if label == "CERTIFICATE":
            tbs = children(read_tlv(body)[1])
            # version [0] then serial, signature, issuer, validity, subject, SPKI.
            spki = tbs[6] if tbs[0][0] == 0xA0 else tbs[5]
            return point_of_spki(spki[1])
        if label == "CERTIFICATE REQUEST":
            info = children(read_tlv(body)[1])
            return point_of_spki(info[2][1])
        if label in ("PRIVATE KEY", "EC PRIVATE KEY"):
            return point_of(private_scalar(path))
    sys.exit(f"{path}: no public key")


def crypt_for(private_hex, public_xy):
    c = sm2.CryptSM2(private_key=private_hex, public_key="00" * 64, mode=1)
    # Set after construction: gmssl's `lstrip("04")` would eat the X coordinate's leading
    # `0` and `4` digits too.
    c.public_key = public_xy.hex() if public_xy is not None else None
    return c


def point_of(scalar):
    c = crypt_for(scalar.hex(), None)
    return bytes.fromhex(c._kg(int.from_bytes(scalar, "big"), sm2.default_ecc_table["g"]))


# -- SM2 encryption as GM/T 0009 encodes it ----------------------------------------------


def sm2_encrypt(public_xy, message):
    raw = crypt_for("00", public_xy).encrypt(message)
    # gmssl: C1 is X||Y (64 bytes, no 04), then C3 (32), then C2 (mode=1: C1C3C2).
    assert len(raw) == 64 + 32 + len(message), len(raw)
    x, y, c3, c2 = raw[:32], raw[32:64], raw[64:96], raw[96:]
    return seq(der_int(int.from_bytes(x, "big")), der_int(int.from_bytes(y, "big")), octets(c3), octets(c2))


def sm2_decrypt(scalar, cipher_der):
    tag, body, _ = read_tlv(cipher_der)
    assert tag == 0x30, "SM2Cipher is a SEQUENCE"
    (tx, x), (ty, y), (th, c3), (tc, c2) = children(body)
    assert (tx, ty, th, tc) == (2, 2, 4, 4), "SM2Cipher: INTEGER, INTEGER, OCTET STRING, OCTET STRING"
    assert len(c3) == 32, "HASH is 32 bytes (SM3)"
    x = int.from_bytes(x, "big").to_bytes(32, "big")
    y = int.from_bytes(y, "big").to_bytes(32, "big")
    c = crypt_for(scalar.hex(), None)
    m = c.decrypt(x + y + c3 + c2)
    # gmssl does not check C3: check it here.
    xy = bytes.fromhex(c._kg(int.from_bytes(scalar, "big"), (x + y).hex()))
    u = sm3.sm3_hash(list(xy[:32] + m + xy[32:]))
    if bytes.fromhex(u) != c3:
        raise ValueError("C3 does not match: not encrypted to this key")
    return m


def sm4_ecb(key, data, decrypt=False):
    assert len(data) % 16 == 0
    c = sm4.CryptSM4(padding_mode=None)  # neither PKCS7 (0) nor ZERO (1): no padding
    c.set_key(key, sm4.SM4_DECRYPT if decrypt else sm4.SM4_ENCRYPT)
    out = c.crypt_ecb(data)
    assert len(out) == len(data), f"SM4-ECB without padding: {len(out)} bytes of {len(data)}"
    return out


# -- commands ---------------------------------------------------------------------------


def envelope(sign_pub, enc_key, tamper=False, null_params=False):
    scalar = private_scalar(enc_key)
    point = point_of(scalar)
    sym = os.urandom(16)
    cipher = sm2_encrypt(public_point(sign_pub), sym)
    wrapped = bytearray(sm4_ecb(sym, scalar))
    assert len(wrapped) == 32
    if tamper:
        wrapped[7] ^= 0x01
    alg = seq(der_oid(SM4_ECB_OID), tlv(0x05, b"")) if null_params else seq(der_oid(SM4_ECB_OID))
    return seq(alg, cipher, bit_string(b"\x04" + point), bit_string(bytes(wrapped)))


def parse_envelope(der):
    tag, body, end = read_tlv(der)
    assert tag == 0x30 and end == len(der)
    (ta, alg), (tc, cipher), (tp, pub), (tk, wrapped) = children(body)
    assert (ta, tc, tp, tk) == (0x30, 0x30, 0x03, 0x03)
    return alg, tlv(0x30, cipher), pub[1:], wrapped[1:]


def unwrap(sign_key, der):
    _, cipher, pub, wrapped = parse_envelope(der)
    sym = sm2_decrypt(private_scalar(sign_key), cipher)
    assert len(sym) == 16
    scalar = sm4_ecb(sym, wrapped, decrypt=True)
    if b"\x04" + point_of(scalar) != pub:
        return f"MISMATCH {scalar.hex()}"
    return scalar.hex()


def cert_der(path):
    blocks = [d for label, d in pem_blocks(path) if label in ("CERTIFICATE", "DER")]
    return blocks[0]


def selftest():
    # SM4: GB/T 32907-2016 appendix A.1.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm4_ecb(key, key).hex() == "681edf34d206965e86b3e94f536e4246"
    # SM3: GB/T 32905-2016 example 1.
    assert sm3.sm3_hash(list(b"abc")) == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    # SM2 round trips with random keys (scalars whose hex starts with 0 or 4 included).
    for lead in (b"\x04", b"\x00\x40", b"\x7f"):
        scalar = (lead + os.urandom(32))[:32]
        scalar = (int.from_bytes(scalar, "big") % (N - 1) + 1).to_bytes(32, "big")
        msg = os.urandom(16)
        assert sm2_decrypt(scalar, sm2_encrypt(point_of(scalar), msg)) == msg
    print("selftest OK")


def main(argv):
    if not argv:
        sys.exit(__doc__)
    cmd, args = argv[0], argv[1:]
    flags = [a for a in args if a.startswith("--")]
    pos = [a for a in args if not a.startswith("--")]
    if cmd == "envelope":
        der = envelope(pos[0], pos[1], "--tamper" in flags, "--null-params" in flags)
        open(pos[2], "wb").write(der)
    elif cmd == "envelopes":
        for line in open(pos[0]).read().splitlines():
            if line.strip():
                sign_pub, enc_key, out = line.split()
                open(out, "wb").write(envelope(sign_pub, enc_key))
    elif cmd == "csrresponse":
        env = open(pos[1], "rb").read()
        der = seq(cert_der(pos[0]), tlv(0xA0, env), tlv(0xA1, cert_der(pos[2])))
        open(pos[3], "wb").write(der)
    elif cmd == "base64":
        width = 64
        if "--wrap" in args:
            width = int(args[args.index("--wrap") + 1])
        text = base64.b64encode(open(args[0], "rb").read()).decode()
        if width:
            text = "\n".join(text[i : i + width] for i in range(0, len(text), width))
        open(args[1], "w").write(text + "\n")
    elif cmd == "encrypt":
        print(sm2_encrypt(public_point(pos[0]), bytes.fromhex(pos[1])).hex())
    elif cmd == "decrypt":
        print(sm2_decrypt(private_scalar(pos[0]), bytes.fromhex(pos[1])).hex())
    elif cmd == "unwrap":
        print(unwrap(pos[0], open(pos[1], "rb").read()))
    elif cmd == "symkey-cipher":
        open(pos[1], "wb").write(parse_envelope(open(pos[0], "rb").read())[1])
    elif cmd == "sec1":
        scalar = private_scalar(pos[0])
        der = seq(
            der_int(1),
            octets(scalar),
            tlv(0xA0, der_oid(SM2_CURVE_OID)),
            tlv(0xA1, bit_string(b"\x04" + point_of(scalar))),
        )
        body = base64.b64encode(der).decode()
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        open(pos[1], "w").write(f"-----BEGIN EC PRIVATE KEY-----\n{lines}\n-----END EC PRIVATE KEY-----\n")
    elif cmd == "selftest":
        selftest()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
