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

The AWS Budget's limit is the AWS share of the stack's estimate, the figure `cost` reports
(cost.estimate_without_budget): computed here, in this process, from one synthesis under
the mock engine on a thread of its own (offline.synth.synthesize_apart), which leaves the
language host's Pulumi runtime as it was. No child process, no second run of the CLI.
"""

import os
from pathlib import Path

import pulumi

from floyo_scale.cost import estimate_without_budget
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
aws_budget = estimate_without_budget(stack, apart=True)[1].aws_budget
program(stack, dict(os.environ), aws_budget_usd=aws_budget)()
