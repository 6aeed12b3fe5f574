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
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from floyo_scale.errors import FloyoError, ProviderError
from floyo_scale.infra.supabase.client import (
    ADDON_VARIANTS,
    COMPUTE_SIZES,
    GP3_BASELINE_THROUGHPUT,
    PLANS,
    REGIONS,
    SLUG_RE,
    ManagementClient,
    compute_variant,
)
from floyo_scale.infra.supabase.transport import NotFoundError, NotReady, SupabaseApiError

__all__ = [
    "AddonProvider",
    "DiskConfigProvider",
    "PoolerSettingsProvider",
    "ProjectProvider",
    "ReadReplicaProvider",
]

from floyo_scale.infra.supabase.base import (
    MAX_DISK_GB,
    REMOVAL_SETTLE_SECONDS,
    SupabaseProvider,
    adopted_note,
    check_ref,
    declared_inputs,
    direct_connection,
    disk_attributes,
    earlier_attempt,
    find_replica,
    input_changed,
    kept_project_error,
    pooler_connection,
    primary_pooler,
    replica_region,
    replicas_of,
    require_plan,
    resize_refused,
    selected_variant,
    shrink_error,
    size_of,
    undo_create,
    whole_number,
)

log = logging.getLogger(__name__)


class ProjectProvider(SupabaseProvider):
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
        require_plan(client, props["organization_slug"], props["plan"])
        db_pass = secrets.token_urlsafe(32)
        # An earlier create may have made the project and lost the answer (a 500 or a
        # dropped connection after Supabase acted): look before creating a second one.
        ref = earlier_attempt(client, props, self.adopt_within)
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
                # settle it now, if the project shows
                ref = earlier_attempt(client, props, self.adopt_within)
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
            log.warning("%s", adopted_note(what))
        # Create must be all or nothing while the project is provisioning: Pulumi records
        # nothing when create fails, so a project left behind would be billed and unmanaged.
        # A project that provisioning did not bring up is deleted (unless it was adopted:
        # what happened to it before is not known) ...
        try:
            project = self._wait(client, ref)
        except NotReady as exc:
            if adopted:
                raise
            raise undo_create(exc, what, client.delete_project, ref) from exc
        except FloyoError as exc:  # its status could not be read: it may well be healthy
            raise kept_project_error(
                exc, f"{what} was kept, since whether it came up is not known"
            ) from exc
        # ... but a healthy project is never deleted because a later step failed: it is kept,
        # and the next run adopts it.
        try:
            if adopted:  # the password sent with the lost create is not known
                client.update_database_password(ref, db_pass)
            outs = self._outputs(client, props, project, db_pass)
        except FloyoError as exc:
            raise kept_project_error(exc, f"{what} is healthy and was kept") from exc
        if adopted:
            outs["adopted"] = adopted_note(what)
        return CreateResult(ref, outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self._client(news)
        if input_changed(olds, news, "plan"):
            require_plan(client, news["organization_slug"], news["plan"])
        if input_changed(olds, news, "project_name"):
            client.update_project_name(id_, news["project_name"])
        project = None
        if input_changed(olds, news, "instance_size"):
            variant = compute_variant(news["instance_size"])
            client.set_addon(id_, "compute_instance", variant)
            # A resize restarts the database: wait until it is back, then check it took.
            project = self._wait(client, id_)
            current = selected_variant(client.list_addons(id_), "compute_instance")
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
        outs = declared_inputs(props)
        outs["project_name"] = project.get("name", props.get("project_name"))
        outs["organization_slug"] = project.get("organization_slug", props.get("organization_slug"))
        outs["region"] = project.get("region", props.get("region"))
        outs["ref"] = id_
        outs["status"] = project.get("status")
        outs["db_host"] = (project.get("database") or {}).get("host", props.get("db_host"))
        if outs["status"] == "ACTIVE_HEALTHY":
            variant = selected_variant(client.list_addons(id_), "compute_instance")
            size = size_of(variant)
            if size:
                outs["instance_size"] = size
        db_pass = props.get("db_pass")
        if db_pass:
            outs["connection_string"] = direct_connection(outs["db_host"], db_pass)
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
        pooler = primary_pooler(client, ref, self.wait_timeout, self.poll_interval)
        return {
            **declared_inputs(props),
            "ref": ref,
            "status": project["status"],
            "db_host": db_host,
            "db_pass": db_pass,
            "connection_string": direct_connection(db_host, db_pass),
            "pooler_connection_string": pooler_connection(pooler, db_pass),
        }


class ReadReplicaProvider(SupabaseProvider):
    """A read replica of a project's primary database, in another region."""

    replace_keys = ("project_ref", "region")
    update_keys = ("db_pass",)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from check_ref(news)
        if news.get("region") not in REGIONS:
            yield "region", "must be one of " + ", ".join(REGIONS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        ref, region = props["project_ref"], props["region"]
        before = {db["identifier"] for db in replicas_of(client.list_databases(ref))}
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
                for db in replicas_of(client.list_databases(ref))
                if db["identifier"] not in before
                and replica_region(db["identifier"], ref) in (region, None)
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
            raise undo_create(
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
        replica = find_replica(client.list_databases(news["project_ref"]), id_)
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
            return True if find_replica(client.list_databases(ref), id_) is None else None

        try:
            if find_replica(client.list_databases(ref), id_) is None:
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
                    timeout=min(self.wait_timeout, REMOVAL_SETTLE_SECONDS),
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
            replica = find_replica(client.list_databases(props["project_ref"]), id_)
        except NotFoundError:
            replica = None
        if replica is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(props, replica))

    @staticmethod
    def _outputs(props: Mapping[str, Any], replica: Mapping[str, Any]) -> dict[str, Any]:
        db_pass = props.get("db_pass")
        if db_pass:
            connection = pooler_connection(replica, db_pass)
        else:
            connection = replica.get("connection_string", "")
        return {
            **declared_inputs(props),
            "identifier": replica["identifier"],
            "db_host": replica["db_host"],
            "connection_string": connection,
        }


class PoolerSettingsProvider(SupabaseProvider):
    """The Supavisor settings of a project's primary database.

    Delete leaves the settings as they are: the API has no "reset to default", and they go
    with the project.
    """

    replace_keys = ("project_ref",)
    update_keys = ("pool_mode", "default_pool_size")

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from check_ref(news)
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
        if any(input_changed(olds, news, key) for key in self.update_keys):
            return UpdateResult(self._apply(news))
        return UpdateResult({**olds, **declared_inputs(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            pooler = client.get_pooler(props["project_ref"])
        except NotFoundError:
            return ReadResult("", {})
        outs = {
            **declared_inputs(props),
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
            **declared_inputs(props),
            "pool_mode": answer.get("pool_mode", props["pool_mode"]),
            "default_pool_size": answer.get("default_pool_size", props["default_pool_size"]),
        }


class AddonProvider(SupabaseProvider):
    """A billing addon of a project, e.g. PITR (`pitr` / `pitr_7`).

    Compute size is not an Addon: it belongs to Project.instance_size, and two resources
    setting it would undo each other.
    """

    replace_keys = ("project_ref", "addon_type")
    update_keys = ("addon_variant",)

    def _validate(self, news: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
        yield from check_ref(news)
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
        return CreateResult(f"{ref}/{addon_type}", declared_inputs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if input_changed(olds, news, "addon_variant"):
            client = self._client(news)
            client.set_addon(news["project_ref"], news["addon_type"], news["addon_variant"])
        return UpdateResult(declared_inputs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        client = self._client(props)
        ref = props["project_ref"]
        try:
            variant = selected_variant(client.list_addons(ref), props["addon_type"])
            if variant is not None:
                client.remove_addon(ref, variant)
        except NotFoundError:
            pass  # the project is gone, and its addons with it

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = self._client(props)
        try:
            variant = selected_variant(
                client.list_addons(props["project_ref"]), props["addon_type"]
            )
        except NotFoundError:
            variant = None
        if variant is None:
            return ReadResult("", {})
        return ReadResult(id_, {**declared_inputs(props), "addon_variant": variant})


class DiskConfigProvider(SupabaseProvider):
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
        yield from check_ref(news)
        size = whole_number(news.get("size_gb"))
        if size is None or not 1 <= size <= MAX_DISK_GB:
            yield "size_gb", f"must be a whole number of GB from 1 to {MAX_DISK_GB}"

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # The shrink is refused here rather than in check(): check() is handed the previous
        # *inputs*, diff() the recorded *state*, i.e. the size the last create, update or
        # refresh found (which includes growth by disk autoscaling). Both run during
        # `preview`, so `preview` already fails, instead of `up` failing half-way (the dynamic
        # provider host reports the raise as this resource's error). create and update check
        # again against the live size, which may have grown since.
        if not input_changed(olds, news, "project_ref"):
            have, want = whole_number(olds.get("size_gb")), whole_number(news.get("size_gb"))
            if have is not None and want is not None and want < have:
                raise shrink_error(news["project_ref"], have, want)
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
            attributes = disk_attributes(client.get_disk(ref), ref)
        except NotFoundError:
            return ReadResult("", {})  # the project, and its disk with it, is gone
        return ReadResult(id_, self._outputs(props, attributes))

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client(props)
        ref = props["project_ref"]
        want = whole_number(props.get("size_gb"))
        if want is None or want < 1:
            raise ProviderError(f"disk size_gb {props.get('size_gb')!r} is not a whole number")
        current = disk_attributes(client.get_disk(ref), ref)
        have = current["size_gb"]
        if want < have:
            raise shrink_error(ref, have, want)
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
            raise resize_refused(exc, ref, current) from exc
        self._wait(client, ref)
        resized = disk_attributes(client.get_disk(ref), ref)
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
        return {
            **declared_inputs(props),
            "size_gb": attributes["size_gb"],
            "type": attributes["type"],
        }
