"""Pulumi dynamic providers for Supabase: plain-Python CRUD over the Management API.

Pulumi pickles (dill) one provider object into the state of every resource and re-creates it
in its provider host for each operation. So a provider here holds nothing but a few numbers:
no client, no token, no module-level state. The client is built for each call from the
resource's own properties (`access_token`, `api_url`); tests pass `client_factory` to build
it with a fake clock. The classes are pickled by reference, so `floyo_scale` must be
importable by the Python that runs `pulumi up` (it is, when the package is installed).

Properties: what `create` returns is what the engine hands back to `diff`, `update`,
`delete` and `read` as the old state, so every output also carries the inputs it needs later
(the token too; the resources mark it, the password and the connection strings secret).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from floyo_scale.errors import FloyoError, ProviderError
from floyo_scale.infra.supabase.client import (
    ADDON_VARIANTS,
    COMPUTE_SIZES,
    DEFAULT_API_URL,
    GP3_BASELINE_THROUGHPUT,
    PLANS,
    REF_RE,
    REGIONS,
    SLUG_RE,
    ManagementClient,
    NotFoundError,
    SupabaseApiError,
    compute_variant,
)

__all__ = [
    "AddonProvider",
    "ClientFactory",
    "DiskConfigProvider",
    "PoolerSettingsProvider",
    "ProjectProvider",
    "ReadReplicaProvider",
]

ClientFactory = Callable[[str, str], ManagementClient]

log = logging.getLogger(__name__)

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
_REMOVAL_SETTLE_SECONDS = 120.0


class _SupabaseProvider(ResourceProvider):
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
        replaces = [key for key in self.replace_keys if _changed(olds, news, key)]
        # A new token or API URL changes no cloud resource, but it has to reach the state,
        # or `destroy` would later use the old (perhaps revoked) token: report an update.
        updates = [
            key for key in (*self.update_keys, *_CONNECTION_KEYS) if _changed(olds, news, key)
        ]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=False,
        )


class ProjectProvider(_SupabaseProvider):
    """A Supabase project: its primary database and connection strings."""

    replace_keys = ("organization_slug", "region")
    update_keys = ("project_name", "instance_size", "plan")

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        name = news.get("project_name")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            yield "project_name", "must be a name of 1 to 256 characters"
        if not SLUG_RE.match(str(news.get("organization_slug") or "")):
            yield "organization_slug", "must be an organization slug (letters, digits, -, _)"
        if news.get("region") not in REGIONS:
            yield "region", "must be one of " + ", ".join(REGIONS)
        if news.get("instance_size") not in COMPUTE_SIZES:
            yield "instance_size", "must be one of " + ", ".join(COMPUTE_SIZES)
        if news.get("plan") not in PLANS:
            yield "plan", "must be one of " + ", ".join(PLANS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        name = props["project_name"]
        _require_plan(client, props["organization_slug"], props["plan"])
        db_pass = secrets.token_urlsafe(32)
        # An earlier create may have made the project and lost the answer (a 500 or a
        # dropped connection after Supabase acted): look before creating a second one.
        ref = self._earlier_attempt(client, props)
        adopted = ref is not None
        if ref is None:
            try:
                ref = client.create_project(
                    name=name,
                    organization_slug=props["organization_slug"],
                    db_pass=db_pass,
                    region=props["region"],
                    instance_size=props["instance_size"],
                )["ref"]
            except SupabaseApiError as exc:
                if not exc.outcome_unknown:
                    raise
                ref = self._earlier_attempt(client, props)  # settle it now, if it shows
                if ref is None:
                    raise SupabaseApiError(
                        f"{exc.message}; no project named {name!r} is listed in the "
                        f"organization yet",
                        hint="run the command again: if Supabase created the project after "
                        "all, it is found by its name and adopted, not created twice",
                    ) from exc
                adopted = True
        what = f"Supabase project {name!r} ({ref})"
        if adopted:
            log.warning("%s", _adopted_note(what))
        # Create must be all or nothing while the project is provisioning: Pulumi records
        # nothing when create fails, so a project left behind would be billed and unmanaged.
        # A project that provisioning did not bring up is deleted (unless it was adopted:
        # what happened to it before is not known) ...
        try:
            project = self._wait(client, ref)
        except FloyoError as exc:
            if adopted:
                raise
            raise _undo(exc, what, client.delete_project, ref) from exc
        # ... but a healthy project is never deleted because a later step failed: it is kept,
        # and the next run adopts it.
        try:
            if adopted:  # the password sent with the lost create is not known
                client.update_database_password(ref, db_pass)
            outs = self._outputs(client, props, project, db_pass)
        except FloyoError as exc:
            raise ProviderError(
                f"{exc.message}; {what} is healthy and was kept",
                hint="run the command again: the project is found by its name and adopted "
                "(with a new database password), not created twice",
            ) from exc
        if adopted:
            outs["adopted"] = _adopted_note(what)
        return CreateResult(ref, outs)

    def _earlier_attempt(self, client: ManagementClient, props: Mapping[str, Any]) -> str | None:
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
        recent = [p for p in same if _age(p) < self.adopt_within]
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
            f"{self.adopt_within / 3600:g} hours, so it is not taken over",
            hint="rename or delete that project in the Supabase dashboard, or import it into "
            "the stack (pulumi import), then run the command again",
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self._client(news)
        if _changed(olds, news, "plan"):
            _require_plan(client, news["organization_slug"], news["plan"])
        if _changed(olds, news, "project_name"):
            client.update_project_name(id_, news["project_name"])
        project = None
        if _changed(olds, news, "instance_size"):
            variant = compute_variant(news["instance_size"])
            client.set_addon(id_, "compute_instance", variant)
            # A resize restarts the database: wait until it is back, then check it took.
            project = self._wait(client, id_)
            current = _selected_variant(client.list_addons(id_), "compute_instance")
            if current != variant:
                raise ProviderError(
                    f"Supabase project {id_} reports compute {current or 'unknown'} after the "
                    f"resize to {variant}",
                    hint="check the project's compute size in the Supabase dashboard, then run "
                    "the command again",
                )
        if project is None:
            project = client.get_project(id_)
        db_pass = olds.get("db_pass")
        if not db_pass:
            raise ProviderError(
                f"the recorded state of Supabase project {id_} has no database password",
                hint="reset the database password in the Supabase dashboard and re-import "
                "the project",
            )
        return UpdateResult(self._outputs(client, news, project, db_pass))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = self._client(props)
        with contextlib.suppress(NotFoundError):  # already gone: the goal of a delete
            client.delete_project(id_)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            project = client.get_project(id_)
        except NotFoundError:
            return ReadResult("", {})  # an empty id tells the engine the project is gone
        outs = _inputs(props)
        outs["project_name"] = project.get("name", props.get("project_name"))
        outs["organization_slug"] = project.get("organization_slug", props.get("organization_slug"))
        outs["region"] = project.get("region", props.get("region"))
        outs["ref"] = id_
        outs["status"] = project.get("status")
        outs["db_host"] = (project.get("database") or {}).get("host", props.get("db_host"))
        if outs["status"] == "ACTIVE_HEALTHY":
            variant = _selected_variant(client.list_addons(id_), "compute_instance")
            size = _size_of(variant)
            if size:
                outs["instance_size"] = size
        db_pass = props.get("db_pass")
        if db_pass:
            outs["connection_string"] = _direct_connection(outs["db_host"], db_pass)
        return ReadResult(id_, outs)

    def _outputs(
        self,
        client: ManagementClient,
        props: Mapping[str, Any],
        project: Mapping[str, Any],
        db_pass: str,
    ) -> dict[str, Any]:
        ref = project["ref"]
        db_host = project["database"]["host"]
        pooler = self._primary_pooler(client, ref)
        return {
            **_inputs(props),
            "ref": ref,
            "status": project["status"],
            "db_host": db_host,
            "db_pass": db_pass,
            "connection_string": _direct_connection(db_host, db_pass),
            "pooler_connection_string": _pooler_connection(pooler, db_pass),
        }

    def _primary_pooler(self, client: ManagementClient, ref: str) -> dict[str, Any]:
        """The primary database's pooler entry, polled for as the status is: right after
        provisioning the listing may not have it yet."""

        def listed() -> dict[str, Any] | None:
            databases = client.list_databases(ref)
            return next((db for db in databases if db.get("database_type") == "PRIMARY"), None)

        return client.poll_until(
            listed,
            timeout=self.wait_timeout,
            interval=self.poll_interval,
            what=lambda: f"the pooler configuration of project {ref} to list its primary database",
            hint="check the project's Database settings in the Supabase dashboard",
        )


class ReadReplicaProvider(_SupabaseProvider):
    """A read replica of a project's primary database, in another region."""

    replace_keys = ("project_ref", "region")
    update_keys = ("db_pass",)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from _check_ref(news)
        if news.get("region") not in REGIONS:
            yield "region", "must be one of " + ", ".join(REGIONS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        ref, region = props["project_ref"], props["region"]
        before = {db["identifier"] for db in _replicas(client.list_databases(ref))}
        lost: SupabaseApiError | None = None
        try:
            client.setup_read_replica(ref, region)
        except SupabaseApiError as exc:
            if not exc.outcome_unknown:
                raise
            lost = exc  # the answer was lost: whether a replica appears settles it, below
        found: dict[str, Any] = {}

        def appeared() -> dict[str, Any] | None:
            new = [
                db
                for db in _replicas(client.list_databases(ref))
                if db["identifier"] not in before
                and _replica_region(db["identifier"], ref) in (region, None)
            ]
            if len(new) > 1:
                raise ProviderError(
                    f"Supabase project {ref} gained {len(new)} read replicas in {region} at "
                    "once: " + ", ".join(sorted(db["identifier"] for db in new)),
                    hint="create replicas of one project one at a time (depends_on the "
                    "previous one), then remove the extra replica in the dashboard",
                )
            if new:
                found.update(new[0])
                return dict(new[0])
            return None

        try:
            replica = client.poll_until(
                appeared,
                timeout=self.wait_timeout,
                interval=self.poll_interval,
                what=lambda: f"the read replica of project {ref} in {region} to appear",
                hint="replicas can take several minutes: check the project's Infrastructure "
                "page in the Supabase dashboard, then run the command again",
            )
            self._wait(client, ref)
        except FloyoError as exc:
            if not found and lost is not None:
                raise ProviderError(
                    f"{lost.message}; no new read replica of project {ref} appeared in "
                    f"{region} within {self.wait_timeout:g} s, so Supabase most likely did "
                    "not set it up",
                    hint="run the command again; if a replica in "
                    f"{region} shows up on the project's Infrastructure page in the meantime, "
                    "remove it there first, so as not to pay for two",
                ) from exc
            if not found:
                raise
            identifier = found["identifier"]
            raise _undo(
                exc,
                f"read replica {identifier}",
                lambda _: client.remove_read_replica(ref, identifier),
                identifier,
            ) from exc
        outs = self._outputs(props, replica)
        if lost is not None:
            note = (
                f"adopted read replica {replica['identifier']}: the request to set it up "
                "lost its answer, and the replica appeared"
            )
            log.warning("%s", note)
            outs["adopted"] = note
        return CreateResult(replica["identifier"], outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self._client(news)
        replica = _find_replica(client.list_databases(news["project_ref"]), id_)
        if replica is None:
            raise ProviderError(
                f"read replica {id_} of project {news['project_ref']} no longer exists",
                hint="run `refresh`, then `up` to create it again",
            )
        return UpdateResult(self._outputs(news, replica))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = self._client(props)
        ref = props["project_ref"]

        def gone() -> bool | None:
            return True if _find_replica(client.list_databases(ref), id_) is None else None

        try:
            if _find_replica(client.list_databases(ref), id_) is None:
                return
            client.remove_read_replica(ref, id_)
        except NotFoundError:
            return  # the project itself is gone
        except SupabaseApiError as exc:
            if exc.status in (401, 403):
                raise
            # A removal retried after a lost answer may meet the replica already on its way
            # out, and be refused: watch a little while whether it goes, before failing.
            with contextlib.suppress(SupabaseApiError):
                client.poll_until(
                    gone,
                    timeout=min(self.wait_timeout, _REMOVAL_SETTLE_SECONDS),
                    interval=self.poll_interval,
                    what=lambda: f"read replica {id_} to be removed",
                    hint="",
                )
                return
            raise exc

        # Wait, so that deleting the project next (as `destroy` does) finds no replica left.
        client.poll_until(
            gone,
            timeout=self.wait_timeout,
            interval=self.poll_interval,
            what=lambda: f"read replica {id_} to be removed",
            hint="check the project's Infrastructure page in the Supabase dashboard",
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            replica = _find_replica(client.list_databases(props["project_ref"]), id_)
        except NotFoundError:
            replica = None
        if replica is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(props, replica))

    @staticmethod
    def _outputs(props: Mapping[str, Any], replica: Mapping[str, Any]) -> dict[str, Any]:
        db_pass = props.get("db_pass")
        if db_pass:
            connection = _pooler_connection(replica, db_pass)
        else:
            connection = replica.get("connection_string", "")
        return {
            **_inputs(props),
            "identifier": replica["identifier"],
            "db_host": replica["db_host"],
            "connection_string": connection,
        }


class PoolerSettingsProvider(_SupabaseProvider):
    """The Supavisor settings of a project's primary database.

    Delete leaves the settings as they are: the API has no "reset to default", and they go
    with the project.
    """

    replace_keys = ("project_ref",)
    update_keys = ("pool_mode", "default_pool_size")

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from _check_ref(news)
        if news.get("pool_mode") not in ("transaction", "session"):
            yield "pool_mode", "must be transaction or session"
        size = news.get("default_pool_size")
        if isinstance(size, float) and size.is_integer():
            size = int(size)
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= 3000:
            yield "default_pool_size", "must be a whole number from 0 to 3000"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ref = props["project_ref"]
        return CreateResult(f"{ref}/pooler", self._apply(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if any(_changed(olds, news, key) for key in self.update_keys):
            return UpdateResult(self._apply(news))
        return UpdateResult({**olds, **_inputs(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            pooler = client.get_pooler(props["project_ref"])
        except NotFoundError:
            return ReadResult("", {})
        outs = {
            **_inputs(props),
            "pool_mode": pooler.get("pool_mode"),
            "default_pool_size": pooler.get("default_pool_size"),
        }
        return ReadResult(id_, outs)

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client(props)
        answer = client.update_pooler(
            props["project_ref"],
            pool_mode=props["pool_mode"],
            default_pool_size=int(props["default_pool_size"]),
        )
        return {
            **_inputs(props),
            "pool_mode": answer.get("pool_mode", props["pool_mode"]),
            "default_pool_size": answer.get("default_pool_size", props["default_pool_size"]),
        }


class AddonProvider(_SupabaseProvider):
    """A billing addon of a project, e.g. PITR (`pitr` / `pitr_7`).

    Compute size is not an Addon: it belongs to Project.instance_size, and two resources
    setting it would undo each other.
    """

    replace_keys = ("project_ref", "addon_type")
    update_keys = ("addon_variant",)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from _check_ref(news)
        addon_type = news.get("addon_type")
        if addon_type == "compute_instance":
            yield "addon_type", "set the compute size with Project(instance_size=...)"
        elif addon_type not in ADDON_VARIANTS:
            yield (
                "addon_type",
                "must be one of " + ", ".join(t for t in ADDON_VARIANTS if t != "compute_instance"),
            )
        elif news.get("addon_variant") not in ADDON_VARIANTS[addon_type]:
            yield "addon_variant", f"must be one of {', '.join(sorted(ADDON_VARIANTS[addon_type]))}"

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        ref, addon_type = props["project_ref"], props["addon_type"]
        client.set_addon(ref, addon_type, props["addon_variant"])
        return CreateResult(f"{ref}/{addon_type}", _inputs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if _changed(olds, news, "addon_variant"):
            client = self._client(news)
            client.set_addon(news["project_ref"], news["addon_type"], news["addon_variant"])
        return UpdateResult(_inputs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self._client(props)
        ref = props["project_ref"]
        try:
            variant = _selected_variant(client.list_addons(ref), props["addon_type"])
            if variant is not None:
                client.remove_addon(ref, variant)
        except NotFoundError:
            pass  # the project is gone, and its addons with it

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            variant = _selected_variant(
                client.list_addons(props["project_ref"]), props["addon_type"]
            )
        except NotFoundError:
            variant = None
        if variant is None:
            return ReadResult("", {})
        return ReadResult(id_, {**_inputs(props), "addon_variant": variant})


class DiskConfigProvider(_SupabaseProvider):
    """The size of a project's database disk (an EBS volume): it can grow, never shrink.

    Create and update read the disk and resize it only when the size differs, keeping its
    type, IOPS and throughput as they are (so an io2 disk, or a gp3 disk with extra IOPS
    bought in the dashboard, is not turned back into a baseline gp3 one); then they wait
    until the project is ACTIVE_HEALTHY again, in case the resize put it into RESIZING.

    Delete leaves the disk as it is: a project's disk cannot be removed (nor shrunk back),
    it goes with the project. Read reports the current size, so growth by disk autoscaling
    shows up as drift.
    """

    replace_keys = ("project_ref",)
    update_keys = ("size_gb",)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from _check_ref(news)
        size = _whole(news.get("size_gb"))
        if size is None or not 1 <= size <= MAX_DISK_GB:
            yield "size_gb", f"must be a whole number of GB from 1 to {MAX_DISK_GB}"

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # The shrink is refused here rather than in check(): check() is handed the previous
        # *inputs*, diff() the recorded *state*, i.e. the size the last create, update or
        # refresh found (which includes growth by disk autoscaling). Both run during
        # `preview`, so `preview` already fails, instead of `up` failing half-way (the dynamic
        # provider host reports the raise as this resource's error). create and update check
        # again against the live size, which may have grown since.
        if not _changed(olds, news, "project_ref"):
            have, want = _whole(olds.get("size_gb")), _whole(news.get("size_gb"))
            if have is not None and want is not None and want < have:
                raise _shrink_error(news["project_ref"], have, want)
        return super().diff(id_, olds, news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['project_ref']}/disk", self._apply(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # a disk cannot be removed; it goes with the project

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        ref = props["project_ref"]
        try:
            attributes = _disk_attributes(client.get_disk(ref), ref)
        except NotFoundError:
            return ReadResult("", {})  # the project, and its disk with it, is gone
        return ReadResult(id_, self._outputs(props, attributes))

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client(props)
        ref = props["project_ref"]
        want = _whole(props.get("size_gb"))
        if want is None or want < 1:
            raise ProviderError(f"disk size_gb {props.get('size_gb')!r} is not a whole number")
        current = _disk_attributes(client.get_disk(ref), ref)
        have = current["size_gb"]
        if want < have:
            raise _shrink_error(ref, have, want)
        if want == have:
            return self._outputs(props, current)
        try:
            client.set_disk(
                ref,
                size_gb=want,
                iops=current["iops"],
                throughput_mibps=current.get("throughput_mibps") or GP3_BASELINE_THROUGHPUT,
                type=current["type"],
            )
        except SupabaseApiError as exc:
            raise _resize_refused(exc, ref, current) from exc
        self._wait(client, ref)
        resized = _disk_attributes(client.get_disk(ref), ref)
        if resized["size_gb"] < want:
            raise ProviderError(
                f"Supabase project {ref} reports a {resized['size_gb']} GB disk after the "
                f"resize to {want} GB",
                hint="check the disk size on the project's Compute and Disk page in the "
                "Supabase dashboard, then run the command again",
            )
        return self._outputs(props, resized)

    @staticmethod
    def _outputs(props: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
        return {**_inputs(props), "size_gb": attributes["size_gb"], "type": attributes["type"]}


# --------------------------------------------------------------------------- helpers


def _check_ref(news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if not REF_RE.match(str(news.get("project_ref") or "")):
        yield "project_ref", "must be a project ref (20 lower-case letters)"


def _changed(olds: Mapping[str, Any], news: Mapping[str, Any], key: str) -> bool:
    new = news.get(key)
    return new == _UNKNOWN or olds.get(key) != new


def _inputs(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != _PROVIDER_KEY}


def _require_plan(client: ManagementClient, slug: str, plan: str) -> None:
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


def _undo(exc: FloyoError, what: str, remove: Callable[[str], Any], ident: str) -> ProviderError:
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


def _adopted_note(what: str) -> str:
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


def _whole(value: Any) -> int | None:
    """A whole number (the engine hands numbers over as floats: 8.0), else None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _disk_attributes(answer: Any, ref: str) -> dict[str, Any]:
    attributes = answer.get("attributes") if isinstance(answer, Mapping) else None
    if not isinstance(attributes, Mapping) or _whole(attributes.get("size_gb")) is None:
        raise SupabaseApiError(
            f"Supabase returned no disk size for project {ref}",
            hint="the project may still be provisioning; run the command again later",
        )
    modified = answer.get("last_modified_at")
    return {**attributes, "size_gb": _whole(attributes["size_gb"]), "last_modified_at": modified}


def _shrink_error(ref: str, have: int, want: int) -> ProviderError:
    return ProviderError(
        f"the database disk of Supabase project {ref} is {have} GB and cannot shrink to "
        f"{want} GB: a disk (an EBS volume) can only grow",
        hint=f"keep disk_gb at {have} or more (if nobody set {have} GB, disk autoscaling grew "
        "it), or restore a backup into a new project with the smaller disk",
    )


def _resize_refused(exc: SupabaseApiError, ref: str, current: Mapping[str, Any]) -> ProviderError:
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


def _selected_variant(addons: Mapping[str, Any], addon_type: str) -> str | None:
    for addon in addons.get("selected_addons") or []:
        if addon.get("type") == addon_type:
            return (addon.get("variant") or {}).get("id")
    return None


def _size_of(variant: str | None) -> str | None:
    for size, ci in COMPUTE_SIZES.items():
        if ci == variant:
            return size
    return None


def _replicas(databases: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [db for db in databases if db.get("database_type") == "READ_REPLICA"]


def _find_replica(databases: Iterable[Mapping[str, Any]], identifier: str) -> Any:
    return next((db for db in _replicas(databases) if db["identifier"] == identifier), None)


def _replica_region(identifier: str, ref: str) -> str | None:
    """`<ref>-rr-us-west-1-abcde` -> `us-west-1` (None when the identifier has another shape)."""
    prefix = f"{ref}-rr-"
    if not identifier.startswith(prefix):
        return None
    region, _, _suffix = identifier[len(prefix) :].rpartition("-")
    return region if region in REGIONS else None


def _direct_connection(db_host: str, db_pass: str) -> str:
    return f"postgresql://postgres:{_quote(db_pass)}@{db_host}:5432/postgres"


def _pooler_connection(entry: Mapping[str, Any], db_pass: str) -> str:
    return (
        f"postgresql://{_quote(entry['db_user'])}:{_quote(db_pass)}"
        f"@{entry['db_host']}:{entry['db_port']}/{_quote(entry['db_name'])}"
    )


def _quote(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")
