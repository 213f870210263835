"""Chunking: whole sentences within the size, overlap, heading boundaries, stable ids."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.ingest.chunking import Chunk, chunk_document, chunk_id_of, split_sentences
from chatbot.ingest.readers import Document, Section

WORDS = st.sampled_from(
    ["pump", "valve", "water", "pressure", "seal", "motor", "flow", "pipe", "gauge", "tank"]
)


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORDS, min_size=2, max_size=18))
    return words[0].capitalize() + " " + " ".join(words[1:]) + draw(st.sampled_from(".!?"))


@st.composite
def documents(draw: st.DrawFn) -> Document:
    sections: list[Section] = []
    for top in range(draw(st.integers(1, 3))):
        for sub in range(draw(st.integers(1, 3))):
            paragraphs = draw(
                st.lists(st.lists(sentences(), min_size=1, max_size=6), min_size=1, max_size=3)
            )
            path = (f"Part {top}",) if sub == 0 else (f"Part {top}", f"Topic {sub}")
            # Every sentence names its part, so a chunk's parts can be read off its text.
            text = "\n\n".join(
                " ".join(f"{sentence[:-1]} part{top}{sentence[-1]}" for sentence in paragraph)
                for paragraph in paragraphs
            )
            sections.append(Section(path, text))
    return Document("docs/manual.md", "Manual", sections)


def all_sentences(document: Document) -> list[str]:
    return [
        sentence
        for section in document.sections
        for paragraph in section.text.split("\n\n")
        for _, sentence in split_sentences(paragraph)
    ]


@settings(max_examples=40, deadline=None)
@given(documents(), st.integers(min_value=150, max_value=600))
def test_chunks_fit_the_size_and_never_split_a_sentence(document: Document, size: int) -> None:
    # The sentences drawn are at most ~170 characters, so none needs splitting.
    chunks = chunk_document(document, size=size, overlap=size // 4)
    for chunk in chunks:
        assert len(chunk.content) <= size
    for sentence in all_sentences(document):
        assert any(sentence in chunk.content for chunk in chunks)


@settings(max_examples=40, deadline=None)
@given(documents())
def test_no_chunk_holds_text_of_two_top_level_sections(document: Document) -> None:
    for chunk in chunk_document(document, size=300, overlap=60):
        parts = set(re.findall(r"part\d", chunk.content))
        assert parts == {chunk.heading_path[0].replace("Part ", "part")}


def test_a_chunk_runs_on_into_a_subsection_with_its_heading_as_a_line() -> None:
    document = Document(
        "a.md",
        "A",
        [Section(("Pumps",), "Pumps move water."), Section(("Pumps", "Seals"), "Seals leak.")],
    )
    [chunk] = chunk_document(document, size=200, overlap=20)
    assert chunk.heading_path == ("Pumps",)
    assert chunk.content == "Pumps move water.\n\nSeals\n\nSeals leak."
    assert chunk.embedding_text == "Pumps\n\nPumps move water.\n\nSeals\n\nSeals leak."


def test_top_level_sections_never_share_a_chunk() -> None:
    document = Document(
        "a.md", "A", [Section(("Pumps",), "Pumps move water."), Section(("Valves",), "Shut.")]
    )
    chunks = chunk_document(document, size=200, overlap=20)
    assert [(chunk.heading_path, chunk.content) for chunk in chunks] == [
        (("Pumps",), "Pumps move water."),
        (("Valves",), "Shut."),
    ]


def test_the_next_chunk_starts_with_the_last_sentence_of_the_one_before() -> None:
    text = " ".join(f"Sentence number {n} is about pumps." for n in range(12))
    chunks = chunk_document(Document("a.txt", "a", [Section((), text)]), size=120, overlap=40)
    assert len(chunks) > 2
    for before, after in itertools.pairwise(chunks):
        last_sentence = split_sentences(before.content)[-1][1]
        assert after.content.startswith(last_sentence)


def test_a_sentence_longer_than_the_size_is_split_between_words() -> None:
    sentence = " ".join(["pressure"] * 40) + "."
    chunks = chunk_document(Document("a.txt", "a", [Section((), sentence)]), size=100, overlap=0)
    assert all(len(chunk.content) <= 100 for chunk in chunks)
    assert " ".join(chunk.content for chunk in chunks) == sentence


def test_ids_are_stable_digests_of_source_and_position_and_hashes_of_content() -> None:
    document = Document("a.txt", "a", [Section((), "One. Two.")])
    first = chunk_document(document)
    assert first == chunk_document(document)
    [chunk] = first
    assert chunk.id == chunk_id_of("a.txt", 0)
    assert chunk.id == hashlib.sha256(b"a.txt\x000").hexdigest()
    assert chunk.content_hash == hashlib.sha256(b"One. Two.").hexdigest()


def test_the_hash_covers_the_embedded_heading_path_not_only_the_content() -> None:
    def only_chunk(heading: str) -> Chunk:
        [chunk] = chunk_document(Document("a.md", "Guide", [Section(("Guide", heading), "Text.")]))
        return chunk

    before, after = only_chunk("Setup"), only_chunk("Installation")
    assert before.content == after.content == "Text."
    assert before.content_hash == hashlib.sha256(b"Guide > Setup\n\nText.").hexdigest()
    assert after.content_hash == hashlib.sha256(after.embedding_text.encode()).hexdigest()
    assert before.content_hash != after.content_hash


def test_abbreviations_and_decimals_do_not_end_a_sentence() -> None:
    assert [s for _, s in split_sentences("Use e.g. the 3.5 mm seal. Then stop.")] == [
        "Use e.g. the 3.5 mm seal.",
        "Then stop.",
    ]


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (200, 100), (200, -1)])
def test_unusable_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        chunk_document(Document("a", "a", []), size=size, overlap=overlap)


def test_an_over_long_block_without_sentences_is_split_at_its_line_breaks() -> None:
    rows = [f"| pump {n} | {n * 10} l/min | seal type {n % 3} |" for n in range(12)]
    table = "\n".join(rows)
    chunks = chunk_document(Document("t.md", "t", [Section((), table)]), size=150, overlap=0)
    assert len(chunks) > 1
    assert "\n".join(chunk.content for chunk in chunks) == table
    assert all(len(chunk.content) <= 150 for chunk in chunks)
