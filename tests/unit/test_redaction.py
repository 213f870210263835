"""The redactor: personal data in any text is replaced, nothing else is touched."""

from __future__ import annotations

import io
import json
import logging
import string

from aws_lambda_powertools import Logger
from hypothesis import given
from hypothesis import strategies as st

from chatbot.analytics import AnalyticsRecorder
from chatbot.redaction import (
    CARD_MARK,
    EMAIL_MARK,
    IBAN_MARK,
    PHONE_MARK,
    RedactingFilter,
    RedactingFormatter,
    iban_is_valid,
    luhn_is_valid,
    redact,
    redact_value,
)
from chatbot.tables import Tables
from tests.unit.conftest import day_events

# Random text around the personal data: letters, digits, punctuation, spaces, any Unicode.
any_character: st.SearchStrategy[str] = st.characters(codec="utf-8", exclude_categories=["Cs"])
noise = st.text(any_character | st.sampled_from(string.printable), max_size=40)
# Text with nothing to redact: no digit and no '@' (every kind redacted needs one of them).
clean = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="0123456789@"),
    max_size=200,
)


def luhn_check_digit(payload: str) -> str:
    for check in "0123456789":
        if luhn_is_valid(payload + check):
            return check
    raise AssertionError("some digit completes every payload")


@st.composite
def cards(draw: st.DrawFn) -> str:
    payload = draw(st.text("0123456789", min_size=12, max_size=18))
    digits = payload + luhn_check_digit(payload)
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.text(string.ascii_uppercase, min_size=2, max_size=2))
    bban = draw(st.text(string.ascii_uppercase + string.digits, min_size=11, max_size=30))
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - number % 97:02d}{bban}"
    if draw(st.booleans()):
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


emails = st.builds(
    "{}@{}.{}".format,
    st.text(string.ascii_letters + string.digits + "._+-", min_size=1, max_size=20),
    st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20),
    st.text(string.ascii_lowercase, min_size=2, max_size=6),
)
phones = st.one_of(
    st.builds(
        lambda country, number, sep: f"+{country}{sep}{sep.join(number)}",
        st.integers(1, 998),
        st.lists(st.text("0123456789", min_size=3, max_size=4), min_size=3, max_size=3),
        st.sampled_from([" ", "-", ".", ""]),
    ),
    st.builds(
        "({}) {}-{}".format,
        st.text("0123456789", min_size=3, max_size=3),
        st.text("0123456789", min_size=3, max_size=3),
        st.text("0123456789", min_size=4, max_size=4),
    ),
    st.builds(
        lambda a, b, c, sep: sep.join((a, b, c)),
        st.text("0123456789", min_size=3, max_size=3),
        st.text("0123456789", min_size=3, max_size=3),
        st.text("0123456789", min_size=4, max_size=4),
        st.sampled_from(["-", ".", " "]),
    ),
)
personal = st.one_of(cards(), ibans(), emails, phones)


@given(before=noise, card=cards(), after=noise)
def test_a_valid_card_number_in_any_text_is_redacted(before: str, card: str, after: str) -> None:
    assert card not in redact(f"{before} {card} {after}")


@given(before=noise, iban=ibans(), after=noise)
def test_a_valid_iban_in_any_text_is_redacted(before: str, iban: str, after: str) -> None:
    assert iban not in redact(f"{before} {iban} {after}")


@given(before=noise, email=emails, after=noise)
def test_an_email_address_in_any_text_is_redacted(before: str, email: str, after: str) -> None:
    assert email not in redact(f"{before} {email} {after}")


@given(before=noise, phone=phones, after=noise)
def test_a_phone_number_in_any_text_is_redacted(before: str, phone: str, after: str) -> None:
    assert phone not in redact(f"{before} {phone} {after}")


@given(parts=st.lists(st.one_of(noise, personal), max_size=8))
def test_redacting_twice_changes_nothing_more(parts: list[str]) -> None:
    once = redact(" ".join(parts))
    assert redact(once) == once


@given(text=clean)
def test_text_with_nothing_personal_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_ids_times_and_small_numbers_are_left_alone() -> None:
    text = (
        "session 6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f message m-42 at 2026-12-02T02:51:35.123456Z"
        " took 1234 ms, 130000 bytes, score 0.8731, a@b and 12-34-56"
    )
    assert redact(text) == text


def test_known_numbers_are_redacted_and_near_misses_are_not() -> None:
    assert redact("pay DE89 3704 0044 0532 0130 00 today") == f"pay {IBAN_MARK} today"
    assert redact("GB82WEST12345698765432") == IBAN_MARK
    assert redact("GB82WEST12345698765433") == "GB82WEST12345698765433"  # mod 97 fails
    assert redact("card 4111-1111-1111-1111.") == f"card {CARD_MARK}."
    assert redact("4111 1111 1111 1113") == "4111 1111 1111 1113"  # no Luhn-valid part
    assert redact("mail Jo.Doe+x@mail.example.org") == f"mail {EMAIL_MARK}"
    assert redact("ring +44 20 7946 0958 or (555) 123-4567") == f"ring {PHONE_MARK} or {PHONE_MARK}"
    assert iban_is_valid("DE89370400440532013000") and luhn_is_valid("4111111111111111")


def test_structures_are_redacted_value_by_value() -> None:
    value = {"a": ["x@y.com", 4111111111111111, ("4111 1111 1111 1111",)], "n": None}
    assert redact_value(value) == {"a": [EMAIL_MARK, 4111111111111111, [CARD_MARK]], "n": None}


def test_the_powertools_formatter_redacts_message_extras_and_exception() -> None:
    stream = io.StringIO()
    logger = Logger(service="redaction-test", stream=stream, logger_formatter=RedactingFormatter())
    try:
        raise ValueError("bad card 4111 1111 1111 1111")
    except ValueError:
        logger.exception("mail x@y.com", extra={"who": {"phone": "+1 415 555 2671"}})
    record = json.loads(stream.getvalue())
    text = stream.getvalue()
    assert record["message"] == f"mail {EMAIL_MARK}"
    assert record["who"] == {"phone": PHONE_MARK}
    assert "4111" not in text and CARD_MARK in record["exception"]


def test_the_standard_logging_filter_redacts_message_arguments_and_extras() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(message)s %(who)s"))
    logger = logging.getLogger("redaction-test-std")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("iban GB82WEST12345698765432")
        except ValueError:
            logger.error("from %s", "x@y.com", exc_info=True, extra={"who": "555-123-4567"})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith(f"from {EMAIL_MARK} {PHONE_MARK}")
    assert IBAN_MARK in text and "GB82" not in text


def test_analytics_events_are_stored_with_personal_data_redacted(
    analytics: AnalyticsRecorder, tables: Tables
) -> None:
    analytics.record(
        "error", "s1", {"code": "X", "reason": "from x@y.com", "tools": ["DE89370400440532013000"]}
    )

    (stored,) = day_events(tables.analytics, "2026-11-24")
    assert stored["details"] == {"code": "X", "reason": f"from {EMAIL_MARK}", "tools": [IBAN_MARK]}
