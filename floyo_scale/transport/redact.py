"""The one redactor: what a secret looks like in every message, log line and error.

One placeholder, `[secret]`, the same string the Inventory shows for a secret input
(offline.inventory.SECRET is this constant), so a reader learns one sign for "a secret was
here". Two kinds of masking, both always applied:

- known values (a token, a password read from the environment), longest first; a value
  shorter than `MIN_SECRET` characters is not replaced (no provider issues a credential that
  short, and replacing every "ab" would garble the message), though the shapes below still
  catch it inside a URL or a `password=` setting;
- shapes, whatever their value: the password of any `scheme://user:password@host` URL (a
  database URL, `PULUMI_BACKEND_URL` with userinfo), `password=...` in a libpq key=value
  string or a URL query, and Supabase personal access tokens (`sbp_...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, unquote

PLACEHOLDER = "[secret]"
MIN_SECRET = 4

# scheme://user:PASSWORD@ -- up to the last "@" of the URL (a malformed URL may hold an
# unencoded "@" in its password); a URL ends at whitespace or a quote
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^\s'\"]*@")
_PASSWORD_SETTING = re.compile(r"(?i)(?P<head>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s&'\"]+)")
_SUPABASE_TOKEN = re.compile(r"\bsbp_[A-Za-z0-9_]+")

# Credentials floyo-scale's commands read from the environment under these names (the stacks'
# usual `${env:...}` references, Pulumi's and AWS's own): the CLI's error boundary replaces
# their values in whatever it prints, a traceback included.
SECRET_ENV_VARS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "SUPABASE_ACCESS_TOKEN",
    "VERCEL_API_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "UPSTASH_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "FLOYO_DIGEST_KEY",
)


class Redactor:
    """Replaces known secrets, and anything shaped like one, with `PLACEHOLDER`."""

    def __init__(self, *secrets: str | None) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET:
            # as given, and as it appears inside a URL (percent-encoded) or decoded from one
            self._secrets.update({secret, quote(secret, safe=""), unquote(secret)})

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= MIN_SECRET:
                text = text.replace(secret, PLACEHOLDER)
        return mask(text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def from_environment(env: Mapping[str, str]) -> Redactor:
    """A redactor of the well-known credentials in `env` (SECRET_ENV_VARS)."""
    return Redactor(*(env.get(name) for name in SECRET_ENV_VARS))


def mask(text: str) -> str:
    """`text` with every password in a URL or a `password=` setting, and every Supabase
    token, replaced: `postgresql://app:s3cret@db:5432/x` -> `postgresql://app:[secret]@db:5432/x`."""
    text = _URL_PASSWORD.sub(rf"\g<head>{PLACEHOLDER}@", text)
    text = _PASSWORD_SETTING.sub(rf"\g<head>{PLACEHOLDER}", text)
    return _SUPABASE_TOKEN.sub(f"sbp_{PLACEHOLDER}", text)
