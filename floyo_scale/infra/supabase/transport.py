"""How the Supabase client talks HTTP: retries, lost answers, redirects, errors, redaction.

Only the stdlib (the dynamic provider runs inside Pulumi's provider host). The endpoints are
in client.py; this module knows nothing of them but a request's method, path and body.

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

from floyo_scale.errors import ProviderError

__all__ = [
    "DEFAULT_API_URL",
    "TOKEN_HINT",
    "NotFoundError",
    "NotReady",
    "SupabaseApiError",
    "Transport",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL = "https://api.supabase.com"
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


class NotReady(SupabaseApiError):
    """What was waited for did not happen: the wait timed out, or a status was reached that
    waiting will not fix. (The API answered all along: an unreadable answer is another
    SupabaseApiError.)"""


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


class Transport:
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
                raise NotReady(f"timed out after {timeout:g} s waiting for {what()}", hint=hint)
            self.sleep(min(interval, remaining))

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
