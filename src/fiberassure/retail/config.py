"""Where `fiberassure retail …` finds the wholesale API and its credentials.

Each setting comes from the first of: a command-line flag (`--url`, `--client-id`,
`--client-secret`), an environment variable (`FIBERASSURE_RETAIL_URL`,
`FIBERASSURE_RETAIL_CLIENT_ID`, `FIBERASSURE_RETAIL_CLIENT_SECRET`), a TOML file
(`--config PATH`, else `FIBERASSURE_RETAIL_CONFIG`, else
`$XDG_CONFIG_HOME/fiberassure/retail.toml`, by default `~/.config/fiberassure/retail.toml`):

```toml
url = "https://wholesale.example.net"
client_id = "isp-support"
client_secret = "…"
timeout = 30  # seconds per request (optional)
```
"""

import math
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "FIBERASSURE_RETAIL_URL"
# The listener's name for the same URL: one environment serves both tools.
ENV_URL_LISTENER = "FIBERASSURE_RETAIL_WHOLESALE_URL"
ENV_CLIENT_ID = "FIBERASSURE_RETAIL_CLIENT_ID"
ENV_CLIENT_SECRET = "FIBERASSURE_RETAIL_CLIENT_SECRET"  # noqa: S105 (a variable name)
ENV_CONFIG = "FIBERASSURE_RETAIL_CONFIG"
FILE_KEYS = frozenset({"url", "client_id", "client_secret", "timeout"})
DEFAULT_TIMEOUT = 30.0


class ConfigError(Exception):
    """The configuration is missing or unusable: a usage error (exit status 2)."""


@dataclass(frozen=True)
class RetailConfig:
    url: str
    client_id: str
    client_secret: str
    timeout: float = DEFAULT_TIMEOUT
    # Where each value came from ("--url", "FIBERASSURE_RETAIL_URL", a file path), for messages.
    sources: tuple[tuple[str, str], ...] = ()

    def source_of(self, name: str) -> str:
        return dict(self.sources).get(name, "default")


def default_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fiberassure" / "retail.toml"


def read_config_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            values = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"the config file {path} is not valid TOML: {error}") from None
    # A [retail] table is accepted too, for a file shared with other settings.
    if isinstance(values.get("retail"), dict):
        values = values["retail"]
    unknown = sorted(set(values) - FILE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {path}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(FILE_KEYS))})"
        )
    for key, value in values.items():
        wanted = (int, float) if key == "timeout" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise ConfigError(
                f"{key} in {path} must be a {'number' if key == 'timeout' else 'string'}"
            )
    return dict(values)


def readable_by_others(path: Path) -> bool:
    """True when a file holding a secret can be read by other users (POSIX only)."""
    if os.name != "posix":
        return False
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def load_config(
    *,
    url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[RetailConfig, list[str]]:
    """The configuration, flags over environment over file; and warnings to show the user.

    Raises `ConfigError` when a value is missing or a file named explicitly cannot be read."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []

    explicit = config_path or (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    path = explicit or default_config_path(env)
    from_file: dict[str, object] = {}
    if explicit is not None or path.is_file():
        if explicit is not None and not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        from_file = read_config_file(path)
        if "client_secret" in from_file and readable_by_others(path):
            warnings.append(
                f"warning: {path} holds a client secret and other users can read it "
                f"(chmod 600 {path})"
            )

    chosen: dict[str, str] = {}
    sources: list[tuple[str, str]] = []
    candidates = {
        "url": [
            ("--url", url),
            (ENV_URL, env.get(ENV_URL)),
            (ENV_URL_LISTENER, env.get(ENV_URL_LISTENER)),
        ],
        "client_id": [("--client-id", client_id), (ENV_CLIENT_ID, env.get(ENV_CLIENT_ID))],
        "client_secret": [
            ("--client-secret", client_secret),
            (ENV_CLIENT_SECRET, env.get(ENV_CLIENT_SECRET)),
        ],
    }
    missing: list[str] = []
    for name, options in candidates.items():
        file_value = from_file.get(name)
        options.append((str(path), file_value if isinstance(file_value, str) else None))
        found = next(((source, value) for source, value in options if value), None)
        if found is None:
            missing.append(name)
            continue
        sources.append((name, found[0]))
        chosen[name] = found[1]

    if missing:
        how = {
            "url": f"--url or {ENV_URL}",
            "client_id": f"--client-id or {ENV_CLIENT_ID}",
            "client_secret": f"--client-secret or {ENV_CLIENT_SECRET}",
        }
        raise ConfigError(
            "missing "
            + ", ".join(missing)
            + ": give "
            + "; ".join(how[name] for name in missing)
            + f", or put {' and '.join(missing)} in {path}"
        )

    if not chosen["url"].startswith(("http://", "https://")):
        raise ConfigError(
            f"url must start with http:// or https:// (got {chosen['url']!r} "
            f"from {dict(sources)['url']})"
        )
    timeout = from_file.get("timeout", DEFAULT_TIMEOUT)
    assert isinstance(timeout, int | float)
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"timeout in {path} must be a positive number of seconds")
    config = RetailConfig(
        url=chosen["url"],
        client_id=chosen["client_id"],
        client_secret=chosen["client_secret"],
        timeout=float(timeout),
        sources=tuple(sources),
    )
    return config, warnings
