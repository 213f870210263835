"""scripts/ensure-faketime and scripts/test-shifted-clock: how `make test` gets libfaketime,
the moment and environment the second unit-test run gets, and what happens without it.

Each test runs the real script with PATH holding only bash and stub executables (faketime,
apt-get, id, sudo, brew) that record how they were called, and a stub interpreter in place of the
venv's python. The stub faketime records its moment and TZ, then runs the rest of its command
line unshifted; the stub python answers the date probe with ``PROBE_DATE`` (default: the
shifted moment's date) and records any other call. Nothing is installed and no clock moves.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "ensure-faketime"
SHIFTED = ROOT / "scripts" / "test-shifted-clock"
BASH = shutil.which("bash") or "/bin/bash"
SKIPPED = "make test: WARNING: skipping the shifted-clock run: no faketime here"


@dataclass
class FakeMachine:
    bin: Path
    log: Path
    python: Path

    def stub(self, name: str, *, exit_code: int = 0, output: str = "") -> None:
        path = self.bin / name
        path.write_text(
            f"#!{BASH}\necho \"{name} $*\" >> '{self.log}'\n"
            + (f"echo '{output}'\n" if output else "")
            + f"exit {exit_code}\n"
        )
        path.chmod(0o755)

    def faketime(self, *, exit_code: int | None = None) -> None:
        """A faketime that records its moment and TZ, then runs the command (or fails)."""
        path = self.bin / "faketime"
        run = f"exit {exit_code}\n" if exit_code is not None else 'shift\nexec "$@"\n'
        path.write_text(f"#!{BASH}\necho \"faketime $1 TZ=$TZ\" >> '{self.log}'\n{run}")
        path.chmod(0o755)

    def run(
        self, script: Path, *args: str, **env: str
    ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        result = subprocess.run(
            [BASH, str(script), *args],
            capture_output=True,
            text=True,
            env={"PATH": str(self.bin), "HOME": str(self.bin.parent), **env},
            cwd=ROOT,
            timeout=30,
            check=False,
        )
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        return result, calls


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    (tmp_path / "bin").mkdir()
    # test-shifted-clock starts ensure-faketime through its `#!/usr/bin/env bash` line.
    (tmp_path / "bin" / "bash").symlink_to(BASH)
    python = tmp_path / "python"
    log = tmp_path / "calls.log"
    python.write_text(
        f"#!{BASH}\n"
        'if [ "$1" = "-c" ]; then echo "${PROBE_DATE:-${SHIFTED_CLOCK%% *}}"; exit 0; fi\n'
        f"echo \"python $*\" >> '{log}'\n"
    )
    python.chmod(0o755)
    return FakeMachine(tmp_path / "bin", log, python)


def default_moment() -> str:
    [moment] = re.findall(r"SHIFTED_CLOCK:-([^}]+)}", SHIFTED.read_text())
    return moment


# --- ensure-faketime -------------------------------------------------------------------------


def test_faketime_on_path_is_used_and_nothing_is_installed(machine: FakeMachine) -> None:
    machine.faketime()
    machine.stub("apt-get")
    machine.stub("id", output="0")

    result, calls = machine.run(ENSURE)

    assert (result.returncode, result.stderr, calls) == (0, "", [])


def test_as_root_debian_faketime_comes_from_apt(machine: FakeMachine) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="0")

    result, calls = machine.run(ENSURE)

    assert result.returncode == 0, result.stderr
    assert calls == ["id -u", "apt-get update -qq", "apt-get install -y -qq faketime"]


def test_with_password_less_sudo_apt_installs_it_through_sudo(machine: FakeMachine) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="1000")
    machine.stub("sudo")

    result, calls = machine.run(ENSURE)

    assert result.returncode == 0, result.stderr
    assert calls[-2:] == [
        "sudo apt-get update -qq",
        "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime",
    ]


def test_on_macos_homebrew_installs_libfaketime(machine: FakeMachine) -> None:
    machine.stub("brew")

    result, calls = machine.run(ENSURE)

    assert result.returncode == 0, result.stderr
    assert calls == ["brew install libfaketime"]


def test_without_any_way_to_install_it_warns_on_stderr_and_exits_3(
    machine: FakeMachine,
) -> None:
    machine.stub("apt-get")
    machine.stub("id", output="1000")
    machine.stub("sudo", exit_code=1)  # asks for a password

    result, calls = machine.run(ENSURE)

    assert result.returncode == 3
    assert result.stderr.startswith(SKIPPED)
    assert "sudo apt-get install faketime" in result.stderr
    assert "brew install libfaketime" in result.stderr
    assert not any("install" in call for call in calls)


def test_a_failed_apt_install_warns_and_exits_3_not_1(machine: FakeMachine) -> None:
    machine.stub("apt-get", exit_code=100)
    machine.stub("id", output="0")

    result, _ = machine.run(ENSURE)

    assert result.returncode == 3
    assert SKIPPED in result.stderr


# --- test-shifted-clock ----------------------------------------------------------------------


def test_the_default_moment_is_seconds_before_a_months_end_at_midnight_utc() -> None:
    moment = datetime.datetime.fromisoformat(default_moment()).replace(tzinfo=datetime.UTC)
    later = moment + datetime.timedelta(seconds=60)

    assert later.date() > moment.date() and later.month != moment.month
    assert moment.hour == 23 and moment.minute == 59


def test_the_unit_tests_run_under_faketime_at_that_moment_in_utc(machine: FakeMachine) -> None:
    machine.faketime()
    moment = default_moment()

    result, calls = machine.run(SHIFTED, str(machine.python), "-x", PROBE_DATE=moment[:10])

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"unit tests under a shifted clock: {moment} UTC\n"
    assert calls == [
        f"faketime {moment} TZ=UTC",  # the probe that the clock moved
        f"faketime {moment} TZ=UTC",
        "python -m pytest tests/unit -q -p no:cacheprovider -x",
    ]


def test_shifted_clock_names_another_moment(machine: FakeMachine) -> None:
    machine.faketime()

    result, calls = machine.run(SHIFTED, str(machine.python), SHIFTED_CLOCK="2028-12-31 23:59:55")

    assert result.returncode == 0, result.stderr
    assert calls[-2:] == [
        "faketime 2028-12-31 23:59:55 TZ=UTC",
        "python -m pytest tests/unit -q -p no:cacheprovider",
    ]


def test_a_faketime_that_does_not_move_the_clock_fails_the_run(machine: FakeMachine) -> None:
    machine.faketime()

    result, calls = machine.run(SHIFTED, str(machine.python), PROBE_DATE="2026-12-02")

    assert result.returncode == 1
    assert "faketime did not move the clock (Python saw 2026-12-02, not 2027-02-28)" in (
        result.stderr
    )
    assert not any("pytest" in call for call in calls)


def test_a_faketime_that_cannot_run_fails_the_run_saying_so(machine: FakeMachine) -> None:
    machine.faketime(exit_code=127)

    result, calls = machine.run(SHIFTED, str(machine.python))

    assert result.returncode == 1
    assert "test-shifted-clock: faketime could not run" in result.stderr
    assert not any("pytest" in call for call in calls)


def test_without_faketime_the_run_is_skipped_with_the_warning_not_silently(
    machine: FakeMachine,
) -> None:
    result, calls = machine.run(SHIFTED, str(machine.python))

    assert result.returncode == 0
    assert result.stderr.startswith(SKIPPED)
    assert result.stdout == ""
    assert calls == []
