"""A change under review: every stack as it is at a git revision (planned by that revision's
own program, from git's object store, without touching the working tree) against the same
stack now; which stacks it affects, and what `up` would refuse on each.

Layer "review" (docs/architecture.md): may import errors, spec, offline, cost, guards, report.
"""
