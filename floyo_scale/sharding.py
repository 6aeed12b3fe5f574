"""The shard function: which shard holds a key (a user or organisation id).

One definition, used by `db shards` to place rows and by the app (through the TypeScript twin
in docs/sharding.md) to route queries. Named and versioned: `FLOYO_SHARD_MAP` carries
ALGORITHM, and a change to anything below is a new version, never an edit of this one.

jump-sha256-v1:

1. Normalise the key to text: an integer is its decimal digits; a UUID (`uuid.UUID`, or text
   in the 8-4-4-4-12 hyphenated form, any case) is its lowercase hyphenated form; any other
   text is used exactly as given (no trimming, no case change).
2. Hash: the first 8 bytes of SHA-256 of the text's UTF-8 bytes, read as an unsigned 64-bit
   big-endian integer.
3. Jump consistent hash (Lamping & Veach, 2014, https://arxiv.org/abs/1406.2294) of that
   integer into `shards` buckets.

Jump hash moves only the keys that must move: from n to m > n shards a key either stays or
moves to one of the new shards n..m-1, and about (m - n) / m of the keys move (half, from n
to 2n). It needs shards to be numbered 0..n-1 and only added or removed at the end.
"""

from __future__ import annotations

import hashlib
import re
import uuid

ALGORITHM = "jump-sha256-v1"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MASK = (1 << 64) - 1
_LCG = 2862933555777941757


def normalise(key: object) -> str:
    """The text a key is hashed as (rule 1 above)."""
    if isinstance(key, bool):
        raise TypeError("a shard key is text, an integer or a UUID, not a boolean")
    if isinstance(key, int):
        return str(key)
    if isinstance(key, uuid.UUID):
        return str(key)
    if isinstance(key, str):
        return key.lower() if _UUID.fullmatch(key) else key
    raise TypeError(f"a shard key is text, an integer or a UUID, not {type(key).__name__}")


def key_hash(key: object) -> int:
    """The unsigned 64-bit hash of a key (rules 1 and 2)."""
    digest = hashlib.sha256(normalise(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def jump(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash of a 64-bit integer into `buckets` buckets.

    The division is done in IEEE doubles, as in the paper's C++ and in the TypeScript twin,
    so every implementation gets the same answer."""
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, not {buckets}")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _LCG + 1) & _MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_for(key: object, shards: int) -> int:
    """The shard (0..shards-1) that holds `key` under ALGORITHM."""
    return jump(key_hash(key), shards)
