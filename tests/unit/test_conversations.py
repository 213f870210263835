"""Conversation storage: idempotent messages, and the leased claim on answering one that lets
a resend retry an answer whose engine failed or died, once."""

from __future__ import annotations

from chatbot.conversations import AnswerLease, ConversationStore
from chatbot.tables import Tables
from tests.conftest import FakeClock

SESSION = "s-1"
LEASE = AnswerLease()


def test_the_same_message_id_is_stored_once(conversations: ConversationStore) -> None:
    first, created = conversations.add_user_message(SESSION, "m1", "hello")
    again, created_again = conversations.add_user_message(SESSION, "m1", "something else")
    assert (created, created_again) == (True, False)
    assert again.content == "hello" == first.content


def test_an_answer_whose_lease_is_live_is_not_retried(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    message, _ = conversations.add_user_message(SESSION, "m1", "hello")
    clock.advance(seconds=LEASE.seconds - 1)
    assert not conversations.claim_retry(message)


def test_a_lapsed_lease_is_retried_once_by_one_of_two_resends(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    message, _ = conversations.add_user_message(SESSION, "m1", "hello")
    clock.advance(seconds=LEASE.seconds)
    assert conversations.claim_retry(message)
    # A second resend that read the same lapsed record loses the race.
    assert not conversations.claim_retry(message)
    stored = conversations.get(SESSION, "m1", "user")
    assert stored is not None and stored.status == "pending"
    assert stored.attemptedAt is not None and stored.attemptedAt > message.timestamp
    assert message.leaseUntil is not None and stored.leaseUntil is not None
    assert stored.leaseUntil > message.leaseUntil


def test_an_engine_holding_the_lease_keeps_it_by_renewing_and_a_resend_waits(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    assert conversations.take_lease(SESSION, "m1", "engine-a")
    # A redelivered invocation finds the lease held and does not start a second answer.
    assert not conversations.take_lease(SESSION, "m1", "engine-b")
    for _ in range(6):  # 30 s of work, renewed every 5 s
        clock.advance(seconds=LEASE.renew_every)
        assert conversations.renew_lease(SESSION, "m1", "engine-a")
    read = conversations.get(SESSION, "m1", "user")
    assert read is not None and not conversations.claim_retry(read)


def test_a_resend_takes_over_a_dead_engines_lease_and_the_old_engine_is_fenced_off(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    assert conversations.take_lease(SESSION, "m1", "engine-a")
    clock.advance(seconds=LEASE.seconds + 1)
    read = conversations.get(SESSION, "m1", "user")
    assert read is not None and conversations.claim_retry(read)
    assert conversations.take_lease(SESSION, "m1", "engine-b")
    # The old engine wakes up: its renewal and its verdict are refused.
    assert not conversations.renew_lease(SESSION, "m1", "engine-a")
    assert not conversations.set_status(SESSION, "m1", "failed", holder="engine-a")
    stored = conversations.get(SESSION, "m1", "user")
    assert stored is not None and (stored.status, stored.leaseHolder) == ("pending", "engine-b")


def test_a_resend_that_read_a_lease_since_renewed_does_not_take_it_over(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    assert conversations.take_lease(SESSION, "m1", "engine-a")
    clock.advance(seconds=LEASE.seconds + 1)
    stale = conversations.get(SESSION, "m1", "user")
    assert conversations.renew_lease(SESSION, "m1", "engine-a")  # a late renewal wins
    assert stale is not None and not conversations.claim_retry(stale)


def test_a_message_stored_before_leases_counts_as_stalled_after_the_legacy_timeout(
    conversations: ConversationStore, tables: Tables, clock: FakeClock
) -> None:
    message, _ = conversations.add_user_message(SESSION, "m1", "hello")
    legacy = message.model_copy(update={"leaseUntil": None})
    tables.conversations.put(legacy.to_item())
    clock.advance(minutes=5)
    assert not conversations.claim_retry(legacy)
    clock.advance(minutes=2)
    assert conversations.claim_retry(legacy)


def test_a_failed_answer_is_retried_at_once(conversations: ConversationStore) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    conversations.set_status(SESSION, "m1", "failed")
    failed = conversations.get(SESSION, "m1", "user")
    assert failed is not None
    assert conversations.claim_retry(failed)


def test_an_answered_message_is_never_retried(
    conversations: ConversationStore, clock: FakeClock
) -> None:
    conversations.add_user_message(SESSION, "m1", "hello")
    conversations.set_status(SESSION, "m1", "answered")
    answered = conversations.get(SESSION, "m1", "user")
    clock.advance(hours=1)
    assert answered is not None
    assert not conversations.claim_retry(answered)
