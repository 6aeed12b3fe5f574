"""What the Supabase dynamic providers share, public for provider.py: the base class
`SupabaseProvider` (client, checks, diff) and the helpers their create, update, delete and
read use (errors after a failed create, adoption, disks, replicas, connection strings).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider

from floyo_scale.errors import FloyoError, ProviderError
from floyo_scale.infra.supabase.client import COMPUTE_SIZES, REF_RE, REGIONS, ManagementClient
from floyo_scale.infra.supabase.transport import DEFAULT_API_URL, SupabaseApiError

ClientFactory = Callable[[str, str], ManagementClient]

# What Pulumi puts in a property whose value is not known yet (during preview).
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_PROVIDER_KEY = "__provider"
_CONNECTION_KEYS = ("access_token", "api_url")
# The largest disk Supabase offers (io2, 60 TB); the spec's `database.disk_gb` has the same cap.
MAX_DISK_GB = 60_000
# A project of this resource's name, organisation and region created this recently is taken
# to be the one an earlier, interrupted create of this resource made, and is adopted.
ADOPT_WITHIN_SECONDS = 24 * 3600
_GONE_STATUSES = frozenset({"REMOVED", "GOING_DOWN"})
# How long a replica removal that answered with an error is watched for the replica to go.
REMOVAL_SETTLE_SECONDS = 120.0


class SupabaseProvider(ResourceProvider):
    """Shared plumbing: building the client, checking inputs, diffing."""

    # Inputs whose change means a new cloud resource; inputs whose change is an update.
    replace_keys: tuple[str, ...] = ()
    update_keys: tuple[str, ...] = ()

    def __init__(
        self,
        client_factory: ClientFactory | None = None,
        *,
        wait_timeout: float = 900.0,
        poll_interval: float = 10.0,
        adopt_within: float = ADOPT_WITHIN_SECONDS,
    ) -> None:
        super().__init__()
        self.client_factory = client_factory
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.adopt_within = adopt_within

    def _client(self, props: Mapping[str, Any]) -> ManagementClient:
        token = props.get("access_token")
        if not token or token == _UNKNOWN:
            raise ProviderError(
                "no Supabase access token reached the provider",
                hint="set SUPABASE_ACCESS_TOKEN and refer to it from the stack as "
                "${env:SUPABASE_ACCESS_TOKEN}",
            )
        api_url = props.get("api_url") or DEFAULT_API_URL
        factory = self.client_factory or ManagementClient
        return factory(token, api_url)

    def _wait(self, client: ManagementClient, ref: str) -> dict[str, Any]:
        return client.wait_until_healthy(
            ref, timeout=self.wait_timeout, interval=self.poll_interval
        )

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure(key, reason)
            for key, reason in self._validate(news)
            if news.get(key) != _UNKNOWN
        ]
        return CheckResult(news, failures)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        return ()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in self.replace_keys if input_changed(olds, news, key)]
        # A new token or API URL changes no cloud resource, but it has to reach the state,
        # or `destroy` would later use the old (perhaps revoked) token: report an update.
        updates = [
            key for key in (*self.update_keys, *_CONNECTION_KEYS) if input_changed(olds, news, key)
        ]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=False,
        )


# --------------------------------------------------------------------------- helpers


def earlier_attempt(
    client: ManagementClient, props: Mapping[str, Any], adopt_within: float
) -> str | None:
    """The ref of a project an earlier, interrupted create of this resource made: same
    name, organisation and region, created within `adopt_within` seconds; None if there
    is none. Refuses to guess between several, or to take over an older namesake (a
    namesake in another region is another project: a replacement is made beside it)."""
    name, slug, region = props["project_name"], props["organization_slug"], props["region"]
    same = [
        p
        for p in client.list_projects()
        if p.get("name") == name
        and p.get("organization_slug") == slug
        and p.get("region") == region
        and p.get("status") not in _GONE_STATUSES
    ]
    if not same:
        return None
    recent = [p for p in same if _age(p) < adopt_within]
    if len(recent) == 1:
        return str(recent[0]["ref"])
    where = ", ".join(f"{p.get('ref')} ({p.get('status')})" for p in same)
    if recent:
        raise ProviderError(
            f"organization {slug!r} has {len(recent)} recent Supabase projects named "
            f"{name!r} in {region}: {where}; it is not known which one to adopt",
            hint="delete the extra projects in the Supabase dashboard (keep the one with "
            "your data), then run the command again",
        )
    raise ProviderError(
        f"organization {slug!r} already has a Supabase project named {name!r} in "
        f"{region}: {where}; it was not made by this stack in the last "
        f"{adopt_within / 3600:g} hours, so it is not taken over",
        hint="rename or delete that project in the Supabase dashboard, or import it into "
        "the stack (pulumi import), then run the command again",
    )


def primary_pooler(
    client: ManagementClient, ref: str, timeout: float, interval: float
) -> dict[str, Any]:
    """The primary database's pooler entry, polled for as the status is: right after
    provisioning the listing may not have it yet."""

    def listed() -> dict[str, Any] | None:
        databases = client.list_databases(ref)
        return next((db for db in databases if db.get("database_type") == "PRIMARY"), None)

    return client.poll_until(
        listed,
        timeout=timeout,
        interval=interval,
        what=lambda: f"the pooler configuration of project {ref} to list its primary database",
        hint="check the project's Database settings in the Supabase dashboard",
    )


def check_ref(news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if not REF_RE.match(str(news.get("project_ref") or "")):
        yield "project_ref", "must be a project ref (20 lower-case letters)"


def input_changed(olds: Mapping[str, Any], news: Mapping[str, Any], key: str) -> bool:
    new = news.get(key)
    return new == _UNKNOWN or olds.get(key) != new


def declared_inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != _PROVIDER_KEY}


def require_plan(client: ManagementClient, slug: str, plan: str) -> None:
    """Fail unless the organisation is on `plan`. The contract makes `plan` optional in the
    answer; when it is absent there is nothing to compare, and we go on."""
    actual = client.get_organization(slug).get("plan")
    if actual is not None and actual != plan:
        raise ProviderError(
            f"Supabase organization {slug!r} is on the {actual} plan, but the stack requires "
            f"the {plan} plan",
            hint="change the organization's plan in the Supabase dashboard (Billing), or the "
            "plan in the stack's phase",
        )


def undo_create(
    exc: FloyoError, what: str, remove: Callable[[str], Any], ident: str
) -> ProviderError:
    """After a failed create: remove what was made, and say what happened (the hint matches
    it: nothing to open or delete once the removal worked)."""
    try:
        remove(ident)
    except FloyoError as cleanup:
        return ProviderError(
            f"{exc.message}; removing the half-created {what} failed too: {cleanup.message}",
            hint=f"delete {what} in the Supabase dashboard, then run the command again",
        )
    return ProviderError(
        f"{exc.message}; the half-created {what} was removed, so nothing was left behind",
        hint="run the command again to create it anew"
        + ("" if "status.supabase.com" not in (exc.hint or "") else "; see status.supabase.com")
        + (
            " (if it fails the same way again, contact Supabase support)"
            if "support" in (exc.hint or "")
            else ""
        ),
    )


def kept_project_error(exc: FloyoError, what_happened: str) -> ProviderError:
    """A create failed after the project was made, and the project was kept: the rerun adopts
    it (found by its name)."""
    return ProviderError(
        f"{exc.message}; {what_happened}",
        hint="run the command again: the project is found by its name and adopted (with a "
        "new database password), not created twice",
    )


def adopted_note(what: str) -> str:
    return (
        f"adopted {what}: an earlier attempt created it and its answer was lost; its "
        "database password was set anew"
    )


def _age(project: Mapping[str, Any]) -> float:
    """Seconds since the project was created (infinite when the API does not say)."""
    try:
        created = datetime.fromisoformat(str(project.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    if created.tzinfo is None:
        return float("inf")
    return time.time() - created.timestamp()


def whole_number(value: Any) -> int | None:
    """A whole number (the engine hands numbers over as floats: 8.0), else None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def disk_attributes(answer: Any, ref: str) -> dict[str, Any]:
    attributes = answer.get("attributes") if isinstance(answer, Mapping) else None
    if not isinstance(attributes, Mapping) or whole_number(attributes.get("size_gb")) is None:
        raise SupabaseApiError(
            f"Supabase returned no disk size for project {ref}",
            hint="the project may still be provisioning; run the command again later",
        )
    modified = answer.get("last_modified_at")
    return {
        **attributes,
        "size_gb": whole_number(attributes["size_gb"]),
        "last_modified_at": modified,
    }


