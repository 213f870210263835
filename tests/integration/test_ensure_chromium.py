"""scripts/ensure-chromium picks Debian's Chromium, apt, or Playwright's download, in that order.

Each test runs the real script with PATH holding only stub executables (chromium, apt-get,
id, sudo) that record how they were called, and a stub interpreter in place of the venv's
python: which branch ran is read from those calls. Nothing is installed or downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-chromium"
BASH = shutil.which("bash") or "/bin/bash"
APT_INSTALL = "apt-get install -y -qq chromium"
PLAYWRIGHT = "python -m playwright install chromium"


@dataclass
class FakeMachine:
    bin: Path
    log: Path
    python: Path

    def stub(
        self, name: str, *, exit_code: int = 0, output: str = "", folder: Path | None = None
    ) -> Path:
        path = (folder or self.bin) / name
        path.write_text(
            f"#!{BASH}\necho \"{name} $*\" >> '{self.log}'\n"
            + (f"echo '{output}'\n" if output else "")
            + f"exit {exit_code}\n"
        )
        path.chmod(0o755)
        return path

    def run(self) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        result = subprocess.run(
            [BASH, str(SCRIPT), str(self.python)],
            capture_output=True,
            text=True,
            env={"PATH": str(self.bin), "HOME": str(self.bin.parent)},
            timeout=30,
            check=False,
        )
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return result, calls


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    (tmp_path / "bin").mkdir()
    fake = FakeMachine(tmp_path / "bin", tmp_path / "calls.log", tmp_path / "python")
    fake.stub("python", folder=tmp_path)
    return fake


def test_chromium_on_path_is_used_and_nothing_is_installed(machine: FakeMachine) -> None:
    machine.stub("chromium")
    machine.stub("apt-get")
    machine.stub("id", output="0")

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == []


def test_as_root_debian_chromium_comes_from_apt_not_a_download(machine: FakeMachine) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="0")
    machine.stub("sudo")

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == ["id -u", "apt-get update -qq", APT_INSTALL]


def test_with_passwordless_sudo_apt_installs_through_sudo(machine: FakeMachine) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="1000")
    machine.stub("sudo")

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == [
        "id -u",
        "sudo -n true",
        "sudo apt-get update -qq",
        f"sudo DEBIAN_FRONTEND=noninteractive {APT_INSTALL}",
    ]


def test_without_root_or_sudo_playwright_downloads_its_own(machine: FakeMachine) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="1000")
    machine.stub("sudo", exit_code=1)

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == ["id -u", "sudo -n true", PLAYWRIGHT]
    assert "could not be installed through apt" in result.stderr
    assert "downloading Playwright's own Chromium" in result.stderr


def test_without_apt_as_on_macos_playwright_downloads_its_own(machine: FakeMachine) -> None:
    machine.stub("id", output="501")
    machine.stub("sudo")

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == [PLAYWRIGHT]


def test_when_apt_cannot_install_chromium_playwright_downloads_its_own(
    machine: FakeMachine,
) -> None:
    machine.stub("apt-get", exit_code=100)
    machine.stub("id", output="0")

    result, calls = machine.run()

    assert result.returncode == 0, result.stderr
    assert calls == ["id -u", "apt-get update -qq", PLAYWRIGHT]


def test_when_no_chromium_can_be_installed_it_fails_saying_what_to_install(
    machine: FakeMachine,
) -> None:
    machine.stub("python", exit_code=1, folder=machine.python.parent)

    result, calls = machine.run()

    assert result.returncode == 1
    assert calls == [PLAYWRIGHT]
    assert "'sudo apt-get install chromium'" in result.stderr
    assert "-m playwright install --with-deps chromium" in result.stderr
