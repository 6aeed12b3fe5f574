"""A small client for the Supabase Management API (https://api.supabase.com/v1).

Only the stdlib: the dynamic provider runs inside Pulumi's provider host, and every
dependency it has must be importable there too.

Every path, body and response shape here comes from the published contract,
`../shared/contracts/supabase-management-api.openapi.json`; the contract tests check each
request this client sends against it.

Secrets: the access token and any database password never appear in an exception message,
a repr or a log line. Messages that quote the API are passed through `_Redactor` first.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from floyo_scale.catalog import facts
from floyo_scale.errors import ProviderError

__all__ = [
    "ADDON_VARIANTS",
    "COMPUTE_SIZES",
    "DEFAULT_API_URL",
    "DISK_TYPES",
    "GP3_BASELINE_IOPS",
    "GP3_BASELINE_THROUGHPUT",
    "PLANS",
    "REF_RE",
    "REGIONS",
    "SLUG_RE",
    "TERMINAL_STATUSES",
    "ManagementClient",
    "NotFoundError",
    "SupabaseApiError",
    "compute_variant",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://api.supabase.com"

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
_TOKEN_RE = re.compile(r"sbp_[A-Za-z0-9_]+")
_URL_PASSWORD_RE = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
_MAX_API_MESSAGE = 500
_MAX_RATE_LIMIT_WAIT = 120.0

TOKEN_HINT = (
    "check SUPABASE_ACCESS_TOKEN: it must be a current personal access token (sbp_...) "
    "from https://supabase.com/dashboard/account/tokens"
)


class SupabaseApiError(ProviderError):
    """The Management API answered with an error, or could not be reached.

    `outcome_unknown`: the request was sent, may have been carried out, and its answer was
    lost (a 5xx or a dropped connection on a request that is not retried blindly). The
    caller can settle the question by reading what the request would have changed.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
    ):
        super().__init__(message, hint)
        self.status = status
        self.outcome_unknown = outcome_unknown


class NotFoundError(SupabaseApiError):
    """The API answered 404: the project, organisation or replica does not exist."""