def shrink_error(ref: str, have: int, want: int) -> ProviderError:
    return ProviderError(
        f"the database disk of Supabase project {ref} is {have} GB and cannot shrink to "
        f"{want} GB: a disk (an EBS volume) can only grow",
        hint=f"keep disk_gb at {have} or more (if nobody set {have} GB, disk autoscaling grew "
        "it), or restore a backup into a new project with the smaller disk",
    )


def resize_refused(exc: SupabaseApiError, ref: str, current: Mapping[str, Any]) -> ProviderError:
    """A refused resize: add what usually causes it when the API gave no hint of its own."""
    if exc.hint or exc.status is None or not 400 <= exc.status < 500:
        return exc
    modified = current.get("last_modified_at")
    when = f" (it was last changed at {modified})" if modified else ""
    return SupabaseApiError(
        exc.message,
        hint=f"a disk can be changed once every 6 hours{when}, not on the Free plan, and a gp3 "
        f"disk up to 16 TB: check project {ref}'s Compute and Disk page in the Supabase "
        "dashboard, then run the command again",
        status=exc.status,
    )


def selected_variant(addons: Mapping[str, Any], addon_type: str) -> str | None:
    for addon in addons.get("selected_addons") or []:
        if addon.get("type") == addon_type:
            return (addon.get("variant") or {}).get("id")
    return None


def size_of(variant: str | None) -> str | None:
    for size, ci in COMPUTE_SIZES.items():
        if ci == variant:
            return size
    return None


def replicas_of(databases: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [db for db in databases if db.get("database_type") == "READ_REPLICA"]


def find_replica(databases: Iterable[Mapping[str, Any]], identifier: str) -> Any:
    return next((db for db in replicas_of(databases) if db["identifier"] == identifier), None)


def replica_region(identifier: str, ref: str) -> str | None:
    """`<ref>-rr-us-west-1-abcde` -> `us-west-1` (None when the identifier has another shape)."""
    prefix = f"{ref}-rr-"
    if not identifier.startswith(prefix):
        return None
    region, _, _suffix = identifier[len(prefix) :].rpartition("-")
    return region if region in REGIONS else None


def direct_connection(db_host: str, db_pass: str) -> str:
    return f"postgresql://postgres:{_quote(db_pass)}@{db_host}:5432/postgres"


def pooler_connection(entry: Mapping[str, Any], db_pass: str) -> str:
    return (
        f"postgresql://{_quote(entry['db_user'])}:{_quote(db_pass)}"
        f"@{entry['db_host']}:{entry['db_port']}/{_quote(entry['db_name'])}"
    )


def _quote(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")
