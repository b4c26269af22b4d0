#!/usr/bin/env python3
"""Writes the barrier known-answer files, independently of the Go code.

vectors.json: single ciphertexts. Format: 0x01 | term (4 bytes BE) | nonce (12)
| AES-256-GCM ciphertext | tag (16), with additional data = the 5-byte header
followed by the storage path.

storage.json: a whole physical storage (keyring plus values under two terms)
that a barrier must unseal with the root key and read. Pins the keyring JSON.

Nonces are fixed here only so the files are reproducible; the barrier itself
always draws random nonces. Requires the "cryptography" package.
"""
import base64
import hashlib
import json
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def det(label, n):
    return hashlib.sha256(label.encode()).digest()[:n]


def encrypt(key, term, path, plaintext, nonce):
    header = bytes([1]) + struct.pack(">I", term)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + path.encode())


vectors = []
for name, term, path, plaintext in [
    ("term 1 value", 1, "logical/7f9c/secret/db", b"coffer barrier known answer"),
    ("empty plaintext", 42, "sys/policy/default", b""),
    ("keyring style term 0", 0, "core/keyring", b'{"active_term":1}'),
    ("max term binary", 0xFFFFFFFF, "a", bytes(range(256))),
]:
    key = det("key/" + name, 32)
    ct = encrypt(key, term, path, plaintext, det("nonce/" + name, 12))
    vectors.append({
        "name": name,
        "key": key.hex(),
        "term": term,
        "aad": path,
        "plaintext": plaintext.hex(),
        "ciphertext": ct.hex(),
    })
with open("vectors.json", "w") as f:
    json.dump(vectors, f, indent=2)
    f.write("\n")

b64 = lambda b: base64.b64encode(b).decode()
root = det("root", 32)
k1, k2 = det("term1", 32), det("term2", 32)
keyring = {
    "active_term": 2,
    "root_key": b64(root),
    "keys": [
        {"term": 1, "key": b64(k1), "install_time": "2024-01-02T03:04:05Z", "reserved_encryptions": 1048576},
        {"term": 2, "key": b64(k2), "install_time": "2025-06-07T08:09:10.5Z", "reserved_encryptions": 2097152},
    ],
}
entries = {
    "core/keyring": encrypt(root, 0, "core/keyring", json.dumps(keyring).encode(), det("nonce/keyring", 12)),
    "secret/old": encrypt(k1, 1, "secret/old", b"written under term 1", det("nonce/old", 12)),
    "secret/new": encrypt(k2, 2, "secret/new", b"written under term 2", det("nonce/new", 12)),
}
with open("storage.json", "w") as f:
    json.dump({
        "root_key": root.hex(),
        "entries": {k: v.hex() for k, v in entries.items()},
        "plaintexts": {"secret/old": "written under term 1", "secret/new": "written under term 2"},
        "active_term": 2,
        "active_install_time": "2025-06-07T08:09:10.5Z",
        "active_encryptions": 2097152,
    }, f, indent=2)
    f.write("\n")
