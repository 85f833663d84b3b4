"""librdkafka's source and its test-runner, fetched and built at run time.

The npm package @confluentinc/kafka-javascript carries librdkafka's whole
source tree, tests included, under deps/librdkafka; the registry is one this
project may reach, so `npm pack` brings it. Nothing fetched is committed: it
all lives under compat/build/ (ignored by git), and a stamp file records
what was built so a second run starts at once.

Build: ./configure without GSSAPI and libcurl (neither is under test), the
library (`make libs`), then the test-runner and its interceptor plugin
(`make -C tests build`). The system needs gcc/g++, make, pkg-config and the
development files of OpenSSL, zlib and zstd (Makefile: compat-deps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

NPM_PACKAGE = "@confluentinc/kafka-javascript"
NPM_VERSION = "1.10.1"          # carries librdkafka 2.15.1
CONFIGURE_FLAGS = ["--disable-gssapi", "--disable-curl", "--no-download"]
BUILD_TIMEOUT_S = 1800


def source_dir(build: Path) -> Path:
    return build / f"kafka-javascript-{NPM_VERSION}" / "deps" / "librdkafka"


def tests_dir(build: Path) -> Path:
    return source_dir(build) / "tests"


def _run(cmd: list[str], cwd: Path, log) -> None:
    log.write(f"$ {' '.join(cmd)}  (in {cwd})\n".encode())
    log.flush()
    res = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    if res.returncode != 0:
        raise SystemExit(f"compat: `{' '.join(cmd)}` failed in {cwd} (exit {res.returncode}); see {log.name}")


def _fetch(build: Path, log) -> None:
    """npm pack the package and unpack it as kafka-javascript-<version>/."""
    tarball = build / f"confluentinc-kafka-javascript-{NPM_VERSION}.tgz"
    if not tarball.exists():
        _run(["npm", "pack", "--silent", f"{NPM_PACKAGE}@{NPM_VERSION}"], build, log)
    target = build / f"kafka-javascript-{NPM_VERSION}"
    staging = build / "unpack.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(staging, filter="tar")
    shutil.rmtree(target, ignore_errors=True)
    (staging / "package").rename(target)
    staging.rmdir()


def ensure_built(build: Path) -> Path:
    """The tests/ directory of a built librdkafka (test-runner ready); builds it if need be."""
    build.mkdir(parents=True, exist_ok=True)
    stamp = build / f"librdkafka-{NPM_VERSION}.built"
    runner = tests_dir(build) / "test-runner"
    if stamp.exists() and runner.exists():
        return tests_dir(build)
    missing = [tool for tool in ("npm", "make", "gcc", "g++", "pkg-config") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"compat: {', '.join(missing)} not on PATH: building librdkafka's test-runner needs "
                         "Node.js (npm) and a C/C++ toolchain (`make apt-deps` installs the rest)")
    jobs = str(max(1, os.cpu_count() or 1))
    with open(build / "build.log", "ab") as log:
        print(f"compat: fetching and building librdkafka from {NPM_PACKAGE}@{NPM_VERSION} "
              f"(log: {log.name}) ...", flush=True)
        _fetch(build, log)
        src = source_dir(build)
        _run(["./configure", *CONFIGURE_FLAGS], src, log)
        _run(["make", f"-j{jobs}", "libs"], src, log)
        _run(["make", f"-j{jobs}", "-C", "tests", "build"], src, log)
    stamp.write_text(f"{NPM_PACKAGE}@{NPM_VERSION}\n")
    return tests_dir(build)


def version(build: Path) -> str:
    """librdkafka's version string, from its header."""
    for line in (source_dir(build) / "src" / "rdkafka.h").read_text().splitlines():
        if line.startswith("#define RD_KAFKA_VERSION "):
            v = int(line.split()[2], 16)
            return f"{v >> 24 & 0xff}.{v >> 16 & 0xff}.{v >> 8 & 0xff}"
    return "?"
