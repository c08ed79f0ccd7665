"""Durations in settings: plain seconds or ISO-8601, never negative, never years or months."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fiberassure.tmf.durations import format_duration, parse_duration
from fiberassure.wholesale.settings import Settings


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        (86400, timedelta(days=1)),
        (0, timedelta(0)),
        (0.5, timedelta(milliseconds=500)),
        (1.25, timedelta(seconds=1, milliseconds=250)),
        ("86400", timedelta(days=1)),
        ("0.5", timedelta(milliseconds=500)),
        (" 30 ", timedelta(seconds=30)),
    ],
)
def test_plain_seconds_are_read_as_seconds(
    given_value: str | float | int, expected: timedelta
) -> None:
    assert parse_duration(given_value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT24H", timedelta(hours=24)),
        ("P5D", timedelta(days=5)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P1W", timedelta(weeks=1)),
        ("P1W2D", timedelta(days=9)),
        ("PT1M", timedelta(minutes=1)),
        ("PT1H30S", timedelta(hours=1, seconds=30)),
        ("PT1.5H", timedelta(minutes=90)),
        ("PT0S", timedelta(0)),
        ("pt24h", timedelta(hours=24)),
    ],
)
def test_iso_8601_durations_are_read(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_a_timedelta_is_taken_as_it_is() -> None:
    assert parse_duration(timedelta(minutes=7)) == timedelta(minutes=7)


@pytest.mark.parametrize("value", [-1, -0.5, "-1", "-0.001", "-PT1H", "PT-1H"])
def test_negative_durations_are_refused(value: str | float) -> None:
    with pytest.raises(ValueError, match=r"negative|not a duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "P", "PT", "P1DT", "abc", "24h", "1 day", "PT24", "P1H", "T1H", "P1D2H", "PT0,5S"],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P1Y", "P1M", "P1Y2M", "P1M2D", "P1MT1H"])
def test_years_and_months_are_refused_because_their_length_varies(text: str) -> None:
    # ISO-8601 P1M is one month, not one minute (that is PT1M).
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "1e20", "P9999999999D", 10**20, 1e20])
def test_values_no_duration_can_hold_are_refused_as_bad_values(value: str | float) -> None:
    with pytest.raises(ValueError, match=r"NaN|out of range"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("PT2H", timedelta(hours=2)), ("3600", timedelta(hours=1)), (90, timedelta(seconds=90))],
)
def test_settings_read_durations_in_either_form(value: str | int, expected: timedelta) -> None:
    assert Settings(auto_close_after=value).auto_close_after == expected


@pytest.mark.parametrize("value", ["P1M", "-5", "inf", "soon"])
def test_a_bad_duration_setting_is_a_validation_error_naming_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match="auto_close_after"):
        Settings(auto_close_after=value)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=24), "P1D"),
        (timedelta(days=5), "P5D"),
        (timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
        (timedelta(minutes=15), "PT15M"),
        (timedelta(seconds=1), "PT1S"),
        (timedelta(milliseconds=500), "PT0.5S"),
        (timedelta(seconds=2, microseconds=1), "PT2.000001S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_durations_are_formatted_in_iso_8601(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_formatting_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-5))


@given(st.timedeltas(min_value=timedelta(0)))
def test_a_formatted_duration_reads_back_as_the_same_duration(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_seconds_read_the_same_as_text_or_number(seconds: int) -> None:
    assert parse_duration(str(seconds)) == parse_duration(seconds) == timedelta(seconds=seconds)
