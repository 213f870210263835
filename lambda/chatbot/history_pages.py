"""One ``history`` frame: the newest messages that fit API Gateway's frame limit (PROTOCOL.md).

A page is as many of the newest records (before the client's ``before``) as ``limit`` allows
and the frame's bytes hold, oldest first, with ``hasMore`` when older ones exist.

A page starts with a question, never an answer: the client pages back with ``before`` = the
first messageId it has, which names a question and answer alike and which the server reads as
"older than that question", so an answer first on a page would have its question (and
anything between the two) skipped. Answers at the start of a page go to the next one instead;
a page that would be left with no question reaches back to the nearest question, one or a few
messages over ``limit``. Only an answer with no question left (expired) may start a page.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatbot.records import ConversationRecord
from chatbot.server_frames import MAX_SERVER_FRAME_BYTES, HistoryEntry, HistoryFrame

# Records read beyond ``limit`` for a page: to tell whether older ones exist, and to reach
# back to the question of a page that holds only answers (a question sent while an earlier
# one was still being answered puts answers side by side).
EXTRA_RECORDS = 4


def history_frame(
    session_id: str,
    records: Sequence[ConversationRecord],
    *,
    limit: int,
    max_bytes: int = MAX_SERVER_FRAME_BYTES,
) -> HistoryFrame:
    """The page of ``records``: the newest ``limit + EXTRA_RECORDS`` records (fewer when
    there are no more) before the client's ``before``, oldest first."""
    entries = [HistoryEntry.from_record(record) for record in records]
    sizes = [entry.byte_size() + 1 for entry in entries]  # each with its comma
    # What the messages may take: the frame's bytes with none, less the last one's comma.
    budget = max_bytes + 1 - _empty_frame_bytes(session_id)
    first, used = len(entries), 0
    while first > 0 and len(entries) - first < limit and used + sizes[first - 1] <= budget:
        first -= 1
        used += sizes[first]
    if first == len(entries) and entries:
        # Not even the newest message fits: impossible within the bounds on stored messages.
        # Sent anyway, the sender refuses it and the client gets an error, never a gap.
        first -= 1
    first = _start_at_a_question(records, sizes, first, budget - used)
    # A full read may have left older records unread.
    unread = len(records) >= limit + EXTRA_RECORDS
    return HistoryFrame(sessionId=session_id, messages=entries[first:], hasMore=first > 0 or unread)


def _start_at_a_question(
    records: Sequence[ConversationRecord], sizes: Sequence[int], first: int, room: int
) -> int:
    """Where the page starting at ``first`` should start so that it starts with a question."""
    if first == 0 or first == len(records):
        return first
    start = first
    while start < len(records) and records[start].messageType == "assistant":
        start += 1
    if start < len(records):
        return start  # the answers before the first question go to the next page
    # Only answers: reach back to the nearest question, if it and what lies between fit.
    back = first - 1
    while back > 0 and records[back].messageType == "assistant":
        back -= 1
    if records[back].messageType == "user" and sum(sizes[back:first]) <= room:
        return back
    return first


def _empty_frame_bytes(session_id: str) -> int:
    # With ``hasMore: false``, a byte longer than true.
    return HistoryFrame(sessionId=session_id, messages=[], hasMore=False).byte_size()
