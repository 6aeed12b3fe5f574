"""The offline side: what the one Pulumi program would build, without credentials or network.

Owns: running the program under Pulumi's mock engine and recording what it registers
(synth), the Inventory of resources and its type tokens (inventory), summaries, diffs and the
plan JSON over Inventories (plan), the graph model behind `graph` (graph).
May import: errors, spec, infra (synth only, which runs the program), pulumi.runtime (synth
only). Pure functions over Inventories elsewhere. Never cost, guards, engine, render or cli.
This __init__ imports nothing, so `import floyo_scale.offline.inventory` stays cheap.
"""
