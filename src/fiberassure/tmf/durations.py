"""Durations given as plain seconds ("86400", "0.5") or ISO-8601 ("PT24H", "P5D", "P1DT2H30M")."""

import math
import re
from datetime import timedelta

_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | float | int | timedelta) -> timedelta:
    """Parse seconds or an ISO-8601 duration.

    Years and months are refused: they have no fixed length.
    """
    try:
        return _parse_duration(text)
    except OverflowError:
        # timedelta raises OverflowError, which pydantic would not report as a bad setting.
        raise ValueError(f"duration out of range (at most 999999999 days): {text!r}") from None


def _parse_duration(text: str | float | int | timedelta) -> timedelta:
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        if isinstance(text, float) and math.isnan(text):
            raise ValueError("a duration must be a number of seconds, not NaN")
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return _parse_duration(seconds)
    match = _ISO_DURATION.match(value.upper())
    if not match or value.upper() in ("P", "PT") or value.upper().endswith("T"):
        raise ValueError(f"not a duration in seconds or ISO-8601 (e.g. PT24H, P5D): {text!r}")
    parts = {name: float(number) for name, number in match.groupdict().items() if number}
    return timedelta(**parts)


def format_duration(duration: timedelta) -> str:
    """ISO-8601 form of a duration, e.g. PT24H or P5D; `parse_duration` reads it back."""
    if duration < timedelta(0):
        raise ValueError("a duration cannot be negative")
    days = duration.days
    hours, rest = divmod(duration.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    # Microseconds are kept (PT0.5S), so the text reads back as the same duration.
    micro = duration.microseconds
    second_text = f"{seconds}.{micro:06d}".rstrip("0") if micro else f"{seconds}"
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    clock += f"{second_text}S" if seconds or micro else ""
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"
