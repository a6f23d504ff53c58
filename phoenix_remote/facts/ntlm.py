"""The NT hash (MD4 of the UTF-16LE password), to check a Samba password without sending it:
`pdbedit -Lw` shows the stored hash, we compare with ours. MD4 is written out here because
OpenSSL 3 no longer offers it through hashlib (RFC 1320)."""

from __future__ import annotations

import struct


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


# (round function, constant, word order, shifts) of MD4's three rounds
_ROUNDS = (
    (lambda x, y, z: (x & y) | (~x & z), 0, tuple(range(16)), (3, 7, 11, 19)),
    (lambda x, y, z: (x & y) | (x & z) | (y & z), 0x5A827999,
     (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), (3, 5, 9, 13)),
    (lambda x, y, z: x ^ y ^ z, 0x6ED9EBA1,
     (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15), (3, 9, 11, 15)),
)


def md4(data: bytes) -> bytes:
    msg = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        h = list(state)  # h[0..3] = a, b, c, d
        for fn, const, order, shifts in _ROUNDS:
            for i, k in enumerate(order):
                # the target rotates a, d, c, b; its three partners follow in that order
                t = (0, 3, 2, 1)[i % 4]
                b, c, d = h[(t + 1) % 4], h[(t + 2) % 4], h[(t + 3) % 4]
                h[t] = _rotl((h[t] + fn(b, c, d) + x[k] + const) & 0xFFFFFFFF, shifts[i % 4])
        state = [(s_ + v) & 0xFFFFFFFF for s_, v in zip(state, h)]
    return struct.pack("<4I", *state)


def nt_hash(password: str) -> str:
    return md4(password.encode("utf-16-le")).hex().upper()
