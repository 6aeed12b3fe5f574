"""The shard function: the documented test vectors (Python and the TypeScript twin in
docs/sharding.md, run under node), and the properties jump consistent hash promises."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floyo_scale import sharding

DOC = Path(__file__).resolve().parent.parent / "docs" / "sharding.md"
COUNTS = (1, 2, 3, 4, 8, 64, 1000)


def vectors() -> list[tuple[str, str, list[int]]]:
    """(key, hash in hex, shard for each of COUNTS) from the doc's table."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `(\".*\")` \| `([0-9a-f]{16})` \|(.*)\|$", line)
        if match:
            shards = [int(cell) for cell in match.group(3).split("|")]
            rows.append((json.loads(match.group(1)), match.group(2), shards))
    return rows


def typescript() -> str:
    match = re.search(r"```ts\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/sharding.md has no TypeScript block"
    return match.group(1)


def strip_types(source: str) -> str:
    """The few annotations the reference uses (`: string | number | bigint`, `: number`...):
    what is left is JavaScript (an ES module)."""
    stripped = re.sub(r"\)\s*:\s*\w+\s*\{", ") {", source)  # return types
    stripped = re.sub(
        r"(\w)\s*:\s*(?:string|number|bigint)(?:\s*\|\s*(?:string|number|bigint))*", r"\1", stripped
    )
    return stripped


def test_the_doc_has_the_vectors() -> None:
    rows = vectors()
    assert len(rows) >= 10
    assert {key for key, _, _ in rows} >= {"", "Zoë", "0F8FAD5B-D9CB-469F-A165-70867728950E"}


@pytest.mark.parametrize(("key", "digest", "shards"), vectors())
def test_python_matches_the_vectors(key: str, digest: str, shards: list[int]) -> None:
    assert format(sharding.key_hash(key), "016x") == digest
    assert [sharding.shard_for(key, n) for n in COUNTS] == shards


def test_typescript_matches_the_vectors(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, (
        "node is needed to check the TypeScript reference in docs/sharding.md against its "
        "test vectors: install Node.js (Debian: apt-get install nodejs; .ci/run does this)"
    )
    rows = [[key, digest, shards] for key, digest, shards in vectors()]
    script = tmp_path / "check.mjs"
    script.write_text(
        strip_types(typescript())
        + f"\nconst rows = {json.dumps(rows)};\nconst counts = {json.dumps(list(COUNTS))};\n"
        + "const out = rows.map(([key]) => [keyHash(key).toString(16).padStart(16, '0'),"
        + " counts.map((n) => shardFor(key, n))]);\n"
        + "out.push([normalise(42), shardFor(42, 1000), shardFor(2n ** 70n, 64), ALGORITHM]);\n"
        + "console.log(JSON.stringify(out));\n",
        encoding="utf-8",
    )
    run = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result[:-1] == [[digest, shards] for _, digest, shards in rows]
    assert result[-1] == [
        "42",
        sharding.shard_for(42, 1000),
        sharding.shard_for(2**70, 64),
        sharding.ALGORITHM,
    ]


def test_normalisation() -> None:
    u = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert sharding.normalise(u) == str(u)
    assert sharding.normalise(str(u).upper()) == str(u)
    assert sharding.normalise(42) == sharding.normalise("42") == "42"
    assert sharding.normalise(" Org ") == " Org "  # other text exactly as given
    assert sharding.normalise("0F8FAD5B-D9CB-469F-A165-70867728950E\n").endswith("\n")
    with pytest.raises(TypeError):
        sharding.normalise(True)
    with pytest.raises(TypeError):
        sharding.normalise(1.5)
    with pytest.raises(ValueError):
        sharding.jump(1, 0)


KEYS = [str(uuid.UUID(int=i * 2654435761 + 12345)) for i in range(20_000)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8])
def test_doubling_moves_half_the_keys_and_only_to_new_shards(n: int) -> None:
    hashes = [sharding.key_hash(k) for k in KEYS]
    moved = 0
    for h in hashes:
        before, after = sharding.jump(h, n), sharding.jump(h, 2 * n)
        if before != after:
            moved += 1
            assert after >= n, "a key moved from one old shard to another"
    assert abs(moved / len(KEYS) - 0.5) < 0.02


def test_shards_are_balanced() -> None:
    counts = [0] * 4
    for key in KEYS:
        counts[sharding.shard_for(key, 4)] += 1
    assert all(abs(c / len(KEYS) - 0.25) < 0.02 for c in counts), counts


@given(st.integers(min_value=0, max_value=2**64 - 1), st.integers(1, 300), st.integers(1, 300))
def test_a_key_only_moves_to_a_new_shard(key: int, n: int, extra: int) -> None:
    before, after = sharding.jump(key, n), sharding.jump(key, n + extra)
    assert 0 <= before < n and 0 <= after < n + extra
    assert after == before or after >= n


def test_typescript_routed_write_retries_only_on_the_fence(tmp_path: Path) -> None:
    """The reference's routedWrite (docs/sharding.md): the key named first in each attempt's
    transaction, routed again and retried on FLY01/FLY02, any other error thrown at once."""
    node = shutil.which("node")
    assert node, "node is needed (Debian: apt-get install nodejs)"
    script = tmp_path / "routed.mjs"
    script.write_text(
        strip_types(typescript())
        + """
const seen = [];
let routes = 0;
const route = async (key) => routes++;
const transaction = async (shard, fn) =>
  fn({ query: async (q) => { seen.push([shard, q.text, q.values]); } });
let attempts = 0;
const ok = await routedWrite(route, transaction, "0F8FAD5B-D9CB-469F-A165-70867728950E",
  async (client) => {
    attempts++;
    if (attempts === 1) throw Object.assign(new Error("moving"), { code: "FLY01" });
    if (attempts === 2) throw Object.assign(new Error("elsewhere"), { code: "FLY02" });
    return "applied";
  });
let other = null;
try {
  await routedWrite(route, transaction, 42, async () => {
    throw Object.assign(new Error("dup"), { code: "23505" });
  });
} catch (err) { other = err.code; }
console.log(JSON.stringify([ok, attempts, seen, other]));
""",
        encoding="utf-8",
    )
    run = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    ok, attempts, seen, other = json.loads(run.stdout)
    named = "SELECT set_config('floyo.key', $1, true)"
    uuid_key = ["0f8fad5b-d9cb-469f-a165-70867728950e"]
    assert (ok, attempts, other) == ("applied", 3, "23505")
    assert seen == [[0, named, uuid_key], [1, named, uuid_key], [2, named, uuid_key]] + [
        [3, named, ["42"]]
    ]
