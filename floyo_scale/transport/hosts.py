"""Where each provider's API may live: fixed hosts, https only.

A credential goes only to its provider's own hosts. A spec field or an environment variable
may choose among them (Sentry's regions), never add one. The one exception is for tests:
with `FLOYO_TEST_LOOPBACK=1` in the environment, a loopback address (127.0.0.0/8, ::1,
localhost) over http or https is admitted for every provider, so the test suite's loopback
servers can stand in for the APIs. Nothing else turns it on, and no spec field can.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Mapping

from ..errors import ProviderError

LOOPBACK_ENV = "FLOYO_TEST_LOOPBACK"

# Each provider's API hosts, from its own API reference:
# - Supabase Management API: https://api.supabase.com (supabase.com/docs/reference/api)
# - Vercel REST API: https://api.vercel.com (vercel.com/docs/rest-api)
# - Sentry: https://sentry.io and its data-residency regions us./de.sentry.io
#   (docs.sentry.io/api/ "Choosing the right API base domain")
# - Upstash Developer API: https://api.upstash.com (upstash.com/docs/devops/developer-api)
# - Pulumi CLI releases (`setup`): get.pulumi.com, and GitHub releases, whose downloads
#   redirect to GitHub's release-asset hosts (no credential is ever sent to these)
PROVIDER_HOSTS: Mapping[str, tuple[str, ...]] = {
    "supabase": ("api.supabase.com",),
    "vercel": ("api.vercel.com",),
    "sentry": ("sentry.io", "us.sentry.io", "de.sentry.io"),
    "upstash": ("api.upstash.com",),
    "pulumi-releases": (
        "get.pulumi.com",
        "github.com",
        "objects.githubusercontent.com",
        "release-assets.githubusercontent.com",
    ),
}
# A Pulumi Cloud backend may be self-hosted: any https host (doctor only asks whether it
# answers, and sends no credential)
ANY_HTTPS_HOST = "pulumi-cloud"


class UrlNotAllowed(ProviderError):
    """A provider URL that is not https on one of the provider's own hosts."""


def loopback_allowed(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get(LOOPBACK_ENV) == "1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problem(provider: str, url: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why `url` may not be used for `provider` (None: it may)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return "it is not a URL"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    if is_loopback(host) and loopback_allowed(env) and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "it is not https"
    if provider == ANY_HTTPS_HOST:
        return None if host else "it has no host"
    allowed = PROVIDER_HOSTS.get(provider, ())
    if host not in allowed:
        return f"{host or 'no host'} is not one of {provider}'s hosts ({', '.join(allowed)})"
    return None


def check_url(provider: str, url: str, env: Mapping[str, str] | None = None) -> str:
    """`url` without a trailing slash, or UrlNotAllowed."""
    why = problem(provider, url, env)
    if why is not None:
        allowed = ", ".join(f"https://{h}" for h in PROVIDER_HOSTS.get(provider, ()))
        from .redact import mask

        raise UrlNotAllowed(
            f"refusing to send a {provider} request to {mask(url)}: {why}",
            f"{provider}'s API is at {allowed}" if allowed else "use an https URL",
        )
    return url.rstrip("/")
