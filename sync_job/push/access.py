"""The API token, and where it may go: read from the environment, sent only over HTTPS (or
plain HTTP to this machine, for the simulator), refused before anything is sent when it could
not be a header value. Messages name the variable, never the token."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping

from sync_job.config import base_url_problem, redact_userinfo
from sync_job.errors import ConfigError, TokenError


def check_base_url(base_url: str) -> None:
    """Raise :class:`ConfigError` unless the token may travel to ``base_url``: HTTPS, or plain
    HTTP to a loopback address. The URL is read by urllib3's parser, the one requests connects
    with, after :func:`~sync_job.config.base_url_problem` refused anything parsers might read
    differently."""
    import urllib3

    problem = base_url_problem(base_url)
    if problem:
        raise ConfigError([f"api.base_url: {problem}, got {redact_userinfo(repr(base_url))}"])
    parts = urllib3.util.parse_url(base_url)
    if parts.scheme == "https":
        return
    host = (parts.host or "").strip("[]")
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme != "http" or not loopback:
        raise ConfigError([
            f"api.base_url: {base_url!r} would send the API token unencrypted; use https:// "
            f"(plain http:// is allowed only for a loopback address such as 127.0.0.1)"
        ])


def read_token(environ: Mapping[str, str], name: str) -> str:
    """The API token from the variable ``name``; :class:`TokenError` when it is missing or
    could not be a header value (a line break would break every request, and the error
    would quote it)."""
    token = environ.get(name, "").strip()
    if not token:
        raise TokenError(
            f"the API token is missing: set the environment variable {name} (named by "
            f"api.token_env), or use --dry-run")
    if not token.isascii() or any(not character.isprintable() for character in token):
        raise TokenError(
            f"the API token in the environment variable {name} holds a line break, another "
            f"control character or a non-ASCII character; set it to the token alone")
    return token
