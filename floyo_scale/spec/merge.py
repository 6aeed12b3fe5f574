"""The merge rules, in one place (docs/spec.md describes them):

1. mappings merge deeply, key by key;
2. anything else (lists, scalars) is replaced whole by the later file;
3. `null` removes the key, so a later phase can drop what an earlier one added;
4. later wins: a phase over the phase it extends, a stack's `overrides` over its phase.

Provenance follows the values: every key path in the result says which file and line it
came from.
"""

from __future__ import annotations

from typing import Any

from .yamlload import KeyPath, Provenance


def merge(
    base: dict[str, Any],
    base_prov: Provenance,
    over: dict[str, Any],
    over_prov: Provenance,
    path: KeyPath = (),
) -> tuple[dict[str, Any], Provenance]:
    """Merge `over` onto `base`; return the result and its provenance (inputs are unchanged)."""
    result = dict(base)
    prov = dict(base_prov) if not path else base_prov
    for key, value in over.items():
        here = path + (key,)
        if value is None:
            result.pop(key, None)
            _drop(prov, here)
            continue
        old = result.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            result[key], prov = merge(old, prov, value, over_prov, here)
            if here in over_prov:
                prov[here] = over_prov[here]
        else:
            result[key] = value
            _drop(prov, here)
            _copy(prov, over_prov, here)
    return result, prov


def _drop(prov: Provenance, prefix: KeyPath) -> None:
    n = len(prefix)
    for key in [k for k in prov if k[:n] == prefix]:
        del prov[key]


def _copy(dest: Provenance, src: Provenance, prefix: KeyPath) -> None:
    n = len(prefix)
    for key, loc in src.items():
        if key[:n] == prefix:
            dest[key] = loc
