"""Readers of Markdown, HTML, plain text and PDF into titled sections; files found and skipped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from chatbot.ingest.readers import (
    FoundFile,
    Section,
    UnreadableFileError,
    find_files,
    parse_html,
    parse_markdown,
    parse_plain_text,
    read_document,
)

PDF_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "ingest" / "pumps.pdf"


def test_markdown_sections_follow_the_heading_hierarchy() -> None:
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### Linux\n\nApt.\n\n## Use\n\nGo.\n"
    document = parse_markdown(text, "guide.md", "guide")
    assert document.title == "Guide"
    assert document.sections == [
        Section(("Guide",), "Intro."),
        Section(("Guide", "Install"), "Run it."),
        Section(("Guide", "Install", "Linux"), "Apt."),
        Section(("Guide", "Use"), "Go."),
    ]


def test_markdown_heading_marks_inside_a_fenced_code_block_stay_code() -> None:
    text = "# Setup\n\n```bash\n# install\npip install x\n```\n\nDone.\n"
    document = parse_markdown(text, "s.md", "s")
    assert document.sections == [
        Section(("Setup",), "```bash\n# install\npip install x\n```\n\nDone."),
    ]


def test_markdown_setext_headings_and_front_matter_title() -> None:
    text = (
        "---\ntitle: The Manual\n---\nPart one\n========\n\nBody.\n\nPart two\n--------\n\nMore.\n"
    )
    document = parse_markdown(text, "m.md", "m")
    assert document.title == "The Manual"
    assert document.sections == [
        Section(("Part one",), "Body."),
        Section(("Part one", "Part two"), "More."),
    ]


def test_markdown_without_a_heading_is_titled_after_its_file() -> None:
    document = parse_markdown("Just text.\n", "notes.md", "notes")
    assert document.title == "notes"
    assert document.sections == [Section((), "Just text.")]


def test_html_drops_scripts_styles_and_navigation_and_splits_by_headings() -> None:
    text = """<html><head><title>Pump  guide</title><style>p {color: red}</style></head>
    <body><nav><a href="/">Home</a></nav><script>alert("x")</script>
    <h1>Pumps</h1><p>Pumps move
    water.</p><p>They need power.</p>
    <h2>Valves</h2><ul><li>Gate</li><li>Ball</li></ul></body></html>"""
    document = parse_html(text, "p.html", "p")
    assert document.title == "Pump guide"
    assert document.sections == [
        Section(("Pumps",), "Pumps move water.\n\nThey need power."),
        Section(("Pumps", "Valves"), "Gate\n\nBall"),
    ]


def test_html_without_a_title_element_takes_the_first_h1() -> None:
    document = parse_html("<h1>Valves</h1><p>Text.</p>", "v.html", "v")
    assert document.title == "Valves"


def test_plain_text_is_one_untitled_section_named_after_the_file() -> None:
    document = parse_plain_text("\nFirst paragraph.\n\nSecond one.\n", "a.txt", "a")
    assert document.title == "a"
    assert document.sections == [Section((), "First paragraph.\n\nSecond one.")]


def test_pdf_pages_become_sections_and_the_metadata_title_the_title() -> None:
    document = read_document(FoundFile(PDF_FIXTURE, "pumps.pdf"))
    assert document.title == "Pump manual"
    assert [section.text for section in document.sections] == [
        "Pumps move water. They need power.",
        "Valves stop water.",
    ]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4 not really", "damaged PDF"),
        ("table.xlsx", b"PK\x03\x04", "unsupported"),
    ],
)
def test_unreadable_files_raise_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnreadableFileError, match=reason):
        read_document(FoundFile(path, name))


def test_a_folder_is_walked_recursively_in_order_without_hidden_files(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "a.md").write_text("A.")
    (root / "b" / "c.txt").write_text("C.")
    (root / ".hidden.md").write_text("H.")
    (root / ".git" / "config").write_text("x")
    shutil.copy(PDF_FIXTURE, root / "b" / "manual.pdf")
    found = list(find_files([root, tmp_path / "docs" / "b" / "c.txt"], cwd=tmp_path / "else"))
    assert [item.source for item in found] == [
        "docs/a.md",
        "docs/b/c.txt",
        "docs/b/manual.pdf",
        "c.txt",  # a file named by a path outside the current directory: by its name
    ]


def test_a_file_named_directly_is_named_relative_to_the_current_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs" / "guides").mkdir(parents=True)
    (tmp_path / "docs" / "guides" / "setup.md").write_text("Setup.")
    (tmp_path / "notes.md").write_text("Notes.")
    here = tmp_path / "docs"
    found = find_files(
        [
            here / "guides" / "setup.md",  # absolute, under the current directory
            Path(os.path.relpath(here / "guides" / "setup.md")),  # relative, as typed
            tmp_path / "notes.md",  # absolute, outside it
        ],
        cwd=here,
    )
    sources = [item.source for item in found]
    assert sources[0] == sources[1] == "guides/setup.md"
    assert sources[2] == "notes.md"
    assert not any(str(tmp_path) in source for source in sources)


def test_an_absolute_folder_is_named_from_its_own_name_never_the_machine_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("X.")
    found = list(find_files([tmp_path / "docs"], cwd=Path("/")))
    assert [item.source for item in found] == ["docs/x.md"]


def test_html_pre_blocks_keep_their_line_breaks() -> None:
    text = "<h1>Run</h1><p>Then:</p><pre>pip install x\n  chatbot serve\n</pre>"
    document = parse_html(text, "r.html", "r")
    assert document.sections == [Section(("Run",), "Then:\n\npip install x\n  chatbot serve")]
