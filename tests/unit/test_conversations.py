"""Conversation storage: idempotent messages and the claim that lets a resend retry an answer."""

from __future__ import annotations

from datetime import timedelta

from chatbot.conversations import ConversationStore
from tests.conftest import FakeClock

SESSION = "s-1"
STALLED = timedelta(minutes=6)


def test_the_same_message_id_is_stored_once(conversations: ConversationStore) -> None:
    first, created = conversations.add_user_message(SESSION, "m1", "hello")
    again, created_again = conversations.add_user_message(SESSION, "m1", "something else")
    assert (created, created_again) == (True, False)
    assert again.content == "hello" == first.content


def test_an_answer_in_progress_is_not_retried(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    message, _ = conversations.add_user_message(SESSION, "m1", "hello")
    clock.advance(minutes=5)
    assert not conversations.claim_retry(message, stalled_after=STALLED)


def test_a_stalled_answer_is_retried_once_by_one_of_two_resends(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    message, _ = conversations.add_user_message(SESSION, "m1", "hello")
    clock.advance(minutes=7)
    assert conversations.claim_retry(message, stalled_after=STALLED)
    # A second resend that read the same stalled record loses the race.
    assert not conversations.claim_retry(message, stalled_after=STALLED)
    stored = conversations.get(SESSION, "m1", "user")
    assert stored is not None and stored.status == "pending"
    assert stored.attemptedAt is not None and stored.attemptedAt > message.timestamp


def test_a_failed_answer_is_retried_at_once(conversations: ConversationStore) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    conversations.set_status(SESSION, "m1", "failed")
    failed = conversations.get(SESSION, "m1", "user")
    assert failed is not None
    assert conversations.claim_retry(failed, stalled_after=STALLED)


def test_an_answered_message_is_never_retried(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    conversations.set_status(SESSION, "m1", "answered")
    answered = conversations.get(SESSION, "m1", "user")
    clock.advance(hours=1)
    assert answered is not None
    assert not conversations.claim_retry(answered, stalled_after=STALLED)
