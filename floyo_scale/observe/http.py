"""A small JSON-over-HTTPS client for the read-only APIs `status` asks (Vercel, Sentry,
Upstash), in the manner of the Supabase Management API client (infra/supabase/client.py):
stdlib only, a timeout on every request, retries on 429 and 5xx (these are all reads, so a
retry is always safe), errors that name the source and the endpoint, secrets redacted.

Every retry respects a deadline: `status` gives each source `--timeout` seconds in all, and
a source that would sleep past it gives up instead.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ProviderError

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


class Redactor:
    """Replaces known secrets in text meant for humans."""

    def __init__(self, *secrets: str | None) -> None:
        self._secrets = {s for s in secrets if s}

    def add(self, secret: str | None) -> None:
        if secret:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        return text


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
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SourceError(source, f"the {source} API URL {base_url!r} is not an http(s) URL")
        self.source = source
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._redact = Redactor(*secrets)
        self.auth_hint = auth_hint
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.monotonic = monotonic
        self.deadline = deadline if deadline is not None else monotonic() + timeout

    def __repr__(self) -> str:
        return f"JsonApi({self.source!r}, {self.base_url!r}, credentials=[redacted])"

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
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        endpoint = f"{method} {path}"
        payload = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            remaining = self.deadline - self.monotonic()
            if remaining <= 0:
                raise SourceError(
                    self.source,
                    f"{self.source} did not answer {endpoint} within the time allowed",
                    hint="raise --timeout, or check the provider's status page",
                )
            try:
                status, headers, data = self._send(
                    method, url, payload, min(self.timeout, remaining)
                )
            except _NoAnswer as failure:
                if attempt < self.max_retries and failure.retry:
                    self._wait(self._backoff(attempt), endpoint)
                    attempt += 1
                    continue
                raise SourceError(
                    self.source,
                    f"could not reach {self.source} ({endpoint}): {failure.reason}",
                    hint="check the network connection and the provider's status page",
                ) from None
            if 200 <= status < 300:
                return _decode(data, self.source, endpoint)
            retryable = status == 429 or status >= 500
            if retryable and attempt < self.max_retries:
                wait = _retry_after(headers) if status == 429 else None
                self._wait(self._backoff(attempt) if wait is None else wait, endpoint)
                attempt += 1
                continue
            raise self._error(status, data, endpoint, attempt)

    # ------------------------------------------------------------------ internals

    def _wait(self, seconds: float, endpoint: str) -> None:
        if self.monotonic() + seconds >= self.deadline:
            raise SourceError(
                self.source,
                f"{self.source} asked to wait {seconds:g} s before retrying {endpoint}, "
                "past the time allowed",
                hint="the API is rate-limiting or failing: run status again later, or raise "
                "--timeout",
                status=429,
            )
        self.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, 0.25 * 2.0**attempt)

    def _send(
        self, method: str, url: str, payload: bytes | None, timeout: float
    ) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(url, data=payload, method=method)
        for name, value in self._headers.items():
            request.add_header(name, value)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "floyo-scale")
        if payload is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            try:
                data = exc.read()
            except (OSError, http.client.HTTPException):
                data = b""
            return exc.code, exc.headers, data
        except urllib.error.URLError as exc:
            raise _NoAnswer(_describe(exc.reason), retry=True) from None
        except (OSError, http.client.HTTPException) as exc:
            # a timeout waiting for the answer is not retried: the deadline is spent
            raise _NoAnswer(_describe(exc), retry=not isinstance(exc, TimeoutError)) from None

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


class _NoAnswer(Exception):
    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


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


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if seconds > 1e9:  # an epoch timestamp (Vercel's X-RateLimit-Reset)
            seconds -= time.time()
        return max(seconds, 0.0)
    return None


def _describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    return type(exc).__name__