class _ConnectionFailed(Exception):
    """Internal: no HTTP answer. `maybe_processed` is False only when the request never left."""

    def __init__(self, reason: str, *, maybe_processed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.maybe_processed = maybe_processed


class _OtherHostRedirect(Exception):
    """Internal: the API answered with a redirect to another origin; it is not followed."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(location)
        self.status = status
        self.location = location


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the API's origin (scheme, host and port).

    urllib's own handler follows any redirect and copies every header, the bearer token
    included, to wherever it points: one rogue or misconfigured answer would hand the token
    to another host. A redirect elsewhere is refused before any request is sent there.
    """

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        origin = urllib.parse.urlsplit(req.full_url)
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            raise _OtherHostRedirect(code, f"{target.scheme}://{target.netloc}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Redactor:
    """Removes known secrets, and anything shaped like one, from text meant for humans."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        text = _TOKEN_RE.sub("sbp_[redacted]", text)
        return _URL_PASSWORD_RE.sub(r"\1[redacted]@", text)


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


class ManagementClient:
    """Talks to the Supabase Management API with one personal access token.

    Retries: a 429 waits for `X-RateLimit-Reset` seconds (the API's 120 requests/minute
    window); 5xx answers and lost connections back off exponentially (1 s, 2 s, 4 s ... capped
    at `backoff_cap`), at most `max_retries` times. Non-idempotent POSTs are retried only when
    the API cannot have acted on them; see `_request`.

    `sleep` and `monotonic` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token:
            raise ProviderError("no Supabase access token was given", hint=TOKEN_HINT)
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ProviderError(
                f"the Supabase API URL {base_url!r} is not an http(s) URL",
                hint="leave api_url at its default, https://api.supabase.com",
            )
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.monotonic = monotonic
        self._redact = _Redactor()
        self._redact.add(token)
        self._opener = urllib.request.build_opener(_SameOriginRedirects)

    def __repr__(self) -> str:
        return f"ManagementClient(base_url={self.base_url!r}, token=[redacted])"

    def __reduce__(self) -> Any:
        # Refuse to be pickled: a client captured by a dynamic provider would carry the token
        # into the serialized provider (and so into every state file).
        raise TypeError("ManagementClient holds an access token and cannot be pickled")

    # ----------------------------------------------------------------- organisations

    def get_organization(self, slug: str) -> dict[str, Any]:
        """GET /v1/organizations/{slug} -> V1OrganizationSlugResponse (plan is optional)."""
        if not SLUG_RE.match(slug or ""):
            raise ProviderError(f"invalid Supabase organization slug {slug!r}")
        return self._request(
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
        return self._request(
            "POST",
            "/v1/projects",
            body=body,
            operation=f"create project {name!r}",
            subject=f"organization {organization_slug!r}",
            idempotent=False,
        )

    def get_project(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref} -> V1ProjectWithDatabaseResponse."""
        return self._request(
            "GET", _project_path(ref), operation="read the project", subject=_project(ref)
        )

    def update_project_name(self, ref: str, name: str) -> dict[str, Any]:
        """PATCH /v1/projects/{ref} {name} -> V1ProjectRefResponse."""
        return self._request(
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
        return self._request(
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
                raise SupabaseApiError(
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

    def poll_until(
        self,
        check: Callable[[], T | None],
        *,
        timeout: float,
        interval: float,
        what: Callable[[], str],
        hint: str,
    ) -> T:
        """Call `check` every `interval` seconds until it returns something other than None.

        `check` may raise to stop early. After `timeout` seconds: ProviderError("timed out
        waiting for <what()>", hint).
        """
        deadline = self.monotonic() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                raise SupabaseApiError(
                    f"timed out after {timeout:g} s waiting for {what()}", hint=hint
                )
            self.sleep(min(interval, remaining))

    # ----------------------------------------------------------------- billing addons

    def list_addons(self, ref: str) -> dict[str, Any]:
        """GET /v1/projects/{ref}/billing/addons -> ListProjectAddonsResponse."""
        return self._request(
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
        return self._request(
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
        return self._request(
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

    # ----------------------------------------------------------------- transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        subject: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        applied: Callable[[], bool] | None = None,
    ) -> Any:
        """Send one request, retrying where that is safe; return the decoded JSON (or None).

        Retry policy:
        - 429: always retried, after X-RateLimit-Reset seconds. The API did not process the
          request, so this is safe even for a POST.
        - connection refused / DNS failure: always retried; the request never left.
        - 5xx, connection reset, timeouts: retried only for idempotent requests (GET, PATCH
          that sets a value, DELETE). A POST (create project, set up or remove a replica) is
          NOT retried then: a 502/504 or a reset after sending does not tell whether Supabase
          acted, and a blind retry could create a second, billed project or replica. We fail
          with an error that says the outcome is unknown instead (`outcome_unknown`).
        - `applied` (for a request that is not idempotent but whose effect can be read back):
          after a 5xx or a lost answer it is asked whether the request took effect; if so,
          that is the answer, else the request is sent again.
        """
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        payload = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            try:
                status, headers, data = self._send(method, url, payload)
            except _OtherHostRedirect as redirect:
                where = urllib.parse.urlsplit(self.base_url).netloc
                raise SupabaseApiError(
                    f"the Supabase API at {where} answered the request to {operation} "
                    f"({subject}) with a redirect ({redirect.status}) to another host, "
                    f"{redirect.location}; it was not followed, and the access token was not "
                    "sent there",
                    hint="check api_url: it should be the Management API's own address "
                    "(https://api.supabase.com), not one that redirects",
                    status=redirect.status,
                ) from None
            except _ConnectionFailed as failure:
                if applied is not None and failure.maybe_processed and attempt < self.max_retries:
                    self.sleep(self._backoff(attempt))
                    if self._took_effect(applied, method, path, failure.reason):
                        return None
                    attempt += 1
                    continue
                retryable = idempotent or not failure.maybe_processed
                if retryable and attempt < self.max_retries:
                    delay = self._backoff(attempt)
                    log.warning(
                        "%s %s: %s; retrying in %.1f s", method, path, failure.reason, delay
                    )
                    self.sleep(delay)
                    attempt += 1
                    continue
                raise self._connection_error(
                    failure, operation, subject, attempt, idempotent
                ) from None

            if 200 <= status < 300:
                return _decode(data)
            if status == 429 and attempt < self.max_retries:
                reset = _rate_limit_wait(headers)
                delay = self._backoff(attempt) if reset is None else reset
                log.warning("%s %s: rate limited; retrying in %.1f s", method, path, delay)
                self.sleep(delay)
                attempt += 1
                continue
            if status >= 500 and applied is not None and attempt < self.max_retries:
                self.sleep(self._backoff(attempt))
                if self._took_effect(applied, method, path, f"HTTP {status}"):
                    return None
                attempt += 1
                continue
            if status >= 500 and idempotent and attempt < self.max_retries:
                delay = self._backoff(attempt)
                log.warning("%s %s: HTTP %d; retrying in %.1f s", method, path, status, delay)
                self.sleep(delay)
                attempt += 1
                continue
            raise self._http_error(status, data, operation, subject, attempt, idempotent)

    def _took_effect(self, applied: Callable[[], bool], method: str, path: str, why: str) -> bool:
        """Whether a request whose answer was lost took effect (read back, not guessed)."""
        try:
            done = applied()
        except ProviderError:
            return False  # could not read it back: the request is tried again below
        log.warning(
            "%s %s: %s; %s", method, path, why, "it took effect" if done else "sending it again"
        )
        return done

    def _send(self, method: str, url: str, payload: bytes | None) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(url, data=payload, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "floyo-scale")
        if payload is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            try:
                data = exc.read()
            except (OSError, http.client.HTTPException):
                data = b""
            return exc.code, exc.headers, data
        except urllib.error.URLError as exc:
            # urllib wraps only errors raised while connecting and sending.
            reason = exc.reason
            never_sent = isinstance(reason, ConnectionRefusedError | socket.gaierror)
            raise _ConnectionFailed(_describe(reason), maybe_processed=not never_sent) from None
        except (OSError, http.client.HTTPException) as exc:
            # Raised while waiting for or reading the answer: the request was sent.
            raise _ConnectionFailed(_describe(exc), maybe_processed=True) from None

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, 2.0**attempt)

    def _connection_error(
        self,
        failure: _ConnectionFailed,
        operation: str,
        subject: str,
        attempt: int,
        idempotent: bool,
    ) -> SupabaseApiError:
        where = urllib.parse.urlsplit(self.base_url).netloc
        if not idempotent and failure.maybe_processed:
            return SupabaseApiError(
                f"lost the connection to {where} while trying to {operation} ({subject}): "
                f"{failure.reason}; Supabase may or may not have done it",
                hint="check the Supabase dashboard before running the command again, so as "
                "not to create a duplicate",
                outcome_unknown=True,
            )
        return SupabaseApiError(
            f"could not reach {where} to {operation} ({subject}) after "
            f"{attempt + 1} attempt{'s' if attempt else ''}: {failure.reason}",
            hint="check the network connection and https://status.supabase.com, then run the "
            "command again",
        )

    def _http_error(
        self,
        status: int,
        data: bytes,
        operation: str,
        subject: str,
        attempt: int,
        idempotent: bool,
    ) -> SupabaseApiError:
        detail = self._redact(_api_message(data))
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return SupabaseApiError(
                f"Supabase rejected the access token (401) while trying to {operation} "
                f"({subject}){suffix}",
                hint=TOKEN_HINT,
                status=status,
            )
        if status == 403:
            return SupabaseApiError(
                f"Supabase refused to {operation} (403 Forbidden) for {subject}{suffix}",
                hint="the token's account needs a role that allows this in the organization "
                "that owns it (owner or administrator for billing and projects)",
                status=status,
            )
        if status == 404:
            return NotFoundError(
                f"Supabase could not find {subject} (404) while trying to {operation}{suffix}",
                hint="check the project ref or organization slug, and that the token's account "
                "belongs to its organization",
                status=status,
            )
        if status == 429:
            return SupabaseApiError(
                f"Supabase kept rate-limiting the request to {operation} ({subject}) after "
                f"{attempt + 1} attempts",
                hint="the Management API allows 120 requests per minute per token: wait a "
                "minute, or run with less parallelism",
                status=status,
            )
        if status >= 500:
            unknown = "" if idempotent else "; Supabase may or may not have done it"
            return SupabaseApiError(
                f"Supabase failed to {operation} ({subject}): HTTP {status} after "
                f"{attempt + 1} attempt{'s' if attempt else ''}{suffix}{unknown}",
                hint="see https://status.supabase.com; "
                + (
                    "check the Supabase dashboard before running the command again"
                    if not idempotent
                    else "run the command again later"
                ),
                status=status,
                outcome_unknown=not idempotent,
            )
        return SupabaseApiError(
            f"Supabase rejected the request to {operation} ({subject}): HTTP {status}{suffix}",
            status=status,
        )


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


def _decode(data: bytes) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise SupabaseApiError(
            "Supabase answered with something that is not JSON",
            hint="check api_url: it should point at the Management API",
        ) from None


def _api_message(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error", "msg"):
            if isinstance(parsed.get(key), str):
                text = parsed[key]
                break
    text = " ".join(text.split())
    if len(text) > _MAX_API_MESSAGE:
        text = text[:_MAX_API_MESSAGE] + "..."
    return text


def _rate_limit_wait(headers: Any) -> float | None:
    if headers is None:
        return None
    for name in ("X-RateLimit-Reset", "Retry-After"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        return min(max(seconds, 0.0), _MAX_RATE_LIMIT_WAIT)
    return None


def _describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    return type(exc).__name__
