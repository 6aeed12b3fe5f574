"""Entry point for the plain Pulumi CLI (`pulumi preview -s staging`, see Pulumi.yaml).

The stack file is `stacks/<pulumi stack name>.yaml`; its phase may be changed with the
config key `floyo:phase`. floyo-scale's own commands run the same program inline.

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
