"""RFC 3339 times in and out, for the whole project, in this one place.

Out: `format_utc` writes the one form Casebook stores and hashes (custody events,
analysis documents, bundles, exports): UTC, six fraction digits, a literal Z.

In: the contract takes times as RFC 3339 with a UTC offset. Anything else is refused with
a sentence naming the problem: a shape that is not RFC 3339, a missing offset (the time
would be ambiguous), a date or time that the calendar does not have (30 February,
25:00), a leap second (Python cannot hold one), or an instant outside the years 1 to
9999 once in UTC. The parser raises only `InvalidTime`, never the `ValueError` or
`OverflowError` that `datetime` raises on its own, so no input can become a 500."""

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from rest_framework import serializers

EXAMPLE = "2026-03-01T12:00:00Z"

# ASCII digits only ("\d" would also take other scripts' digits). RFC 3339 5.6 allows
# a lower-case "t" and "z", and a space for the "T".
_DATE_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
# A date-time with an offset written without its colon, or with hours only, is
# ISO 8601 but not RFC 3339; say so rather than "not a time".
_ISO_ONLY_OFFSET = re.compile(r"[+-][0-9]{2}(?::?[0-9]{2})?")


def format_utc(moment: datetime) -> str:
    """`moment` as "2026-03-01T12:00:00.000000Z". Hashed records depend on these exact
    characters, so the form never changes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class InvalidTime(ValueError):
    """The text is not an RFC 3339 time this API can hold; the message says why."""


def parse(text: str) -> datetime:
    """The instant `text` names, in UTC, or InvalidTime with a sentence saying why not."""
    if not isinstance(text, str):
        raise InvalidTime(f"Give the time as a string in RFC 3339, e.g. {EXAMPLE}.")
    stripped = text.strip()
    match = _DATE_TIME.fullmatch(stripped)
    if match is None:
        head = _DATE_TIME.match(stripped)
        if (
            head
            and head["offset"] is None
            and _ISO_ONLY_OFFSET.fullmatch(stripped[head.end() :])
        ):
            raise InvalidTime(
                f"Write the UTC offset as Z or +hh:mm (RFC 3339), e.g. {EXAMPLE}."
            )
        raise InvalidTime(f"Give the time in RFC 3339, e.g. {EXAMPLE}.")
    if match["offset"] is None:
        raise InvalidTime(
            f"Give the time in RFC 3339 with a UTC offset, e.g. {EXAMPLE}."
        )
    number = {
        name: int(match[name])
        for name in ("year", "month", "day", "hour", "minute", "second")
    }
    if number["second"] == 60:
        raise InvalidTime("A leap second (:60) cannot be recorded; use :59.")
    try:
        offset = _offset(match["offset"])
        moment = datetime(
            **number,
            # Digits past the microsecond are cut, never rounded up into the next second.
            microsecond=int((match["fraction"] or "0").ljust(6, "0")[:6]),
            tzinfo=offset,
        )
    except ValueError:
        raise InvalidTime(
            f"{stripped[:40]} is not a date and time that exists in the calendar."
        ) from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidTime(
            "The time is outside the years 1 to 9999 once converted to UTC."
        ) from None


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


class OffsetDateTimeField(serializers.DateTimeField):
    """Every time the API reads, in a body or a query string, goes through `parse`."""

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, datetime):  # given by Python code, not by a client
            return super().to_internal_value(value)
        try:
            return self.enforce_timezone(parse(value))
        except InvalidTime as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None
