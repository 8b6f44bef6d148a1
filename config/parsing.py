"""The value parsers every setting uses: one wording for each kind of mistake.

A bad value raises :class:`ConfigError`, whose message is one human sentence naming the variable;
``config.env.load_or_exit`` prints it and ends the process without a traceback.
"""

from __future__ import annotations

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message says which and why."""


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), not {raw!r}.")


def parse_int(name: str, raw: str | None, default: int, *, minimum: int = 1) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}.")
    return value


def parse_seconds(name: str, raw: str | None, default: float, *, minimum: float = 0.1) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not value >= minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {raw.strip()}.")
    return value


def parse_list(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(item.strip() for item in raw.split(",") if item.strip())
