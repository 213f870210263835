"""The chat page's sign-in (config.json `signIn`) in a real browser, with no network at all.

The hosted UI and its token endpoint are answered by Playwright's request routing and the
WebSocket API by its WebSocket routing; the page itself comes from a local static server.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import UI_TIMEOUT_MS

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture turns this into a failure that says what to run
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocketRoute

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "https://chatbot-test-123456789012.auth.eu-west-1.amazoncognito.com"
CLIENT_ID = "web-client-id"
API_URL = "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"
SUB = "8f1c2d3e-0000-4000-8000-123456789abc"
AUTHORIZE = re.compile(re.escape(f"{DOMAIN}/oauth2/authorize?"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(*, expires_in: int = 3600) -> str:
    """Shaped like Cognito's; the page only reads it, the authorizer checks its signature."""
    header = b64url(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
    claims = {"sub": SUB, "email": "ada@example.com", "exp": int(time.time()) + expires_in}
    return f"{header}.{b64url(json.dumps(claims).encode())}.c2lnbmF0dXJl"


# --- the page's host, the hosted UI and the API --------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], str]]:
    """``site(config)``: web/ plus this config.json on a local static server; its URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(config: dict[str, Any]) -> str:
        root = tmp_path / f"site{len(servers)}"
        shutil.copytree(REPO / "web", root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        if "signIn" in config:
            config = {**config, "signIn": {**config["signIn"], "redirectUri": url}}
        (root / "config.json").write_text(json.dumps(config))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return url

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class Quiet(SimpleHTTPRequestHandler):
    """The static server, without a line on stderr per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


SIGN_IN = {"domainUrl": DOMAIN, "clientId": CLIENT_ID}


@dataclass
class HostedUi:
    """Cognito's hosted UI as the page sees it: every request kept, tokens handed out."""

    issued: str = field(default_factory=id_token)
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        request = route.request
        split = urlsplit(request.url)
        form = parse_qs(request.post_data or "") if request.method == "POST" else {}
        self.requests.append((split.path, request.method, parse_qs(split.query) or form))
        if split.path == "/oauth2/token":
            # No CORS preflight: a form POST without custom headers is a simple request.
            route.fulfill(
                status=200,
                headers={"Access-Control-Allow-Origin": "*"},
                content_type="application/json",
                body=json.dumps({"id_token": self.issued, "token_type": "Bearer"}),
            )
        else:
            route.fulfill(status=200, content_type="text/html", body="<title>Hosted UI</title>")

    def last(self, path: str) -> dict[str, str]:
        [params] = [params for seen, _, params in self.requests if seen == path][-1:]
        return {name: values[0] for name, values in params.items()}


@dataclass
class FakeApi:
    """The WebSocket API: records each handshake URL and answers getSession."""

    urls: list[str] = field(default_factory=list)

    def handle(self, ws: WebSocketRoute) -> None:
        self.urls.append(ws.url)

        def on_message(message: str | bytes) -> None:
            if json.loads(message).get("action") == "getSession":
                frame = {
                    "type": "session",
                    "sessionId": "s-1",
                    "sessionToken": "t-1",
                    "resumed": False,
                    "createdAt": "2026-01-01T00:00:00Z",
                }
                ws.send(json.dumps(frame))

        ws.on_message(on_message)

    def token(self) -> str | None:
        values = parse_qs(urlsplit(self.urls[-1]).query).get("token")
        return values[0] if values else None


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    hosted_ui: HostedUi
    api: FakeApi
    errors: list[str]

    def seed_token(self, origin: str, token: str, *, signed_in_ago_s: float) -> None:
        """The tab already holds a token (from an earlier sign-in), before the page loads."""
        entry = json.dumps({"idToken": token, "signedInAt": (time.time() - signed_in_ago_s) * 1000})
        self.context.add_init_script(
            f"if (location.origin === {json.dumps(origin)} && !sessionStorage.getItem('seeded')) {{"
            f"  sessionStorage.setItem('chatbot.signIn.token', {json.dumps(entry)});"
            "  sessionStorage.setItem('seeded', '1');"
            "}"
        )

    def authorize_requests(self) -> int:
        return sum(path == "/oauth2/authorize" for path, _, _ in self.hosted_ui.requests)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    opened = Tab(context, page, HostedUi(), FakeApi(), [])
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.route(f"{DOMAIN}/**", opened.hosted_ui.handle)
    page.route_web_socket(re.compile(re.escape(API_URL)), opened.api.handle)
    try:
        yield opened
        assert not opened.errors, f"uncaught errors in the page: {opened.errors}"
    finally:
        context.close()


def sign_in(tab: Tab, url: str) -> dict[str, str]:
    """Load the page until it has sent the browser to the hosted UI; the authorize query."""
    tab.page.goto(url)
    tab.page.wait_for_url(AUTHORIZE)
    return tab.hosted_ui.last("/oauth2/authorize")


def return_with_code(tab: Tab, url: str, state: str) -> None:
    tab.page.goto(f"{url}?code=the-code&state={state}")
    expect(tab.page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "connected"
    )


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{probe.getsockname()[1]}/"


# --- the behaviours ------------------------------------------------------------------------


def test_without_sign_in_the_page_connects_with_no_token_and_no_sign_out(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    tab.page.goto(site({"websocketUrl": API_URL}))
    expect(tab.page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "connected"
    )
    assert tab.api.token() is None
    expect(tab.page.get_by_test_id("sign-out-button")).to_be_hidden()
    assert tab.hosted_ui.requests == []


def test_a_first_visit_goes_to_the_hosted_ui_with_a_pkce_s256_challenge(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": API_URL, "signIn": SIGN_IN})
    query = sign_in(tab, url)
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == url
    assert query["scope"] == "openid email"
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert len(query["state"]) >= 16
    assert tab.api.urls == [], "no handshake without a token"


def test_the_returned_code_is_redeemed_and_the_id_token_rides_on_the_handshake(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": API_URL, "signIn": SIGN_IN})
    authorize = sign_in(tab, url)

    return_with_code(tab, url, authorize["state"])

    redeemed = tab.hosted_ui.last("/oauth2/token")
    assert redeemed["grant_type"] == "authorization_code"
    assert redeemed["code"] == "the-code"
    assert redeemed["client_id"] == CLIENT_ID
    assert redeemed["redirect_uri"] == url
    # The verifier the page kept is the one whose SHA-256 it sent as the challenge.
    challenge = b64url(hashlib.sha256(redeemed["code_verifier"].encode()).digest())
    assert challenge == authorize["code_challenge"]
    assert tab.api.token() == tab.hosted_ui.issued
    assert tab.page.url == url, "the code is gone from the address bar"
    expect(tab.page.get_by_test_id("sign-out-button")).to_be_visible()
    stored = tab.page.evaluate(f"localStorage.getItem('chatbot.session.{SUB}')")
    assert json.loads(stored) == {"sessionId": "s-1", "sessionToken": "t-1"}


def test_a_code_the_tab_did_not_ask_for_is_not_redeemed(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": API_URL, "signIn": SIGN_IN})
    sign_in(tab, url)
    tab.page.goto(f"{url}?code=planted-code&state=someone-elses")
    tab.page.wait_for_url(AUTHORIZE)
    assert all(path != "/oauth2/token" for path, _, _ in tab.hosted_ui.requests)
    assert tab.authorize_requests() == 2


def test_sign_out_forgets_the_token_and_signs_out_of_the_hosted_ui(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": API_URL, "signIn": SIGN_IN})
    return_with_code(tab, url, sign_in(tab, url)["state"])

    tab.page.get_by_test_id("sign-out-button").click()

    tab.page.wait_for_url(f"{DOMAIN}/logout?**")
    assert tab.hosted_ui.last("/logout") == {"client_id": CLIENT_ID, "logout_uri": url}
    tab.page.goto(url)
    tab.page.wait_for_url(AUTHORIZE)
    assert tab.authorize_requests() == 2, "no token left: the page asks for a sign-in again"


def test_an_expired_token_sends_the_user_to_sign_in_again(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": API_URL, "signIn": SIGN_IN})
    tab.seed_token(url.rstrip("/"), id_token(expires_in=-60), signed_in_ago_s=3700)
    sign_in(tab, url)
    assert tab.api.urls == []


def test_a_refused_handshake_sends_the_user_to_sign_in_again(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": closed_port_url(), "signIn": SIGN_IN})
    tab.seed_token(url.rstrip("/"), id_token(), signed_in_ago_s=600)
    sign_in(tab, url)


def test_a_refusal_right_after_signing_in_backs_off_instead_of_looping(
    tab: Tab, site: Callable[[dict[str, Any]], str]
) -> None:
    url = site({"websocketUrl": closed_port_url(), "signIn": SIGN_IN})
    tab.seed_token(url.rstrip("/"), id_token(), signed_in_ago_s=1)
    tab.page.goto(url)
    status = tab.page.get_by_test_id("connection-status")
    expect(status).to_have_attribute("data-state", "disconnected")
    expect(status).to_contain_text("Reconnecting in")
    assert tab.hosted_ui.requests == []
