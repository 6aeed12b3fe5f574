#!/usr/bin/env python3
"""How synthesis time grows with the number of regions (not a test).

    python3 bench/synth_regions.py [--runs 15]

Builds the enterprise phase on the dev stack with 1, 3, 5 and 10 regions (a temporary copy of
phases/ and stacks/ whose dev stack overrides `regions`, the Vercel function regions and the
read replicas; the global datastore is off, since it allows at most 2 secondary regions), and
times `synthesize` in-process after a first, import-paying run. Prints resources, median ms
and ms per resource for each, so linear growth shows as a flat last column.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGIONS = [
    "us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2", "eu-central-1",
    "ap-northeast-1", "ca-central-1", "sa-east-1", "ap-south-1", "eu-north-1",
]  # fmt: skip


def workspace(count: int, folder: Path) -> Path:
    for name in ("phases", "stacks"):
        shutil.copytree(ROOT / name, folder / name)
    regions = REGIONS[:count]
    overrides = f"""
overrides:
  budget: {{monthly_usd: 100000}}
  regions: {{primary: {regions[0]}, secondaries: {regions[1:]}}}
  cache: {{global_datastore: false}}
  database:
    read_replicas: {[{"region": r} for r in regions[1:5]]}
  storage:
    buckets:
      uploads: {{replicate: {str(count > 1).lower()}}}
"""
    dev = folder / "stacks" / "dev.yaml"
    dev.write_text(dev.read_text() + overrides.replace("'", ""))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from floyo_scale.offline.synth import synthesize
    from floyo_scale.spec import Workspace, load_stack

    print(f"{'regions':>7} {'resources':>9} {'median ms':>9} {'ms/resource':>11}")
    for count in (1, 3, 5, 10):
        with tempfile.TemporaryDirectory() as tmp:
            stack = load_stack(Workspace(workspace(count, Path(tmp))), "dev", "enterprise")
            inventory = synthesize(stack)  # the first run pays the imports
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                synthesize(stack)
                times.append(time.perf_counter() - started)
            median = statistics.median(times) * 1000
            n = len(inventory.custom_resources())
            print(f"{count:>7} {n:>9} {median:>9.0f} {median / n:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
