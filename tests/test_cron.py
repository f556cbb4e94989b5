"""Cron expressions: Motia's 5- and 6-field forms, shorthands, precise errors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from motiad.cron import CronError, Schedule
from motiad.errors import ConfigError, MotiadError


def test_a_five_field_expression_fires_on_the_minute() -> None:
    schedule = Schedule.parse("*/15 * * * *")

    assert schedule.next_after(datetime(2024, 5, 1, 12, 7, 30)) == datetime(2024, 5, 1, 12, 15)
    assert schedule.fields == ("0", "*/15", "*", "*", "*", "*")


def test_a_six_field_expression_has_seconds_first_as_in_node_cron() -> None:
    schedule = Schedule.parse("*/10 * * * * *")

    assert schedule.next_after(datetime(2024, 5, 1, 12, 0, 3)) == datetime(2024, 5, 1, 12, 0, 10)


def test_the_next_tick_is_strictly_after_the_given_time() -> None:
    schedule = Schedule.parse("0 * * * *")
    on_the_hour = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    assert schedule.next_after(on_the_hour) == datetime(2024, 5, 1, 13, 0, tzinfo=UTC)


def test_names_sunday_as_seven_and_shorthands_are_accepted() -> None:
    start = datetime(2024, 1, 1)  # a Monday
    assert Schedule.parse("0 9 * jan sun").next_after(start) == datetime(2024, 1, 7, 9, 0)
    assert Schedule.parse("0 9 * * 7").next_after(start) == datetime(2024, 1, 7, 9, 0)
    assert Schedule.parse("@daily").next_after(start) == datetime(2024, 1, 2)
    assert Schedule.parse("@hourly").next_after(start) == datetime(2024, 1, 1, 1)


def test_a_zoned_time_gets_a_zoned_tick_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")
    schedule = Schedule.parse("0 3 * * *")

    # 2024-03-31: clocks jump from 02:00 to 03:00 in Paris.
    tick = schedule.next_after(datetime(2024, 3, 30, 12, 0, tzinfo=paris))

    assert tick == datetime(2024, 3, 31, 3, 0, tzinfo=paris)
    assert tick.utcoffset() is not None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("", "is empty"),
        ("* * * *", "has 4 fields; expected 5 (minute hour day-of-month month day-of-week)"),
        ("* * * * * * *", "has 7 fields"),
        ("61 * * * *", "bad minute field '61' (allowed: 0-59"),
        ("0 61 * * * *", "bad minute field '61'"),
        ("99 * * * * *", "bad second field '99'"),
        ("0 25 * * *", "bad hour field '25'"),
        ("0 0 * 13 *", "bad month field '13'"),
        ("0 0 * * mond", "bad day-of-week field 'mond'"),
        ("0 0 31 2 *", "bad day-of-month field '31'"),
        ("*/0 * * * *", "bad minute field '*/0'"),
        ("@fortnightly", "unknown shorthand '@fortnightly'; expected one of @yearly"),
    ],
)
def test_an_invalid_expression_names_the_bad_field(expression: str, expected: str) -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse(expression)

    assert expected in caught.value.message
    assert isinstance(caught.value, MotiadError)


def test_a_caller_turns_a_cron_error_into_a_config_error_with_file_and_field() -> None:
    with pytest.raises(CronError) as caught:
        Schedule.parse("0 0 * * * * *")
    error = ConfigError("steps/tick.step.ts", caught.value.message, field="config.cron")

    assert str(error).startswith("steps/tick.step.ts: config.cron: '0 0 * * * * *' has 7 fields")


def test_the_expression_is_kept_as_written() -> None:
    assert str(Schedule.parse("@daily")) == "@daily"
