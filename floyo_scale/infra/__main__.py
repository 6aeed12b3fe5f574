"""Entry point for the plain Pulumi CLI (`pulumi preview -s staging`, see Pulumi.yaml).

The stack file is `stacks/<pulumi stack name>.yaml`; its phase may be changed with the
config key `floyo:phase`. floyo-scale's own commands run the same program inline.
"""

import os
from pathlib import Path

import pulumi

from floyo_scale.infra import program
from floyo_scale.spec import Workspace, load_stack

workspace = Workspace.find(Path(__file__).resolve().parents[2])
stack = load_stack(workspace, pulumi.get_stack(), pulumi.Config("floyo").get("phase"))
program(stack, dict(os.environ))()
