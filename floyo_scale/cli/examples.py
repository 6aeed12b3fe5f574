"""Examples shown at the end of every command's --help: Typer's `epilog=`, given as each command
is registered (options.command), by command path.

tests/test_docs.py checks that every command has some, and that each example names its own
command.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": (
        "floyo-scale validate",
        "floyo-scale validate --stack production --format json",
    ),
    "phases": ("floyo-scale phases", "floyo-scale phases --format json"),
    "show": (
        "floyo-scale show --phase growth",
        "floyo-scale show --stack production --provenance",
    ),
    "schema": ("floyo-scale schema phase > phases/schema.json",),
    "plan": (
        "floyo-scale plan --stack production",
        "floyo-scale plan --phase scale --format markdown",
        "floyo-scale plan --stack production --format json > base.json",
    ),
    "diff": (
        "floyo-scale diff growth scale",
        "floyo-scale diff base.json --stack production",
        "floyo-scale diff ./growth scale    # a saved plan in the file ./growth",
    ),
    "graph": ("floyo-scale graph --phase enterprise > graph.mmd",),
    "cost": (
        "floyo-scale cost --stack production",
        "floyo-scale cost --phase enterprise --format markdown",
    ),
    "doctor": (
        "floyo-scale doctor --stack staging",
        "floyo-scale doctor --stack production --format json",
    ),
    "setup": ("floyo-scale setup",),
    "preview": (
        "floyo-scale preview --stack staging",
        "floyo-scale preview --stack production --phase scale --format markdown",
    ),
    "up": (
        "floyo-scale up --stack staging",
        "floyo-scale up --stack production --phase scale --yes",
    ),
    "promote": (
        "floyo-scale promote --from staging --to production",
        "floyo-scale promote --from staging --to production --yes",
    ),
    "destroy": ("floyo-scale destroy --stack dev", "floyo-scale destroy --stack dev --yes"),
    "refresh": ("floyo-scale refresh --stack staging",),
    "drift": (
        "floyo-scale drift --stack production",
        "floyo-scale drift --stack production --format json",
    ),
    "outputs": ("floyo-scale outputs --stack staging", "floyo-scale outputs --stack dev -f json"),
    "cancel": ("floyo-scale cancel --stack staging",),
    "db partition": (
        "floyo-scale db partition --stack production --dry-run",
        "floyo-scale db partition --stack production --premake 6",
    ),
    "db app-role": (
        "floyo-scale db app-role --stack production --dry-run",
        "floyo-scale db app-role --stack staging --database-url '${env:STAGING_DATABASE_URL}'",
    ),
    "db archive": (
        "floyo-scale db archive --stack production --dry-run",
        "floyo-scale db archive --stack production --older-than 90",
    ),
    "db shards": (
        "floyo-scale db shards --stack production",
        "floyo-scale db shards apply --stack production --batch-keys 500 --yes",
    ),
    "db migrate": (
        "floyo-scale db migrate --stack production --until verify",
        "floyo-scale db migrate --stack production --yes",
        "floyo-scale db migrate --stack production --finalize --yes",
    ),
    "status": (
        "floyo-scale status --stack production",
        "floyo-scale status --stack production --format markdown --window 168",
    ),
    "db advise": (
        "floyo-scale db advise --stack production",
        'floyo-scale db advise --stack production --format markdown >> "$GITHUB_STEP_SUMMARY"',
        "floyo-scale db advise --stack production --apply --only 'fk-index:public.orders(user_id)'",
        "floyo-scale db advise --stack production --apply --drop-unused --yes",
    ),
    "db restore": (
        "floyo-scale db restore --stack production --table events --partition events_p20250101",
    ),
}


def epilog(path: str) -> str | None:
    """The epilog of the command at `path` ("plan", "db archive"): its examples, one a line
    (`\\b` keeps the line breaks in Typer's help)."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
