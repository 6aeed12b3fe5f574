"""The one HTTP transport every provider call goes through, and the one redactor.

- `redact`: `Redactor` and `mask` (one placeholder, `PLACEHOLDER`, in every message, log and
  error: known secrets, Supabase tokens, passwords in URLs and in `password=` settings).
- `hosts`: where each provider's API may live (fixed hosts, https only) and the one test hook
  that admits a loopback server (`FLOYO_TEST_LOOPBACK=1`).
- `http`: `HttpClient` over urllib3 (no new dependency: boto3 brings it), with the one retry
  policy and redirects that never carry a credential to another host.

May import: errors. Imported by spec (the allow-list), infra, observe, engine, db, review.
"""

from .hosts import LOOPBACK_ENV, PROVIDER_HOSTS, check_url
from .http import Answer, HttpClient, NoAnswer, OtherHostRedirect, OutOfTime, RetryPolicy
from .redact import PLACEHOLDER, Redactor, mask

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
