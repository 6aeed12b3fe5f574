"""A small JSON client for the read-only APIs `status` asks (Vercel, Sentry, Upstash), over
the one HTTP transport (floyo_scale.transport): a timeout on every request, its retry policy
(these are all reads, so a retry is always safe), redirects that never carry the credential
to another host, errors that name the source and the endpoint, secrets redacted.

Every retry respects a deadline: `status` gives each source `--timeout` seconds in all, and
a source that would sleep past it gives up instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ProviderError
from ..transport import (
    PLACEHOLDER,
    HttpClient,
    NoAnswer,
    OtherHostRedirect,
    OutOfTime,
    RetryPolicy,
)

MAX_API_MESSAGE = 300


class SourceError(ProviderError):
    """A usage source answered with an error or could not be reached.

    `status` is the HTTP status (None without an answer); `source` names the API.
    """

    def __init__(
        self, source: str, message: str, hint: str | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(message, hint)
        self.source = source
        self.status = status


class JsonApi:
    """One API, one credential. `headers` carry the credential; `secrets` are every value
    that must never appear in an error (the token, a password).

    `auth_hint` is what a 401 or 403 tells the user to check.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str],
        secrets: tuple[str, ...] = (),
        auth_hint: str,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_cap: float = 4.0,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._http = HttpClient(
                source,
                base_url,
                headers=headers,
                secrets=secrets,
                timeout=timeout,
                policy=RetryPolicy(max_retries, backoff_base=0.25, backoff_cap=backoff_cap),
                deadline=deadline if deadline is not None else monotonic() + timeout,
                sleep=sleep,
                monotonic=monotonic,
            )
        except ProviderError as exc:
            raise SourceError(source, exc.message, exc.hint) from None
        self.source = source
        self.base_url = self._http.base_url
        self._redact = self._http.redact
        self.auth_hint = auth_hint

    @property
    def deadline(self) -> float:
        """When every request of this source must be done (monotonic seconds)."""
        assert self._http.deadline is not None
        return self._http.deadline

    def __repr__(self) -> str:
        return f"JsonApi({self.source!r}, {self.base_url!r}, credentials={PLACEHOLDER})"

    def __reduce__(self) -> Any:
        raise TypeError("JsonApi holds a credential and cannot be pickled")

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any, query: Mapping[str, Any] | None = None) -> Any:
        """A POST that only reads (a query): retried like a GET."""
        return self.request("POST", path, body=body, query=query)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
    ) -> Any:
        endpoint = f"{method} {path}"
        try:
            answer = self._http.request(method, path, body=body, query=query)
        except OutOfTime as late:
            if late.wait is None:
                raise SourceError(
                    self.source,
                    f"{self.source} did not answer {endpoint} within the time allowed",
                    hint="raise --timeout, or check the provider's status page",
                ) from None
            raise SourceError(
                self.source,
                f"{self.source} asked to wait {late.wait:g} s before retrying {endpoint}, "
                "past the time allowed",
                hint="the API is rate-limiting or failing: run status again later, or raise "
                "--timeout",
                status=429,
            ) from None
        except OtherHostRedirect as redirect:
            raise SourceError(
                self.source,
                f"{self.source} answered {endpoint} with a redirect ({redirect.status}) to "
                f"another host, {redirect.location}; it was not followed, and the "
                "credentials were not sent there",
                hint=f"the {self.source} API should not redirect: check the provider's status page",
                status=redirect.status,
            ) from None
        except NoAnswer as failure:
            raise SourceError(
                self.source,
                f"could not reach {self.source} ({endpoint}): {failure.reason}",
                hint="check the network connection and the provider's status page",
            ) from None
        assert answer is not None  # only a request with `applied` is read back
        if 200 <= answer.status < 300:
            return _decode(answer.data, self.source, endpoint)
        raise self._error(answer.status, answer.data, endpoint, answer.attempts)

    # ------------------------------------------------------------------ internals

    def _error(self, status: int, data: bytes, endpoint: str, attempt: int) -> SourceError:
        detail = self._redact(_api_message(data))
        suffix = f": {detail}" if detail else ""
        tries = f" after {attempt + 1} attempts" if attempt else ""
        if status in (401, 403):
            word = "rejected the credentials" if status == 401 else "refused access"
            return SourceError(
                self.source,
                f"{self.source} {word} ({status}) for {endpoint}{suffix}",
                hint=self.auth_hint,
                status=status,
            )
        if status == 429:
            return SourceError(
                self.source,
                f"{self.source} kept rate-limiting {endpoint}{tries}",
                hint="wait a minute and run status again",
                status=status,
            )
        return SourceError(
            self.source,
            f"{self.source} answered HTTP {status} to {endpoint}{tries}{suffix}",
            hint="see the provider's status page; run status again later"
            if status >= 500
            else None,
            status=status,
        )


def _decode(data: bytes, source: str, endpoint: str) -> Any:
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise SourceError(
            source, f"{source} answered {endpoint} with something that is not JSON"
        ) from None


def _api_message(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            parsed = error
        for key in ("message", "detail", "error"):
            if isinstance(parsed.get(key), str):
                text = parsed[key]
                break
    text = " ".join(text.split())
    return text[:MAX_API_MESSAGE] + ("..." if len(text) > MAX_API_MESSAGE else "")
