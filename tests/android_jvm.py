"""The Android core module compiled for the JVM, shared by the tests that run it beside the Python side."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "android_demo" / "core" / "src"
JUNIT = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
JDK_HINT = "install a JDK and junit4 (Debian: apt-get install default-jdk-headless junit4; .ci/run does this)"


def compile_core(classes: Path) -> Path:
    """The core module and its tests (Probe, the benchmark) compiled into ``classes``; skips without a JDK or junit4."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip(f"no JDK (javac) on this machine: the Android core's JVM tests did not run; {JDK_HINT}")
    if not all(jar.is_file() for jar in JUNIT):
        pytest.skip(f"junit4 not found at {JUNIT[0]}: the Android core's JVM tests did not run; {JDK_HINT}")
    sources = sorted(str(p) for p in CORE.rglob("*.java"))
    done = subprocess.run(["javac", "-Xlint:all", "-Werror", "--release", "11", "-cp", ":".join(map(str, JUNIT)), "-d", str(classes), *sources],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"android_demo/core does not compile:\n{done.stdout}{done.stderr}"
    return classes


def java(classes: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", ":".join([str(classes), *map(str, JUNIT)]), *args], capture_output=True, text=True, timeout=timeout)
