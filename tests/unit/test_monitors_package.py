"""monitors/ is the installable jinbao-monitors distribution: its wheel, installed into a fresh virtualenv with
nothing of this repository on the path, gives every exporter's console script and the package data (the
example configurations, the alert and Alertmanager files)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPORTERS = ("backup", "replication", "environment", "pki")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of monitors/ (as roles/monitoring builds it) and installed into a new venv."""
    tmp = tmp_path_factory.mktemp("monitors-package")
    shutil.copytree(ROOT / "monitors", tmp / "src", ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"),
                            str(tmp / "src")], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    wheels = list((tmp / "dist").glob("jinbao_monitors-*-py3-none-any.whl"))
    assert len(wheels) == 1, f"expected one jinbao_monitors wheel in {tmp / 'dist'}, found {wheels}"
    venv.EnvBuilder(with_pip=True).create(tmp / "venv")
    install = subprocess.run([str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheels[0])],
                             capture_output=True, text=True, timeout=900, cwd=tmp)
    assert install.returncode == 0, install.stdout + install.stderr
    return tmp / "venv"


def _site_packages(venv_dir: Path) -> Path:
    return next((venv_dir / "lib").glob("python3*/site-packages"))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_each_console_script_of_the_installed_wheel_runs(installed: Path, exporter: str, tmp_path: Path) -> None:
    script = installed / "bin" / f"jinbao-{exporter}-exporter"
    assert script.exists(), f"{script} missing: [project.scripts] of monitors/pyproject.toml"
    # From an empty directory, so the repository's own monitors/ cannot be what is imported.
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--config.file" in helped.stdout
    example = _site_packages(installed) / "monitors" / exporter / "example.yml"
    assert example.exists(), f"package data: {example} is not in the wheel"
    checked = subprocess.run([str(script), "--check-config", "--config.file", str(example)], capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid (" in checked.stdout


def test_the_wheel_carries_the_alert_and_alertmanager_files(installed: Path) -> None:
    package = _site_packages(installed) / "monitors"
    shipped = {p.relative_to(package).as_posix() for p in package.rglob("*.yml")}
    expected = {p.relative_to(ROOT / "monitors").as_posix() for p in (ROOT / "monitors").rglob("*.yml")}
    assert expected <= shipped, f"missing from the wheel: {sorted(expected - shipped)}"


def test_the_installed_package_is_the_one_in_the_venv(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "bin" / "python"), "-c", "import monitors; print(monitors.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
