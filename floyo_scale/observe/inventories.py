"""The synthesized Inventory of a stack, cached on disk by what determines it.

`status` prices the whole stack with the cost library, which needs the Inventory `plan`
records; synthesizing it takes over a second, most of `status`'s time when the sources
answer quickly. The Inventory depends only on the resolved stack (its settings and its
phase, overrides merged) and on the program's code (infra/ and the synthesizer), so it is
kept under `.floyo/cache/` (git-ignored, beside the state) with a key made of both: any
change to the spec or the program misses the cache and synthesizes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from ..offline.inventory import Inventory, Resource
from ..spec import ResolvedStack

CACHE_DIR = Path(".floyo") / "cache"


@cache
def _program_digest() -> str:
    """A digest of the program's code (infra/ and the synthesizer)."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*(package / "infra").rglob("*.py"), package / "offline" / "synth.py"]):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(stack: ResolvedStack) -> str:
    material = {
        "program": _program_digest(),
        "stack": stack.name,
        "phase": stack.phase_name,
        "settings": stack.stack.model_dump(mode="json"),
        "resolved": stack.phase.model_dump(mode="json"),
    }
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dump(inventory: Inventory) -> dict[str, Any]:
    return {
        "phase": inventory.phase,
        "stack": inventory.stack,
        "digest_key": inventory.digest_key,
        "resources": [asdict(r) for r in inventory.resources],
    }


def load(data: dict[str, Any]) -> Inventory:
    return Inventory(
        str(data["phase"]),
        str(data["stack"]),
        tuple(
            Resource(**{**r, "depends_on": tuple(r.get("depends_on") or ())})
            for r in data["resources"]
        ),
        digest_key=data.get("digest_key"),
    )


def inventory_for(stack: ResolvedStack, root: Path | None) -> Inventory:
    """The stack's Inventory: from the cache under `root` when its key matches, else
    synthesized (and cached). `root` None: no cache."""
    path = None if root is None else root / CACHE_DIR / f"inventory-{cache_key(stack)}.json"
    if path is not None and path.is_file():
        try:
            return load(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: synthesize again and overwrite it
    from ..offline.synth import synthesize  # pulumi: only when the cache cannot answer

    inventory = synthesize(stack)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".inventory-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(dump(inventory), out)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only checkout: no cache, same answer
    return inventory
