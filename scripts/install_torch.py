"""Installs the CPU build of torch pinned in requirements-local.txt, wherever pip can find it.

    python scripts/install_torch.py requirements-local.txt [pip install options...]

PyPI's plain torch for Linux is the CUDA build (several GB with its nvidia-* wheels); the CPU
build (``+cpu``) is served by PyTorch's own index. So this first asks pip's configured sources
(PyPI, or whatever pip.conf and PIP_* say: a mirror, a find-links folder), and only if the
pinned build is not there PyTorch's CPU index, https://download.pytorch.org/whl/cpu
(TORCH_CPU_INDEX_URL overrides it; the tests point it at a local index).

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
PIN = re.compile(r"torch==(?P<version>[^\s;#]+)\s*(?:#.*)?")


def torch_requirement(requirements: Path) -> str:
    """The ``torch==...`` line of a requirements file, as pip takes it."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = PIN.fullmatch(line.strip())
        if match:
            return f"torch=={match['version']}"
    raise SystemExit(f"install_torch: {requirements} has no 'torch==<version>' line")


def fallback_index(environ: Mapping[str, str]) -> str:
    """The index asked when pip's configured sources lack the pinned build."""
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
        if result.returncode != 0:
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
