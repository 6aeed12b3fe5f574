"""Entry point for the plain Pulumi CLI: `pulumi preview -s staging` (see Pulumi.yaml), a
preview only.

The stack file is `stacks/<pulumi stack name>.yaml`; its phase may be changed with the
config key `floyo:phase`. floyo-scale's own commands run the same program inline, and keep
their stack config (`floyo:phase`, and `floyo:database_active`, which `db migrate` sets) in
their work folder, `.floyo/work/<project>/Pulumi.<stack>.yaml`, not in the
`Pulumi.<stack>.yaml` beside this Pulumi.yaml that the plain CLI reads: to preview with it,
pass `--config-file .floyo/work/floyo/Pulumi.staging.yaml`.

An update from here is refused: it would skip what `floyo-scale up` does around the
program (the destroy, budget and reachability guards, the confirmation, the
`floyo_release` output `promote` checks), and without floyo-scale's config it would build
the stack file's phase and point DATABASE_URL at the spec's database even after
`db migrate` switched it. `floyo-scale up --stack <stack>` is the way to update.

The AWS Budget's limit is the AWS share of the stack's estimate, which the offline plan
computes (cost.plan_stack); this process runs inside Pulumi's language host, where the mock
engine cannot run, so it asks a separate process: `python -m floyo_scale cost --format json`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi

from floyo_scale.infra import program
from floyo_scale.spec import Workspace, load_stack

if not pulumi.runtime.is_dry_run():
    raise pulumi.RunError(
        "the plain `pulumi up` is not how floyo-scale's stacks are updated: it would skip the "
        "destroy, budget and reachability guards and the floyo_release record, and would not "
        "see floyo-scale's stack config (floyo:phase, floyo:database_active); run "
        f"`floyo-scale up --stack {pulumi.get_stack()}` (`pulumi preview` works from here)"
    )

root = Path(__file__).resolve().parents[2]
workspace = Workspace.find(root)
phase = pulumi.Config("floyo").get("phase")
stack = load_stack(workspace, pulumi.get_stack(), phase)
args = [sys.executable, "-m", "floyo_scale", "--root", str(workspace.root), "cost"]
args += ["--stack", stack.name, "--format", "json"] + (["--phase", phase] if phase else [])
env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
done = subprocess.run(args, capture_output=True, text=True, check=True, env=env, timeout=300)
aws_budget = json.loads(done.stdout)["budget"]["aws_budget"]
program(stack, dict(os.environ), aws_budget_usd=aws_budget)()
