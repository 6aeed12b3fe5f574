"""`HttpClient`: every request floyo-scale sends to a provider, over urllib3.

urllib3 is the client library (boto3 already depends on it, so it adds nothing to install);
it runs with its own retries and redirects turned off (`retries=False, redirect=False`), and
this module applies the one policy instead, because two of its rules need more than urllib3's
`Retry` knows: a non-idempotent POST whose answer was lost may be read back (`applied`)
rather than sent again, and `status` gives each source a deadline that no wait may pass.

Retry policy (`RetryPolicy`, the same rules for every provider; the numbers differ):
- 429: retried after `Retry-After` (seconds or an HTTP date, parsed by urllib3's
  `Retry.parse_retry_after`), else `X-RateLimit-Reset` (seconds, or an epoch time as Vercel
  sends it), capped at `max_wait`; else the backoff. The API did not act on the request, so
  this is safe for a POST too.
- no connection (refused, DNS, connect timeout): retried; the request never left.
- 5xx, a reset or a read timeout after sending: retried only when `idempotent`. A POST that
  creates something is not: a 502 or a reset does not tell whether the provider acted, and a
  blind retry could create a second, billed resource. The caller gets the answer (or
  NoAnswer with `maybe_processed`) and says the outcome is unknown. With `applied` (a request
  whose effect can be read back), it is asked after the failure whether the request took
  effect: if so the request is done (None is returned), else it is sent again.
- backoff: `backoff_base * 2**attempt`, capped at `backoff_cap`; at most `max_retries`.

Redirects: followed within the origin (scheme, host, port). One to another origin is refused
before anything is sent there when the request carries a credential (urllib3's own
`remove_headers_on_redirect` would strip `Authorization` but still send the request, body
included, to the other host); a request without one (a download) may follow it to another
of the provider's allowed hosts (hosts.py).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InvalidHeader,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

from ..errors import ProviderError
from .hosts import check_url
from .redact import PLACEHOLDER, Redactor

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "floyo-scale"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_wait: float = 120.0  # the longest Retry-After honoured

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2.0**attempt)


class NoAnswer(ProviderError):
    """No HTTP answer. `maybe_processed` is False only when the request never left;
    `attempts` is how many retries were made before giving up."""

    def __init__(
        self, reason: str, *, maybe_processed: bool, read_timeout: bool = False, attempts: int = 0
    ) -> None:
        super().__init__(f"no answer: {reason}")
        self.reason = reason
        self.maybe_processed = maybe_processed
        self.read_timeout = read_timeout
        self.attempts = attempts


class OtherHostRedirect(ProviderError):
    """The API answered a credentialed request with a redirect to another origin: refused,
    nothing was sent there. `location` is that origin only (scheme://host:port)."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"redirect ({status}) to another host, {location}, not followed")
        self.status = status
        self.location = location


class OutOfTime(ProviderError):
    """The deadline passed, or a wait the API asked for would pass it (`wait` seconds; None
    when the deadline had passed already)."""

    def __init__(self, wait: float | None) -> None:
        super().__init__("out of time")
        self.wait = wait


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    data: bytes
    attempts: int  # retries made before this answer

    def json(self) -> Any:
        """The body as JSON (None when empty); ValueError when it is not JSON."""
        return json.loads(self.data) if self.data.strip() else None


class HttpClient:
    """One provider's API at one base URL, with one set of credential headers.

    `secrets` are every value that must never appear in text (the token, a password): the
    client's `redact` removes them (and anything shaped like a secret) from what callers
    put in messages. `sleep` and `monotonic` are injectable so tests run without waiting.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = check_url(provider, base_url, env)
        self._env = env
        self._headers = dict(headers or {})
        self.redact = Redactor(*secrets)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.deadline = deadline
        self.sleep = sleep
        self.monotonic = monotonic
        self._pool = urllib3.PoolManager(retries=False)

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.base_url).netloc

    def __repr__(self) -> str:
        return f"HttpClient({self.provider!r}, {self.base_url!r}, credentials={PLACEHOLDER})"

    def __reduce__(self) -> Any:
        # a client captured by a dynamic provider would carry its credential into the
        # serialized provider (and so into every state file)
        raise TypeError("an HttpClient holds a credential and cannot be pickled")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        applied: Callable[[], bool] | None = None,
        accept: str = "application/json",
    ) -> Answer | None:
        """Send one request under the retry policy (module docstring); the last answer,
        whatever its status. None: a lost request was read back as done (`applied`).
        Raises NoAnswer, OtherHostRedirect or OutOfTime."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        policy = self.policy
        attempt = 0
        while True:
            timeout = self._time_left()
            try:
                status, headers, data = self._send(method, url, payload, timeout, accept)
            except NoAnswer as failure:
                can_retry = attempt < policy.max_retries
                if applied is not None and failure.maybe_processed and can_retry:
                    self._wait(policy.backoff(attempt))
                    if self._took_effect(applied, method, path, failure.reason):
                        return None
                    attempt += 1
                    continue
                # a read timeout under a deadline has spent it: not tried again
                spent = failure.read_timeout and self.deadline is not None
                retryable = (idempotent and not spent) or not failure.maybe_processed
                if retryable and can_retry:
                    self._retry(method, path, failure.reason, policy.backoff(attempt))
                    attempt += 1
                    continue
                failure.attempts = attempt
                raise
            can_retry = attempt < policy.max_retries
            if status == 429 and can_retry:
                asked = retry_after(headers)
                delay = policy.backoff(attempt) if asked is None else min(asked, policy.max_wait)
                self._retry(method, path, "rate limited", delay)
                attempt += 1
                continue
            if status >= 500 and applied is not None and can_retry:
                self._wait(policy.backoff(attempt))
                if self._took_effect(applied, method, path, f"HTTP {status}"):
                    return None
                attempt += 1
                continue
            if status >= 500 and idempotent and can_retry:
                self._retry(method, path, f"HTTP {status}", policy.backoff(attempt))
                attempt += 1
                continue
            return Answer(status, headers, data, attempt)

    # ------------------------------------------------------------------ internals

    def _time_left(self) -> float:
        if self.deadline is None:
            return self.timeout
        remaining = self.deadline - self.monotonic()
        if remaining <= 0:
            raise OutOfTime(None)
        return min(self.timeout, remaining)

    def _wait(self, seconds: float) -> None:
        if self.deadline is not None and self.monotonic() + seconds >= self.deadline:
            raise OutOfTime(seconds)
        self.sleep(seconds)

    def _retry(self, method: str, path: str, why: str, delay: float) -> None:
        log.warning("%s %s: %s; retrying in %.1f s", method, path, self.redact(why), delay)
        self._wait(delay)

    def _took_effect(self, applied: Callable[[], bool], method: str, path: str, why: str) -> bool:
        """Whether a request whose answer was lost took effect (read back, not guessed)."""
        try:
            done = applied()
        except ProviderError:
            return False  # could not read it back: the request is tried again
        log.warning(
            "%s %s: %s; %s", method, path, why, "it took effect" if done else "sending it again"
        )
        return done

    def _send(
        self, method: str, url: str, payload: bytes | None, timeout: float, accept: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**self._headers, "Accept": accept, "User-Agent": USER_AGENT}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for _ in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, payload, headers, timeout)
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return response.status, response.headers, response.data
            target = urllib.parse.urljoin(url, location)
            if _origin(target) != _origin(url):
                if self._headers:  # a credential: never sent, nor anything else, elsewhere
                    raise OtherHostRedirect(response.status, _origin(target))
                check_url(self.provider, target, self._env)
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, payload = "GET", None  # as browsers and urllib3 do
                headers.pop("Content-Type", None)
            url = target
        raise NoAnswer("too many redirects", maybe_processed=True)

    def _once(
        self,
        method: str,
        url: str,
        payload: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request(
                method,
                url,
                body=payload,
                headers=dict(headers),
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        except (NameResolutionError, NewConnectionError, ConnectTimeoutError) as exc:
            raise NoAnswer(_describe(exc), maybe_processed=False) from None
        except SSLError:
            raise NoAnswer("the TLS handshake failed", maybe_processed=False) from None
        except ReadTimeoutError:
            raise NoAnswer("timed out", maybe_processed=True, read_timeout=True) from None
        except ProtocolError as exc:
            raise NoAnswer(_describe(exc), maybe_processed=True) from None
        except (HTTPError, OSError) as exc:
            raise NoAnswer(type(exc).__name__, maybe_processed=True) from None


def _origin(url: str) -> str:
    """scheme://host[:port]; a URL too malformed to say (a bad port) is its own origin."""
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return url


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `Retry-After` (RFC 9110: seconds or an HTTP date), else from
    `X-RateLimit-Reset` (seconds; an epoch time when above 1e9, as Vercel sends it)."""
    if headers is None:
        return None
    value = headers.get("Retry-After")
    if value is not None:
        try:
            return max(Retry().parse_retry_after(value), 0.0)
        except InvalidHeader:  # an unreadable header is ignored
            pass
    value = headers.get("X-RateLimit-Reset")
    if value is not None:
        try:
            seconds = float(value)
        except ValueError:
            return None
        if seconds > 1e9:
            seconds -= time.time()
        return max(seconds, 0.0)
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, NameResolutionError) or "name or service not known" in text:
        return "host name not found"
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return "timed out"
    if "refused" in text:
        return "connection refused"
    if "remotedisconnected" in text or "without response" in text:
        return "the server closed the connection without answering"
    if "reset" in text:
        return "connection reset"
    if isinstance(exc, NewConnectionError):
        return "could not connect"
    return type(exc).__name__
