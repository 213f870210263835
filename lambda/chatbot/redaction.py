"""Personal data out of logs and analytics: e-mail addresses, IBANs, card numbers, phones.

``redact(text)`` replaces each with a marker that holds no digit and no ``@``, so redacting
twice changes nothing more, and text with none of them comes back as it was:

- an e-mail address (``local@domain.tld``) becomes ``[email]``;
- an IBAN (two capital letters, two check digits, 11 to 30 capital letters or digits, single
  spaces allowed between them, and valid modulo 97) becomes ``[iban]``;
- a card number (13 to 19 digits, a single space or dash allowed between them, valid by the
  Luhn check) becomes ``[card]``, wherever it sits in a longer run of digits;
- a phone number, international (``+`` and 8 to 15 digits, with spaces, dots or dashes) or
  North American (``(555) 123-4567``, ``555-123-4567``, ``555.123.4567``), becomes ``[phone]``.

No library was taken: Microsoft Presidio wants spaCy and its models (hundreds of MB, too
large for the Lambda bundle), and the small ``scrubadub``-style packages are unmaintained or
guess names and addresses too (which would redact ordinary words from logs). What we need is
four checkable patterns, written here and tested with generated cases
(tests/unit/test_redaction.py).

``RedactingFormatter`` is the Powertools log formatter every Lambda handler's logger uses: it
redacts every string of the structured record (message, extra keys, the exception and its
stack trace) before it is written. ``RedactingFilter`` does the same for the standard logging
handlers of the local commands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

EMAIL_MARK = "[email]"
IBAN_MARK = "[iban]"
CARD_MARK = "[card]"
PHONE_MARK = "[phone]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Where an IBAN may start (found overlapping, so that a failed candidate never hides one).
_IBAN_START = re.compile(r"(?=[A-Z]{2}[0-9]{2})")
_IBAN_BODY = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")
IBAN_MIN, IBAN_MAX = 15, 34
# A run of digits with single spaces or dashes between them, in which cards are looked for.
_DIGIT_RUN = re.compile(r"[0-9](?:[ -]?[0-9]){12,}")
CARD_MIN, CARD_MAX = 13, 19
_PHONE = re.compile(
    r"\+[0-9](?:[ .-]?[0-9]){7,14}"
    r"|\([0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}"
    r"|[0-9]{3}[ .-][0-9]{3}[ .-][0-9]{4}"
)
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def redact(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, card numbers and phone numbers replaced."""
    if not any(character.isdigit() or character == "@" for character in text):
        return text  # The common case (most log messages), and nothing could match.
    text = _EMAIL.sub(EMAIL_MARK, text)
    text = _replace_spans(text, _iban_spans(text), IBAN_MARK)
    text = _replace_spans(text, _card_spans(text), CARD_MARK)
    return _PHONE.sub(PHONE_MARK, text)


def redact_value(value: Any) -> Any:
    """Strings redacted wherever they sit in dicts, lists and tuples, exceptions as their
    redacted text (a log serialises them so); anything else as is."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, BaseException):
        return redact(str(value))
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def iban_is_valid(candidate: str) -> bool:
    """The ISO 13616 check: the first four characters moved to the end, letters as 10..35,
    the number modulo 97 is 1."""
    compact = candidate.replace(" ", "")
    if not IBAN_MIN <= len(compact) <= IBAN_MAX:
        return False
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for character in rearranged:
        for digit in str(int(character, 36)):
            remainder = (remainder * 10 + int(digit)) % 97
    return remainder == 1


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        total += _DOUBLED[value] if position % 2 else value
    return total % 10 == 0


def _iban_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    covered = 0
    for start_match in _IBAN_START.finditer(text):
        start = start_match.start()
        if start < covered:
            continue
        body = _IBAN_BODY.match(text, start)
        if body is None:
            continue
        # The longest valid prefix: the text after an IBAN may continue in capitals or digits.
        candidate = body.group()
        for end in range(len(candidate), 0, -1):
            if candidate[end - 1] != " " and iban_is_valid(candidate[:end]):
                spans.append((start, start + end))
                covered = start + end
                break
    return spans


def _card_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for run in _DIGIT_RUN.finditer(text):
        positions = [run.start() + i for i, c in enumerate(run.group()) if c.isdigit()]
        digits = [int(text[p]) for p in positions]
        # Luhn sums of every window in O(1): a digit is doubled when its distance from the
        # window's last digit is odd, so two prefix sums (by the parity of the position) do.
        plain_even = [0]
        plain_odd = [0]
        for index, digit in enumerate(digits):
            even, odd = (digit, _DOUBLED[digit]) if index % 2 == 0 else (_DOUBLED[digit], digit)
            plain_even.append(plain_even[-1] + even)
            plain_odd.append(plain_odd[-1] + odd)
        index = 0
        while index + CARD_MIN <= len(digits):
            for length in range(min(CARD_MAX, len(digits) - index), CARD_MIN - 1, -1):
                end = index + length
                sums = plain_even if (end - 1) % 2 == 0 else plain_odd
                if (sums[end] - sums[index]) % 10 == 0:
                    spans.append((positions[index], positions[end - 1] + 1))
                    index = end
                    break
            else:
                index += 1
    return spans


def _replace_spans(text: str, spans: list[tuple[int, int]], mark: str) -> str:
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in spans:
        pieces += [text[last:start], mark]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log formatter, with every string of each record redacted."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        return super().serialize(redact_value(log))


class RedactingFilter(logging.Filter):
    """Redacts a standard log record in place: its message (arguments applied), every extra
    attribute and the exception text; install it on a handler so every record passes it."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
    }

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in self._STANDARD:
                setattr(record, name, redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def redact_standard_logging() -> None:
    """A RedactingFilter on every handler of the root logger (after ``basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
