"""The partition keys every session's writes share: 100,000 simulated sessions spread over the
shards, where the unsharded keys put all of them in one partition (docs/SCALE.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.records import (
    PARTITION_SHARDS,
    activity_partition,
    activity_partitions,
    day_partition,
    day_partitions,
    shard_of,
    type_partition,
    type_partitions,
)
from tests.unit.partition_load import SHARED_KEYS, SharedKey, load_of, simulated_sessions

REPO = Path(__file__).resolve().parents[2]
# The design's target: the busiest partition's writes at most 1.5 times an even share.
MAX_SKEW = 1.5
# The messages a second the shard count was chosen for (records.PARTITION_SHARDS).
TARGET_MESSAGES_PER_SECOND = 5_000


@pytest.mark.parametrize("key", SHARED_KEYS, ids=lambda key: key.name)
def test_no_shard_takes_more_than_one_and_a_half_even_shares_of_its_keys_writes(
    key: SharedKey,
) -> None:
    load = load_of(key.sharded)

    assert load.partitions == PARTITION_SHARDS
    assert load.busiest_share <= MAX_SKEW / PARTITION_SHARDS


@pytest.mark.parametrize("key", SHARED_KEYS, ids=lambda key: key.name)
def test_the_unsharded_key_puts_all_its_writes_in_one_partition(key: SharedKey) -> None:
    load = load_of(key.unsharded)

    assert (load.partitions, load.busiest_share) == (1, 1.0)


def test_sharding_raises_every_keys_ceiling_past_the_target_from_under_a_thousand() -> None:
    for key in SHARED_KEYS:
        before, after = load_of(key.unsharded), load_of(key.sharded)
        assert after.ceiling_messages_per_second >= TARGET_MESSAGES_PER_SECOND, key.name
        assert after.ceiling_messages_per_second >= 10 * before.ceiling_messages_per_second
    # Today's tightest key, the activity index, caps the service at a few hundred a second.
    activity = load_of(SHARED_KEYS[0].unsharded)
    assert 300 < activity.ceiling_messages_per_second < 500


def test_a_sessions_shard_is_the_same_in_every_process_and_python() -> None:
    # Pinned: a new hash would leave stored items in shards their readers no longer expect.
    assert shard_of("00000000-0000-4000-8000-000000000000") == 7
    script = "from chatbot.records import shard_of; print(shard_of('session-a'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(REPO / "lambda"), "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outputs == {str(shard_of("session-a"))}


def test_every_partition_a_writer_names_is_one_its_readers_query() -> None:
    sessions = simulated_sessions()[:2_000]
    day = "2026-12-02"

    assert {activity_partition(s.session_id) for s in sessions} == set(activity_partitions())
    assert {day_partition(day, s.session_id) for s in sessions} == set(day_partitions(day))
    assert {type_partition("query", day, s.session_id) for s in sessions} == set(
        type_partitions("query", day)
    )


def test_one_sessions_items_share_a_shard_across_keys() -> None:
    shard = shard_of("s1")

    assert activity_partition("s1") == f"active#{shard}"
    assert day_partition("2026-12-02", "s1") == f"2026-12-02#{shard}"
    assert type_partition("error", "2026-12-02", "s1") == f"error#2026-12-02#{shard}"
