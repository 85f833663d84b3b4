"""Running Apache Kafka's Java clients and tools against a broker.

tests/java is a small Maven project: the scenario programs under
io.fluxmq.itest (compiled to tests/java/target/classes) and every jar they
and Kafka's command-line tools need (copied to tests/java/target/lib by
`make java-deps`). This module builds that on first use, then runs a class
with `java -cp classes:lib/*`, always with a timeout.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = REPO_ROOT / "tests" / "java"
CLASSES = JAVA_DIR / "target" / "classes"
LIB = JAVA_DIR / "target" / "lib"
# Digest of the sources the current build came from (see _stale).
STAMP = JAVA_DIR / "target" / "itest-sources.sha256"

# The same command as `make java-deps`.
MVN_BUILD = ["mvn", "-q", "-B", "-f", str(JAVA_DIR / "pom.xml"), "-DskipTests",
             "package", "dependency:copy-dependencies", "-DoutputDirectory=target/lib"]
BUILD_TIMEOUT = 900.0
# Every program bounds itself with a watchdog; this is the outer bound.
RUN_TIMEOUT = 270.0
# Small, quick-starting JVMs: these programs live for seconds.
JVM_OPTS = ["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]


@dataclass
class JavaResult:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        """Everything a failing assertion should show."""
        return (f"$ {' '.join(self.cmd[-8:])}\nexit {self.returncode}\n"
                f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}")


def _source_digest() -> str:
    """A digest of pom.xml and everything under src/: what the build depends on."""
    h = hashlib.sha256()
    for path in [JAVA_DIR / "pom.xml", *sorted(p for p in (JAVA_DIR / "src").rglob("*") if p.is_file())]:
        h.update(str(path.relative_to(JAVA_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _stale() -> bool:
    """True when the jars or classes are missing or were built from other sources."""
    if not any(LIB.glob("kafka-clients-*.jar")) or not any(LIB.glob("kafka-tools-*.jar")):
        return True
    if not any(CLASSES.rglob("*.class")):
        return True
    return not STAMP.is_file() or STAMP.read_text().strip() != _source_digest()


def build() -> None:
    """Build tests/java (classes and dependency jars) when missing or out of date."""
    if not _stale():
        return
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not on PATH: the Java client tests need Java 17+ and Maven")
    try:
        proc = subprocess.run(MVN_BUILD, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building tests/java took longer than {BUILD_TIMEOUT}s")
    if proc.returncode != 0:
        pytest.fail(f"building tests/java failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    STAMP.write_text(_source_digest() + "\n")
    if _stale():
        pytest.fail("tests/java built, but target/classes or target/lib is still missing")


def classpath() -> str:
    return f"{CLASSES}:{LIB}/*"


def run_class(main_class: str, *args: str, stdin: str | None = None,
              timeout: float = RUN_TIMEOUT) -> JavaResult:
    """Run `main_class` with the test classpath; never hangs longer than `timeout`."""
    cmd = ["java", *JVM_OPTS, "-cp", classpath(), main_class, *map(str, args)]
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, input=stdin, capture_output=True, text=True,
                              timeout=timeout, stdin=None if stdin is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"{main_class} did not finish within {timeout}s\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}")
    return JavaResult(cmd, proc.returncode, proc.stdout, proc.stderr)


def run_scenario(name: str, bootstrap: str, topic: str, *args: str, timeout: float = RUN_TIMEOUT) -> JavaResult:
    """Run one io.fluxmq.itest program and require its success line ("OK Name", exit 0)."""
    r = run_class(f"io.fluxmq.itest.{name}", bootstrap, topic, *args, timeout=timeout)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines and lines[-1] == f"OK {name}", r.describe()
    return r
