"""The one HTTP transport every provider call goes through, and the one redactor.

- `redact`: `Redactor` and `mask` (one placeholder, `PLACEHOLDER`, in every message, log and
  error: known secrets, Supabase tokens, passwords in URLs and in `password=` settings).
- `hosts`: where each provider's API may live (fixed hosts, https only) and the one test hook
  that admits a loopback server (`FLOYO_TEST_LOOPBACK=1`).
- `http`: `HttpClient` over urllib3 (no new dependency: boto3 brings it), with the one retry
  policy and redirects that never carry a credential to another host.

May import: errors. Imported by spec (the allow-list), infra, observe, engine, db, review.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .hosts import LOOPBACK_ENV, PROVIDER_HOSTS, check_url
    from .http import Answer, HttpClient, NoAnswer, OtherHostRedirect, OutOfTime, RetryPolicy
    from .redact import PLACEHOLDER, Redactor, mask

# Lazy (PEP 562): `plan` needs the redactor's placeholder, not urllib3.
_WHERE = {
    "LOOPBACK_ENV": "hosts",
    "PROVIDER_HOSTS": "hosts",
    "check_url": "hosts",
    "Answer": "http",
    "HttpClient": "http",
    "NoAnswer": "http",
    "OtherHostRedirect": "http",
    "OutOfTime": "http",
    "RetryPolicy": "http",
    "PLACEHOLDER": "redact",
    "Redactor": "redact",
    "mask": "redact",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


__all__ = [
    "LOOPBACK_ENV",
    "PLACEHOLDER",
    "PROVIDER_HOSTS",
    "Answer",
    "HttpClient",
    "NoAnswer",
    "OtherHostRedirect",
    "OutOfTime",
    "Redactor",
    "RetryPolicy",
    "check_url",
    "mask",
]
