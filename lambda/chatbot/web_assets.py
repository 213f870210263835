"""The third-party browser files the chat page loads, and where they live in node_modules.

One list for both places the page is served from: the local gateway serves each file at
``/vendor/<name>``, and the CDK web deployment copies it to ``vendor/<name>`` in the site
bucket. The files come from the npm packages pinned in package.json (installed by
``make run``, ``make test`` and ``make deploy``); none is committed to the repo, and the
page loads them from its own origin, so its Content-Security-Policy stays ``'self'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

REPO_ROOT = Path(__file__).resolve().parents[2]
# The URL path prefix of the files, on the gateway and in the bucket.
VENDOR_PREFIX = "vendor/"

# /vendor/<name> -> the file under node_modules.
VENDOR_FILES: Mapping[str, str] = MappingProxyType(
    {
        "marked.js": "marked/lib/marked.umd.js",
        "purify.js": "dompurify/dist/purify.min.js",
        "highlight.js": "@highlightjs/cdn-assets/highlight.min.js",
        "highlight-light.css": "@highlightjs/cdn-assets/styles/github.min.css",
        "highlight-dark.css": "@highlightjs/cdn-assets/styles/github-dark.min.css",
    }
)

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


class MissingVendorFiles(Exception):
    """node_modules lacks some of the page's libraries: ``npm ci`` installs them."""

    def __init__(self, node_modules: Path, missing: list[str]) -> None:
        super().__init__(
            f"{node_modules} lacks the chat page's libraries ({', '.join(missing)}): "
            "run `npm ci` in the repo root (make run, make test and make deploy do)"
        )
        self.missing = missing


def node_modules_dir() -> Path:
    """The repo root's node_modules, where package.json's packages are installed."""
    return REPO_ROOT / "node_modules"


def content_type(name: str) -> str:
    """The Content-Type of /vendor/``name`` (every mapped name ends in .js or .css)."""
    return _CONTENT_TYPES[Path(name).suffix]


def vendor_file(name: str, node_modules: Path | None = None) -> Path | None:
    """The installed file behind /vendor/``name``; None for a name not in the list or not
    installed. Only names in VENDOR_FILES are looked up, so no request reaches another file."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        return None
    path = (node_modules or node_modules_dir()) / relative
    return path if path.is_file() else None


def vendor_files(node_modules: Path | None = None) -> dict[str, Path]:
    """Every mapped file, by name; raises MissingVendorFiles if any is not installed."""
    root = node_modules or node_modules_dir()
    found = {name: root / relative for name, relative in VENDOR_FILES.items()}
    missing = [relative for name, relative in VENDOR_FILES.items() if not found[name].is_file()]
    if missing:
        raise MissingVendorFiles(root, missing)
    return found
