"""A first `chatbot serve` on an empty index, in a real browser: the page shows the starter
corpus being added, then a documents question is answered from it with its source."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import UI_TIMEOUT_MS
from tests.e2e.served import ServerProcess
from tests.e2e.test_web_page import ANSWER_TIMEOUT_MS, SERVER_START_TIMEOUT_S, ChatPage

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture turns this into a failure that says what to run
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parents[1] / "data" / "starter_corpus"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path / "state",
        env={"STARTER_CORPUS": "true", "STARTER_CORPUS_DIR": str(CORPUS)},
    )
    try:
        process.wait_until_ready(SERVER_START_TIMEOUT_S)
        yield process
    finally:
        process.stop()


def status_of(server: ServerProcess) -> tuple[dict[str, object], str]:
    with urllib.request.urlopen(server.url + "starter-corpus.json", timeout=10) as reply:
        return json.loads(reply.read()), reply.headers["Cache-Control"]


def test_the_page_shows_the_starter_corpus_then_answers_from_it(
    browser: Browser, server: ServerProcess
) -> None:
    status, cache = status_of(server)
    assert status["state"] in ("ingesting", "ready") and status["filesTotal"] == 2
    assert cache == "no-store"
    context = browser.new_context()
    try:
        chat = ChatPage(context.new_page(), server.url)
        chat.open()
        line = chat.page.get_by_test_id("starter-status")
        expect(line).to_be_visible()
        expect(line).to_have_attribute("data-state", "ready", timeout=ANSWER_TIMEOUT_MS)
        expect(line).to_have_text(
            "Starter documents ready: 2 files from this project's README and docs/. "
            "Ask about them, or add your own with chatbot ingest."
        )
        message_id = chat.send("What do the docs say about the fog horn signal?")
        final = chat.wait_for_outcome(message_id)
        assert final["type"] == "message", final
        assert final["queryType"] == "rag"
        assert final["sources"][0] == "docs/fog.md"
        assert "two blasts every sixty seconds" in final["content"]
        # The rendered answer names its source (render.js draws the citations).
        answer = chat.bubble("assistant", message_id)
        expect(answer).to_have_attribute("data-state", "complete", timeout=UI_TIMEOUT_MS)
        expect(answer).to_contain_text("docs/fog.md")
        assert not chat.page_errors
    finally:
        context.close()
    assert status_of(server)[0]["state"] == "ready"


def test_with_the_setting_off_the_line_stays_hidden(browser: Browser, tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "off", env={"STARTER_CORPUS_DIR": str(CORPUS)})
    try:
        process.wait_until_ready(SERVER_START_TIMEOUT_S)
        assert status_of(process)[0]["state"] == "off"
        context = browser.new_context()
        try:
            chat = ChatPage(context.new_page(), process.url)
            chat.open()
            expect(chat.page.get_by_test_id("starter-status")).to_be_hidden()
        finally:
            context.close()
    finally:
        process.stop()
    assert not (tmp_path / "off" / "starter-corpus.json").exists()
