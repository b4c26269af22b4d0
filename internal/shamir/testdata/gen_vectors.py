#!/usr/bin/env python3
"""Writes vectors.json: Shamir known-answer vectors for package shamir.

Independent of the Go code: plain polynomial arithmetic over GF(2^8) with the
AES reduction polynomial 0x11B. Coefficients and x-coordinates are fixed
(derived from SHA-256 of a label) so the output is reproducible. Share format:
y-values followed by the x-coordinate byte.
"""
import hashlib
import json


def gmul(a, b):
    p = 0
    while b:
        if b & 1:
            p ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return p


def evaluate(coeffs, x):
    y, xp = 0, 1
    for c in coeffs:
        y ^= gmul(c, xp)
        xp = gmul(xp, x)
    return y


def stream(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def vector(name, secret, parts, threshold, xs):
    rnd = stream(name, len(secret) * (threshold - 1))
    shares = [bytearray() for _ in xs]
    for i, s in enumerate(secret):
        coeffs = [s] + list(rnd[i * (threshold - 1):(i + 1) * (threshold - 1)])
        for sh, x in zip(shares, xs):
            sh.append(evaluate(coeffs, x))
    for sh, x in zip(shares, xs):
        sh.append(x)
    return {
        "name": name,
        "secret": secret.hex(),
        "threshold": threshold,
        "shares": [bytes(sh).hex() for sh in shares],
    }


vectors = [
    vector("2-of-3 ascii", b"coffer known answer", 3, 2, [1, 2, 3]),
    vector("3-of-5 key", bytes(range(32)), 5, 3, [0x8d, 0x01, 0xff, 0x40, 0x7a]),
    vector("5-of-5 single byte", b"\x00", 5, 5, [9, 200, 17, 255, 128]),
    vector("4-of-7 all ones", b"\xff" * 16, 7, 4, [250, 3, 77, 128, 1, 66, 199]),
]
with open("vectors.json", "w") as f:
    json.dump(vectors, f, indent=2)
    f.write("\n")
