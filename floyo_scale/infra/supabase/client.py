"""A small client for the Supabase Management API (https://api.supabase.com/v1).

The dynamic provider runs inside Pulumi's provider host (this interpreter), and every
dependency it has must be importable there too.

Every path, body and response shape here comes from the published contract,
`tests/contracts/supabase-management-api.openapi.json`; the contract tests check each
request this client sends against it.

How requests are sent, retried and turned into errors is in transport.py; secrets never
appear in an exception message, a repr or a log line.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from floyo_scale.catalog import facts
from floyo_scale.errors import ProviderError

from .transport import (
    NotReady,
    SupabaseApiError,
    Transport,
)

ADVISOR_KINDS = ("performance", "security")

__all__ = [
    "ADDON_VARIANTS",
    "ADVISOR_KINDS",
    "COMPUTE_SIZES",
    "DISK_TYPES",
    "GP3_BASELINE_IOPS",
    "GP3_BASELINE_THROUGHPUT",
    "PLANS",
    "REF_RE",
    "REGIONS",
    "SLUG_RE",
    "TERMINAL_STATUSES",
    "ManagementClient",
    "compute_variant",
]

# Our compute size names -> the contract's `compute_instance` addon variants. The same names
# are valid `desired_instance_size` values of V1CreateProjectBody.
COMPUTE_SIZES: dict[str, str] = {
    size: f"ci_{size}" for size in facts.COMPUTE_SIZES if size != "nano"
}

# ApplyProjectAddonBody: which variants each addon type accepts (the contract lists no
# variants for auth_mfa_phone, auth_mfa_web_authn or log_drain in that body).
ADDON_VARIANTS: dict[str, frozenset[str]] = {
    "compute_instance": frozenset(COMPUTE_SIZES.values()),
    "custom_domain": frozenset({"cd_default"}),
    "pitr": frozenset({"pitr_7", "pitr_14", "pitr_28"}),
    "ipv4": frozenset({"ipv4_default"}),
}

# region_selection {type: specific} codes and SetUpReadReplicaBody regions (the same list).
REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-east-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-central-1",
    "eu-central-2",
    "ca-central-1",
    "ap-south-1",
    "sa-east-1",
)

# DiskRequestBody.attributes: `type` selects one of two shapes. gp3 takes iops, size_gb and
# (optionally) throughput_mibps; io2 takes iops and size_gb only (its throughput scales with
# its IOPS). The contract constrains each number to a whole number above 0 and nothing more:
# the product limits (gp3 up to 16 TB, 16,000 IOPS and 1,000 MiB/s; io2 up to 60 TB) are the
# API's to enforce, and its message is passed through.
DISK_TYPES: tuple[str, ...] = ("gp3", "io2")
# What every gp3 disk gets without paying for more: Supabase's (and EBS's) gp3 baseline.
GP3_BASELINE_IOPS = 3000
GP3_BASELINE_THROUGHPUT = 125  # MiB/s

# The organisation plans a spec may require (V1OrganizationSlugResponse.plan minus the
# internal "platform").
PLANS: tuple[str, ...] = ("free", "pro", "team", "enterprise")

# Project statuses that waiting will not fix. INACTIVE and PAUSING mean the project is (being)
# paused: it needs a restore, not patience.
TERMINAL_STATUSES = frozenset(
    {
        "INIT_FAILED",
        "REMOVED",
        "GOING_DOWN",
        "PAUSE_FAILED",
        "RESTORE_FAILED",
        "INACTIVE",
        "PAUSING",
    }
)

REF_RE = re.compile(r"^[a-z]{20}$")  # path parameter `ref` in the contract
SLUG_RE = re.compile(r"^[\w-]+$")  # path parameter `slug` in the contract


def compute_variant(size: str) -> str:
    """`small` -> `ci_small` (a size name or an addon variant is accepted)."""
    if size in COMPUTE_SIZES.values():
        return size
    try:
        return COMPUTE_SIZES[size]
    except KeyError:
        raise ProviderError(
            f"unknown Supabase compute size {size!r}",
            hint="use one of: " + ", ".join(COMPUTE_SIZES),
        ) from None


def _project(ref: str) -> str:
    return f"project {ref!r}"


class ManagementClient(Transport):
    """The Management API's endpoints, over `Transport` (retries, redaction, redirects).

    `sleep` and `monotonic` are injectable so tests run without waiting.
    """

    # ----------------------------------------------------------------- organisations

    def get_organization(self, slug: str) -> dict[str, Any]:
        """GET /v1/organizations/{slug} -> V1OrganizationSlugResponse (plan is optional)."""
        if not SLUG_RE.match(slug or ""):
            raise ProviderError(f"invalid Supabase organization slug {slug!r}")
        return self._object(
            "GET",
            f"/v1/organizations/{_quote(slug)}",
            operation="read the organization",
            subject=f"organization {slug!r}",
        )

    # ----------------------------------------------------------------- projects

    def list_projects(self) -> list[dict[str, Any]]:
        """GET /v1/projects -> [V1ProjectWithDatabaseResponse] (every project the token sees)."""
        result = self._request(
            "GET", "/v1/projects", operation="list the projects", subject="the account"
        )
        return list(result or [])

    def create_project(
        self,
        *,
        name: str,
        organization_slug: str,
        db_pass: str,
        region: str,
        instance_size: str,
    ) -> dict[str, Any]:
        """POST /v1/projects -> V1ProjectResponse (status COMING_UP; poll wait_until_healthy)."""
        self._redact.add(db_pass)
        _check_region(region)
        compute_variant(instance_size)  # validates the size name
        body = {
            "name": name,
            "organization_slug": organization_slug,
            "db_pass": db_pass,
            "region_selection": {"type": "specific", "code": region},
            "desired_instance_size": instance_size.removeprefix("ci_"),
        }
        return self._object(
            "POST",
            "/v1/projects",
            body=body,
            operation=f"create project {name!r}",
            subject=f"organization {organization_slug!r}",
            idempotent=False,
        )

    def get_project(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref} -> V1ProjectWithDatabaseResponse."""
        return self._object(
            "GET", _project_path(ref), operation="read the project", subject=_project(ref)
        )

    def update_project_name(self, ref: str, name: str) -> dict[str, Any]:
        """PATCH /v1/projects/{ref} {name} -> V1ProjectRefResponse."""
        return self._object(
            "PATCH",
            _project_path(ref),
            body={"name": name},
            operation=f"rename the project to {name!r}",
            subject=_project(ref),
        )

    def update_database_password(self, ref: str, password: str) -> None:
        """PATCH /v1/projects/{ref}/database/password {password} -> V1UpdatePasswordResponse.

        Retried like a PATCH: the body is absolute, so sending it twice sets the same password.
        """
        self._redact.add(password)
        self._request(
            "PATCH",
            _project_path(ref, "/database/password"),
            body={"password": password},
            operation="set a new database password",
            subject=_project(ref),
        )

    def delete_project(self, ref: str) -> dict[str, Any]:
        """DELETE /v1/projects/{ref} -> V1ProjectRefResponse."""
        return self._object(
            "DELETE", _project_path(ref), operation="delete the project", subject=_project(ref)
        )

    def wait_until_healthy(
        self, ref: str, *, timeout: float = 900.0, interval: float = 10.0
    ) -> dict[str, Any]:
        """Poll GET /v1/projects/{ref} until ACTIVE_HEALTHY; return that last answer.

        Fails at once on a status that waiting will not fix (TERMINAL_STATUSES).
        """
        last: dict[str, str] = {"status": "unknown"}

        def check() -> dict[str, Any] | None:
            project = self.get_project(ref)
            status = project.get("status", "UNKNOWN")
            last["status"] = status
            if status == "ACTIVE_HEALTHY":
                return project
            if status in TERMINAL_STATUSES:
                name = project.get("name", "?")
                raise NotReady(
                    f"Supabase project {name!r} ({ref}) is {status}; it will not become healthy",
                    hint=_terminal_hint(status, ref),
                )
            return None

        return self.poll_until(
            check,
            timeout=timeout,
            interval=interval,
            what=lambda: f"{_project(ref)} to become ACTIVE_HEALTHY (last status {last['status']})",
            hint=(
                "provisioning and resizing can take longer at busy times: check the project in "
                "the Supabase dashboard, then run the command again"
            ),
        )

    # ----------------------------------------------------------------- billing addons

    def list_addons(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/billing/addons -> ListProjectAddonsResponse."""
        return self._object(
            "GET",
            _project_path(ref, "/billing/addons"),
            operation="list the billing addons",
            subject=_project(ref),
        )

    def set_addon(self, ref: str, addon_type: str, addon_variant: str) -> None:
        """PATCH /v1/projects/{ref}/billing/addons {addon_type, addon_variant}.

        For `compute_instance`, our size names (`small`) are accepted as well as variants.
        """
        if addon_type == "compute_instance":
            addon_variant = compute_variant(addon_variant)
        _check_addon(addon_type, addon_variant)
        self._request(
            "PATCH",
            _project_path(ref, "/billing/addons"),
            body={"addon_type": addon_type, "addon_variant": addon_variant},
            operation=f"apply the {addon_type} addon {addon_variant!r}",
            subject=_project(ref),
        )

    def remove_addon(self, ref: str, addon_variant: str) -> None:
        """DELETE /v1/projects/{ref}/billing/addons/{addon_variant}."""
        if not any(addon_variant in variants for variants in ADDON_VARIANTS.values()):
            raise ProviderError(f"unknown Supabase addon variant {addon_variant!r}")
        self._request(
            "DELETE",
            _project_path(ref, f"/billing/addons/{_quote(addon_variant)}"),
            operation=f"remove the addon {addon_variant!r}",
            subject=_project(ref),
        )

    # ----------------------------------------------------------------- read replicas

    def setup_read_replica(self, ref: str, region: str) -> None:
        """POST /v1/projects/{ref}/read-replicas/setup {read_replica_region} (201, no body)."""
        _check_region(region)
        self._request(
            "POST",
            _project_path(ref, "/read-replicas/setup"),
            body={"read_replica_region": region},
            operation=f"set up a read replica in {region}",
            subject=_project(ref),
            idempotent=False,
        )

    def remove_read_replica(self, ref: str, database_identifier: str) -> None:
        """POST /v1/projects/{ref}/read-replicas/remove {database_identifier} (201, no body).

        Retried like a DELETE: removing cannot create anything, so sending it twice at worst
        meets a replica already on its way out (the provider re-lists to see where it is).
        """
        self._request(
            "POST",
            _project_path(ref, "/read-replicas/remove"),
            body={"database_identifier": database_identifier},
            operation=f"remove the read replica {database_identifier!r}",
            subject=_project(ref),
        )

    def list_databases(self, ref: str) -> list[dict[str, Any]]:
        """GET /v1/projects/{ref}/config/database/pooler -> [SupavisorConfigResponse].

        One entry per database: the primary (database_type PRIMARY) and each read replica
        (READ_REPLICA, with its `identifier`).
        """
        result = self._request(
            "GET",
            _project_path(ref, "/config/database/pooler"),
            operation="read the database pooler configuration",
            subject=_project(ref),
        )
        return list(result or [])

    # ----------------------------------------------------------------- pooler

    def get_pooler(self, ref: str) -> dict[str, Any]:
        """The primary database's Supavisor configuration (from list_databases)."""
        for entry in self.list_databases(ref):
            if entry.get("database_type") == "PRIMARY":
                return entry
        raise SupabaseApiError(
            f"Supabase returned no PRIMARY database in the pooler configuration of {_project(ref)}",
            hint="the project may still be provisioning; run the command again later",
        )

    def update_pooler(
        self,
        ref: str,
        *,
        pool_mode: str | None = None,
        default_pool_size: int | None = None,
    ) -> dict[str, Any]:
        """PATCH /v1/projects/{ref}/config/database/pooler -> UpdateSupavisorConfigResponse."""
        body: dict[str, Any] = {}
        if pool_mode is not None:
            if pool_mode not in ("transaction", "session"):
                raise ProviderError(
                    f"unknown pool mode {pool_mode!r}", hint="use transaction or session"
                )
            body["pool_mode"] = pool_mode
        if default_pool_size is not None:
            if isinstance(default_pool_size, bool) or not 0 <= int(default_pool_size) <= 3000:
                raise ProviderError(
                    f"default_pool_size {default_pool_size!r} is not from 0 to 3000",
                    hint="use a whole number from 0 to 3000",
                )
            body["default_pool_size"] = int(default_pool_size)
        if not body:
            raise ProviderError("update_pooler needs pool_mode or default_pool_size")
        return self._object(
            "PATCH",
            _project_path(ref, "/config/database/pooler"),
            body=body,
            operation="update the database pooler configuration",
            subject=_project(ref),
        )

    # ----------------------------------------------------------------- disk

    def get_disk(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/config/disk -> DiskResponse.

        `{"attributes": {"type": "gp3", "size_gb": 8, "iops": 3000, "throughput_mibps": 125},
        "last_modified_at": "..."}`; an io2 disk has no throughput_mibps, and gp3 may omit it.
        """
        return self._object(
            "GET",
            _project_path(ref, "/config/disk"),
            operation="read the database disk configuration",
            subject=_project(ref),
        )

    def set_disk(
        self,
        ref: str,
        *,
        size_gb: int,
        iops: int = GP3_BASELINE_IOPS,
        throughput_mibps: int = GP3_BASELINE_THROUGHPUT,
        type: str = "gp3",  # the contract's name; shadows the builtin in this method only
    ) -> None:
        """POST /v1/projects/{ref}/config/disk {attributes} (201, no body).

        Sets every attribute at once: pass the current iops/throughput to change the size
        alone. `throughput_mibps` is sent for gp3 only (io2 has none). The disk can only grow;
        the API refuses a smaller size_gb, and allows one change per volume every 6 hours (EBS).

        Not retried blindly: if a first call was carried out and its answer lost, a second
        one would meet the six-hour rule and fail although the disk grew. After a 5xx or a
        dropped connection the disk is read back; the call is repeated only if the disk does
        not have the requested attributes yet.
        """
        if type not in DISK_TYPES:
            raise ProviderError(
                f"unknown Supabase disk type {type!r}", hint="use one of: " + ", ".join(DISK_TYPES)
            )
        attributes: dict[str, Any] = {
            "type": type,
            "size_gb": _positive_int("size_gb", size_gb),
            "iops": _positive_int("iops", iops),
        }
        if type == "gp3":
            attributes["throughput_mibps"] = _positive_int("throughput_mibps", throughput_mibps)

        def applied() -> bool:
            now = self.get_disk(ref).get("attributes") or {}
            return all(now.get(key) == value for key, value in attributes.items())

        self._request(
            "POST",
            _project_path(ref, "/config/disk"),
            body={"attributes": attributes},
            operation=f"resize the database disk to {attributes['size_gb']} GB ({type})",
            subject=_project(ref),
            idempotent=False,
            applied=applied,
        )

    # ----------------------------------------------------------------- usage (read only)

    def read_only_query(self, ref: str, query: str) -> list[dict[str, Any]]:
        """POST /v1/projects/{ref}/database/query/read-only {query} -> the rows (201).

        Runs as `supabase_read_only_user`; the contract gives the answer no schema, the API
        answers with the result rows as a JSON array of objects. A read: retried like a GET.
        """
        rows = self._request(
            "POST",
            _project_path(ref, "/database/query/read-only"),
            body={"query": query},
            operation="run a read-only query",
            subject=_project(ref),
        )
        if not isinstance(rows, list):
            raise SupabaseApiError(
                f"Supabase answered the read-only query on {_project(ref)} with "
                f"{type(rows).__name__}, not a list of rows"
            )
        return rows

    def get_disk_util(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/config/disk/util -> DiskUtilMetricsResponse
        (`metrics.fs_size_bytes`, `fs_used_bytes`, `fs_avail_bytes`)."""
        return self._object(
            "GET",
            _project_path(ref, "/config/disk/util"),
            operation="read the disk utilization",
            subject=_project(ref),
        )

    def get_disk_autoscale(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/config/disk/autoscale -> DiskAutoscaleConfig
        (`growth_percent`, `min_increment_gb`, `max_size_gb`, each nullable)."""
        return self._object(
            "GET",
            _project_path(ref, "/config/disk/autoscale"),
            operation="read the disk autoscale configuration",
            subject=_project(ref),
        )

    def get_api_requests_count(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/analytics/endpoints/usage.api-requests-count
        -> V1GetUsageApiRequestsCountResponse (`result: [{count}]`, `error`)."""
        return self._object(
            "GET",
            _project_path(ref, "/analytics/endpoints/usage.api-requests-count"),
            operation="read the API request count",
            subject=_project(ref),
        )

    def get_advisors(self, ref: str, kind: str) -> list[dict[str, Any]]:
        """GET /v1/projects/{ref}/advisors/{performance|security} -> the
        V1ProjectAdvisorsResponse's `lints` (each: name, title, level ERROR|WARN|INFO,
        categories, description, detail, remediation, metadata). The contract marks both
        endpoints experimental."""
        if kind not in ADVISOR_KINDS:
            raise ProviderError(
                f"unknown Supabase advisor {kind!r}", hint="performance or security"
            )
        answer = self._request(
            "GET",
            _project_path(ref, f"/advisors/{kind}"),
            operation=f"read the {kind} advisor",
            subject=_project(ref),
        )
        lints = answer.get("lints") if isinstance(answer, dict) else None
        if not isinstance(lints, list):
            raise SupabaseApiError(
                f"Supabase answered the {kind} advisor of {_project(ref)} without a list of lints"
            )
        return [lint for lint in lints if isinstance(lint, dict)]


def _project_path(ref: str, suffix: str = "") -> str:
    if not isinstance(ref, str) or not REF_RE.match(ref):
        raise ProviderError(
            f"invalid Supabase project ref {ref!r}",
            hint="a project ref is 20 lower-case letters, as in the project's URL",
        )
    return f"/v1/projects/{ref}{suffix}"


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _check_region(region: str) -> None:
    if region not in REGIONS:
        raise ProviderError(
            f"unknown Supabase region {region!r}", hint="use one of: " + ", ".join(REGIONS)
        )


def _check_addon(addon_type: str, addon_variant: str) -> None:
    variants = ADDON_VARIANTS.get(addon_type)
    if variants is None:
        raise ProviderError(
            f"unsupported Supabase addon type {addon_type!r}",
            hint="use one of: " + ", ".join(ADDON_VARIANTS),
        )
    if addon_variant not in variants:
        raise ProviderError(
            f"{addon_variant!r} is not a variant of the {addon_type} addon",
            hint="use one of: " + ", ".join(sorted(variants)),
        )


def _positive_int(name: str, value: Any) -> int:
    """A whole number above 0 (what the contract allows for every disk attribute)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProviderError(
            f"disk {name} {value!r} is not a whole number above 0",
            hint=f"give {name} as a whole number (the contract allows nothing else)",
        )
    return value


def _terminal_hint(status: str, ref: str) -> str:
    if status in ("INACTIVE", "PAUSING"):
        return f"the project is paused: restore it in the Supabase dashboard ({ref}) and retry"
    return (
        f"open the project ({ref}) in the Supabase dashboard or contact Supabase support; "
        "if it cannot be recovered, delete it and run the command again"
    )
