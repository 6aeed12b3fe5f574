"""How the Supabase client turns the one HTTP transport's answers into errors.

Sending, retrying, lost answers, redirects and redaction are floyo_scale.transport's (the
dynamic provider runs inside Pulumi's provider host, on this same interpreter, so urllib3 is
there too). The endpoints are in client.py; this module knows nothing of them but a
request's method, path and body.

Secrets: the access token and any database password never appear in an exception message,
a repr or a log line. Messages that quote the API are passed through the client's redactor.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from floyo_scale.errors import ProviderError
from floyo_scale.transport.redact import PLACEHOLDER

if TYPE_CHECKING:
    from floyo_scale.transport.http import NoAnswer

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
_MAX_API_MESSAGE = 500

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


class Transport:
    """Talks to the Supabase Management API with one personal access token.

    Retries are the one policy of floyo_scale.transport.http: a 429 waits for `Retry-After`
    or `X-RateLimit-Reset` seconds (the API's 120 requests/minute window); 5xx answers and
    lost connections back off exponentially (1 s, 2 s, 4 s ... capped at `backoff_cap`), at
    most `max_retries` times. Non-idempotent POSTs are retried only when the API cannot have
    acted on them; see `_request`.

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
        # here, not at the top: `plan` imports this module (the program's resources), and
        # never sends a request
        from floyo_scale.transport.http import HttpClient, RetryPolicy

        self._http = HttpClient(
            "supabase",
            base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=(token,),
            timeout=timeout,
            policy=RetryPolicy(max_retries=max_retries, backoff_cap=backoff_cap),
            sleep=sleep,
            monotonic=monotonic,
        )
        self.base_url = self._http.base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.monotonic = monotonic
        self._redact = self._http.redact

    def __repr__(self) -> str:
        return f"ManagementClient(base_url={self.base_url!r}, token={PLACEHOLDER})"

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
        from floyo_scale.transport.http import NoAnswer, OtherHostRedirect

        where = self._http.host
        try:
            answer = self._http.request(
                method, path, body=body, query=query, idempotent=idempotent, applied=applied
            )
        except OtherHostRedirect as redirect:
            raise SupabaseApiError(
                f"the Supabase API at {where} answered the request to {operation} "
                f"({subject}) with a redirect ({redirect.status}) to another host, "
                f"{redirect.location}; it was not followed, and the access token was not "
                "sent there",
                hint="check api_url: it should be the Management API's own address "
                "(https://api.supabase.com), not one that redirects",
                status=redirect.status,
            ) from None
        except NoAnswer as failure:
            raise self._connection_error(
                failure, operation, subject, failure.attempts, idempotent
            ) from None
        if answer is None:
            return None  # a lost request, read back as done
        if 200 <= answer.status < 300:
            return _decode(answer.data)
        raise self._http_error(
            answer.status, answer.data, operation, subject, answer.attempts, idempotent
        )

    def _object(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        subject: str,
        body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """`_request` for an endpoint whose contract answers with a JSON object: that object,
        or SupabaseApiError when the answer is something else (no body, a list)."""
        result = self._request(
            method, path, operation=operation, subject=subject, body=body, idempotent=idempotent
        )
        if not isinstance(result, dict):
            raise SupabaseApiError(
                f"Supabase answered the request to {operation} ({subject}) with "
                f"{type(result).__name__}, not a JSON object",
                hint="check api_url: it should point at the Management API",
            )
        return result

    def _connection_error(
        self,
        failure: NoAnswer,
        operation: str,
        subject: str,
        attempt: int,
        idempotent: bool,
    ) -> SupabaseApiError:
        where = self._http.host
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
