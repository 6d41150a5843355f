"""The files that settings name: the TOML file (MONITOR_CONFIG_FILE) and the Slack token file
(MONITOR_SLACK_TOKEN_FILE).

A file that is named must be there: a missing, unreadable, oversized or malformed one is a startup error
(ConfigError, one line naming the variable and the path), never silent defaults. Falling back to defaults
is how alerts end up on the console instead of Slack without anyone noticing. Error messages never quote
a token file's content: it is a secret.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAX_TOKEN_FILE_BYTES = 4096  # Slack tokens are well under 100 characters
MAX_CONFIG_FILE_BYTES = 1 << 20


class ConfigError(Exception):
    """A setting is wrong; the message is one line, fit for the terminal.

    Not a ValueError on purpose: raised inside a pydantic validator it propagates as it is, so the
    rejected value (maybe a token) never lands in a ValidationError's text."""


def read_bounded(path: Path, variable: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (a FIFO or /dev/zero would block or never end)."""
    where = f"{variable}: {shown(path)}"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise ConfigError(f"{where}: cannot read it ({_reason(e)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{where}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{where}: not a regular file")
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ConfigError(f"{where}: cannot read it ({_reason(e)})") from None
    if len(data) > limit:
        raise ConfigError(f"{where}: larger than {limit} bytes")
    return data


def valid_token(token: str) -> bool:
    """Printable ASCII without spaces: it goes into an HTTP header. A token with a space, a second line or a
    non-ASCII character fails on every send, so it must fail at startup instead."""
    return bool(token) and all("!" <= c <= "~" for c in token)


def read_token_file(path: Path, variable: str = "MONITOR_SLACK_TOKEN_FILE") -> str:
    """The token in the file, surrounding whitespace (the newline editors add) stripped."""
    data = read_bounded(path, variable, MAX_TOKEN_FILE_BYTES)
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {shown(path)}: not UTF-8 text") from None
    if not token:
        raise ConfigError(f"{variable}: {shown(path)}: is empty")
    if not valid_token(token):
        raise ConfigError(f"{variable}: {shown(path)}: holds more than one word or line, or characters a token cannot "
                          "contain (the content is not shown)")
    return token


def read_toml(path: Path, known: Iterable[str], variable: str = "MONITOR_CONFIG_FILE") -> dict[str, Any]:
    """The settings in a TOML file; an unknown key is an error (a typo would otherwise be a silent default)."""
    data = read_bounded(path, variable, MAX_CONFIG_FILE_BYTES)
    try:
        values = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {shown(path)}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:  # its message names line and column, not the content
        raise ConfigError(f"{variable}: {shown(path)}: not valid TOML: {str(e).splitlines()[0]}") from None
    unknown = sorted(set(values) - set(known))
    if unknown:
        names = ", ".join(repr(k)[:60] for k in unknown[:5])
        raise ConfigError(f"{variable}: {shown(path)}: unknown setting {names} (keys are setting names without the "
                          "MONITOR_ prefix, in lower case, e.g. slack_channel)")
    return values


def shown(path: Path) -> str:
    """The path for a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e).splitlines()[0][:100]
