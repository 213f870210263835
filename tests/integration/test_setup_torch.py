"""scripts/install_torch.py finds torch's CPU build wherever a newcomer's pip can reach it.

Two kinds of machine, each with pip's configuration cleared (PIP_CONFIG_FILE=/dev/null, no
PIP_* from this machine) and local indexes of metadata-only stand-in wheels: one whose
configured sources hold the +cpu wheel (like this machine's find-links /opt/wheels), and one
whose pip sees only "PyPI" (plain torch, the CUDA build there) plus "PyTorch's CPU index"
(TORCH_CPU_INDEX_URL, since download.pytorch.org cannot be reached from the tests).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install_torch.py"
CPU = "2.13.0+cpu"
PLAIN = "2.13.0"
# Runs the script (argv[2]) with sys.platform set to argv[1].
AS_PLATFORM = (
    "import runpy, sys; sys.platform = sys.argv[1]; sys.argv = sys.argv[2:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def build_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A metadata-only wheel (METADATA, WHEEL, RECORD): enough for pip to resolve and install."""
    stem = f"{name.replace('-', '_')}-{version}"
    dist_info = f"{stem}.dist-info"
    files = {
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def simple_index(root: Path, wheels: dict[str, list[tuple[str, tuple[str, ...]]]]) -> str:
    """A PEP 503 index folder (project/index.html beside its wheels); its file:// URL."""
    for project, versions in wheels.items():
        folder = root / project
        links = [build_wheel(folder, project, v, requires).name for v, requires in versions]
        anchors = "".join(f'<a href="{quote(link)}">{link}</a>\n' for link in links)
        (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{anchors}</body></html>")
    root.mkdir(parents=True, exist_ok=True)
    return root.as_uri() + "/"


@dataclass(frozen=True)
class Machine:
    """Stand-ins for PyPI (plain torch only) and PyTorch's CPU index, and a clean pip env.

    pip installs into ``venv``, an empty throwaway venv (PIP_PYTHON), never the test's own.
    """

    tmp: Path
    pypi: str
    pytorch: str
    venv: Path

    def env(self, **pip: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env.pop("TORCH_CPU_INDEX_URL", None)
        env.update(
            PIP_CONFIG_FILE=os.devnull,
            PIP_INDEX_URL=self.pypi,
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
            PIP_CACHE_DIR=str(self.tmp / "pip-cache"),
            PIP_PYTHON=str(self.venv / "bin" / "python"),
            TORCH_CPU_INDEX_URL=self.pytorch,
        )
        env.update(pip)
        return env

    def install_torch(
        self, env: dict[str, str], *pip_options: str, platform: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The script as the Makefile runs it; with ``platform``, as if ``sys.platform`` were
        that (pip itself still runs for this machine)."""
        requirements = self.tmp / "requirements-local.txt"
        requirements.write_text(
            "-c requirements.txt\n# the CPU build\n"
            f'torch=={CPU}; sys_platform != "darwin"\n'
            f'torch=={PLAIN}; sys_platform == "darwin"\nsix==1.0\n'
        )
        run = [sys.executable, str(SCRIPT)]
        if platform is not None:
            run = [sys.executable, "-c", AS_PLATFORM, platform, str(SCRIPT)]
        return subprocess.run(
            [*run, str(requirements), *pip_options],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    pypi = simple_index(
        tmp_path / "pypi",
        {"torch": [("2.13.0", ()), ("2.14.0", ())], "filelock": [("3.0", ())]},
    )
    pytorch = simple_index(tmp_path / "pytorch-cpu", {"torch": [(CPU, ("filelock",))]})
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return Machine(tmp_path, pypi, pytorch, venv)


def source_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_find_links_folder_with_the_cpu_wheel_is_used_and_pytorch_index_never_asked(
    machine: Machine,
) -> None:
    local = machine.tmp / "wheels"
    build_wheel(local, "torch", CPU)

    result = machine.install_torch(machine.env(PIP_FIND_LINKS=str(local)), "--dry-run")

    wheel = (local / f"torch-{CPU}-py3-none-any.whl").as_uri()
    assert source_line(result) == f"install_torch: torch=={CPU} from {wheel}"
    assert "PyTorch's CPU index" not in result.stdout


def test_a_configured_extra_index_with_the_cpu_wheel_is_used(machine: Machine) -> None:
    mirror = simple_index(machine.tmp / "mirror", {"torch": [(CPU, ())]})

    result = machine.install_torch(machine.env(PIP_EXTRA_INDEX_URL=mirror), "--dry-run")

    assert source_line(result).endswith(f"from {mirror}torch/torch-2.13.0%2Bcpu-py3-none-any.whl")
    assert "PyTorch's CPU index" not in result.stdout


def test_pypi_without_the_cpu_build_falls_back_to_pytorch_cpu_index_not_plain_torch(
    machine: Machine,
) -> None:
    result = machine.install_torch(machine.env(), "--dry-run")

    assert f"from PyTorch's CPU index {machine.pytorch} instead" in result.stdout
    expected = f"{machine.pytorch}torch/torch-2.13.0%2Bcpu-py3-none-any.whl"
    assert source_line(result) == f"install_torch: torch=={CPU} from {expected}"


def test_no_source_with_the_cpu_build_fails_saying_where_it_looked(machine: Machine) -> None:
    empty = simple_index(machine.tmp / "empty", {})

    result = machine.install_torch(machine.env(TORCH_CPU_INDEX_URL=empty), "--dry-run")

    assert result.returncode == 1
    assert f"torch=={CPU} is neither in pip's configured sources nor at {empty}" in result.stderr
    assert "TORCH_CPU_INDEX_URL" in result.stderr


def test_installed_cpu_torch_stays_when_the_rest_resolves_against_pypi(machine: Machine) -> None:
    """The Makefile's two steps into a throwaway venv: torch, then the rest in one pinned call."""
    target = machine.env()
    assert "from " in source_line(machine.install_torch(target))
    # What pulls torch in: sentence-transformers on PyPI, where torch is the CUDA build.
    simple_index(machine.tmp / "pypi", {"sentence-transformers": [("6.2.0", ("torch>=2",))]})
    rest = machine.tmp / "rest.txt"
    rest.write_text(f"torch=={CPU}\nsentence-transformers==6.2.0\nfilelock==3.0\n")
    report = machine.tmp / "rest.json"

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--report", str(report), "-r", str(rest)],
        check=True,
        env=target,
        timeout=120,
    )

    installed = {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert installed == {"sentence-transformers": "6.2.0", "filelock": "3.0"}
    versions = subprocess.run(
        [
            str(machine.venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert versions.stdout.strip() == CPU


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fallback_is_pytorch_cpu_index_unless_the_variable_names_another() -> None:
    script = load_script()

    assert script.fallback_index({}, "linux") == "https://download.pytorch.org/whl/cpu"
    assert script.fallback_index({"TORCH_CPU_INDEX_URL": "file:///i/"}, "linux") == "file:///i/"


def test_on_macos_there_is_no_fallback_index_whatever_the_variable_says() -> None:
    script = load_script()

    assert script.fallback_index({}, "darwin") is None
    assert script.fallback_index({"TORCH_CPU_INDEX_URL": "file:///i/"}, "darwin") is None


@pytest.mark.parametrize(("platform", "pin"), [("linux", CPU), ("win32", CPU), ("darwin", PLAIN)])
def test_the_pin_is_read_from_the_requirements_file_the_makefile_installs(
    platform: str, pin: str
) -> None:
    script = load_script()

    assert script.torch_requirement(ROOT / "requirements-local.txt", platform) == f"torch=={pin}"


def test_a_torch_marker_the_script_cannot_read_stops_it(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text('torch==2.13.0; python_version >= "3.11"\n')

    with pytest.raises(SystemExit, match="python_version"):
        load_script().torch_requirement(requirements, "linux")


def test_on_macos_plain_torch_comes_from_pypi_and_pytorch_index_is_never_asked(
    machine: Machine,
) -> None:
    result = machine.install_torch(machine.env(), "--dry-run", platform="darwin")

    expected = f"{machine.pypi}torch/torch-{PLAIN}-py3-none-any.whl"
    assert source_line(result) == f"install_torch: torch=={PLAIN} from {expected}"
    assert "PyTorch's CPU index" not in result.stdout


def test_on_macos_a_pypi_without_torch_fails_without_trying_pytorch_index(
    machine: Machine,
) -> None:
    empty = simple_index(machine.tmp / "empty", {})

    result = machine.install_torch(machine.env(PIP_INDEX_URL=empty), "--dry-run", platform="darwin")

    assert result.returncode == 1
    assert f"torch=={PLAIN} is not in pip's configured sources (on darwin" in result.stderr
    assert "PyTorch's CPU index" not in result.stdout
