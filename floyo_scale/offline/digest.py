"""Keyed digests of secret values, so a diff can say that a secret changed without showing it.

A plan records, for each secret input, HMAC-SHA256(key, value) (16 hex digits) beside the
"[secret]" it shows, and the key's id; a diff compares the digests of two plans only when
their key ids match. The key:

- `FLOYO_DIGEST_KEY`, when set: any string; set the same one wherever plans that are saved
  and compared later are made (a repository secret in CI, say).
- Otherwise a random key for this process, handed to the child processes that plan a base
  revision (`diff --base`, through `child_env`), so the two sides of one comparison share it.
  Two plans saved by separate processes then carry different key ids, and their secrets are
  reported as "not compared", never as changed.

Why keyed: with a public key, anyone holding a plan could test guesses of a low-entropy
secret against its digest. With an unknown key the digest says nothing but "same" or
"different". Offline, the values digested are placeholders named after the `${env:...}`
reference and strings the mock engine derives from resource names (the real values are never
read offline), so what a pull request can show is "this secret now comes from another
reference" or "this connection string changes": the rotation of a real secret is visible only
where the real values are (a real preview).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

KEY_ENV = "FLOYO_DIGEST_KEY"
DIGEST_CHARS = 16

_process_key: bytes | None = None


def key(env: Mapping[str, str] | None = None) -> bytes:
    """The digest key: FLOYO_DIGEST_KEY, else one random key for this process."""
    global _process_key
    given = (os.environ if env is None else env).get(KEY_ENV, "")
    if given:
        return given.encode()
    if _process_key is None:
        _process_key = secrets.token_hex(32).encode()
    return _process_key


def key_id(secret_key: bytes | None = None) -> str:
    """A name for the key that reveals nothing about it: plans whose ids differ cannot be
    compared."""
    return hmac.new(secret_key or key(), b"floyo-scale digest key id", hashlib.sha256).hexdigest()[
        :12
    ]


def digest(value: Any, secret_key: bytes | None = None) -> str:
    """HMAC-SHA256 of the value's canonical JSON, 16 hex digits."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    mac = hmac.new(secret_key or key(), text.encode(), hashlib.sha256)
    return mac.hexdigest()[:DIGEST_CHARS]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a child process that must digest with this process's key."""
    return {**env, KEY_ENV: key(env).decode()}
