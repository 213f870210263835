"""Installs the CPU build of torch pinned in requirements-local.txt, wherever pip can find it.

    python scripts/install_torch.py requirements-local.txt [pip install options...]

PyPI's plain torch for Linux is the CUDA build (several GB with its nvidia-* wheels); the CPU
build (``+cpu``) is served by PyTorch's own index. So this first asks pip's configured sources
(PyPI, or whatever pip.conf and PIP_* say: a mirror, a find-links folder), and only if the
pinned build is not there PyTorch's CPU index, https://download.pytorch.org/whl/cpu
(TORCH_CPU_INDEX_URL overrides it; the tests point it at a local index).

On macOS PyPI's plain torch is already the CPU-only build, and no ``+cpu`` one exists, so
requirements-local.txt pins plain torch there (a ``sys_platform`` marker on each torch line),
and this asks pip's configured sources for it, never PyTorch's index.

torch alone, without its dependencies: the Makefile's next pip call installs those with the
rest of the requirements, pinned, and finds torch already satisfied, so pip never resolves
PyPI's CUDA build. Only the standard library: this runs in a fresh venv before anything else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
INDEX_VARIABLE = "TORCH_CPU_INDEX_URL"
PIN = re.compile(r"torch==(?P<version>[^\s;#]+)\s*(?:;(?P<marker>[^#]*))?(?:#.*)?")
# The one kind of environment marker the torch lines use: sys_platform == or != "name".
PLATFORM_MARKER = re.compile(
    r"""sys_platform\s*(?P<op>==|!=)\s*(?P<q>["'])(?P<name>[^"']+)(?P=q)"""
)
# Where PyPI's plain torch wheel is the CPU-only build: no PyTorch CPU index needed.
PLAIN_WHEEL_IS_CPU = frozenset({"darwin"})


def torch_requirement(requirements: Path, platform: str = sys.platform) -> str:
    """The ``torch==...`` line of a requirements file that applies on ``platform`` (a
    ``sys.platform`` value), as pip takes it."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = PIN.fullmatch(line.strip())
        if match and _applies(match["marker"], platform, requirements):
            return f"torch=={match['version']}"
    raise SystemExit(f"install_torch: {requirements} has no 'torch==<version>' line for {platform}")


def _applies(marker: str | None, platform: str, requirements: Path) -> bool:
    if marker is None or not marker.strip():
        return True
    match = PLATFORM_MARKER.fullmatch(marker.strip())
    if match is None:
        raise SystemExit(
            f"install_torch: {requirements}: the torch marker {marker.strip()!r} is not "
            "sys_platform == or != '<name>', the only kind this reads"
        )
    return (match["name"] == platform) == (match["op"] == "==")


def fallback_index(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """The index asked when pip's configured sources lack the pinned build; None where
    PyPI's plain wheel is the CPU build (macOS), so there is nothing else to ask."""
    if platform in PLAIN_WHEEL_IS_CPU:
        return None
    return environ.get(INDEX_VARIABLE) or PYTORCH_CPU_INDEX


def pip_install(
    requirement: str, pip_options: Sequence[str], report: Path
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--report", str(report)]
    return subprocess.run(  # noqa: S603 (this interpreter's pip, arguments from the Makefile)
        [*command, *pip_options, requirement], capture_output=True, text=True, check=False
    )


def source_of(report: Path) -> str:
    """Where pip took the wheel from, per its installation report; '' if nothing to install."""
    installs = json.loads(report.read_text(encoding="utf-8")).get("install", [])
    return str(installs[0]["download_info"]["url"]) if installs else ""


def say(line: str, stream: TextIO = sys.stdout) -> None:
    stream.write(f"install_torch: {line}\n")
    stream.flush()


def main(argv: Sequence[str]) -> int:
    if not argv:
        sys.stderr.write(__doc__ or "")
        return 2
    requirement = torch_requirement(Path(argv[0]))
    options = list(argv[1:])
    index = fallback_index(os.environ)
    with tempfile.TemporaryDirectory(prefix="install-torch-") as scratch:
        report = Path(scratch) / "report.json"
        say(f"{requirement} from pip's configured sources...")
        result = pip_install(requirement, options, report)
        if result.returncode != 0 and index is None:
            sys.stderr.write(result.stdout + result.stderr)
            say(
                f"{requirement} is not in pip's configured sources (on {sys.platform} PyPI's "
                "plain torch is the CPU build). Check the network, or pip's index settings.",
                sys.stderr,
            )
            return 1
        if result.returncode != 0 and index is not None:
            say(f"not there; from PyTorch's CPU index {index} instead...")
            fallback = pip_install(requirement, [*options, "--extra-index-url", index], report)
            if fallback.returncode != 0:
                sys.stderr.write(result.stdout + result.stderr + fallback.stdout + fallback.stderr)
                say(
                    f"{requirement} is neither in pip's configured sources nor at {index}. "
                    f"Check the network, or point {INDEX_VARIABLE} at an index (or pip's "
                    "find-links at a folder) that has that wheel.",
                    sys.stderr,
                )
                return 1
            result = fallback
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        source = source_of(report)
    say(f"{requirement} from {source}" if source else f"{requirement} already installed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
