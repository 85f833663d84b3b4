"""Cold start-up of FluxMQ, for working on it (W6 on an empty data dir, alone and repeatable).

    python benchmarks/startup_profile.py [-n 10] [--top 20] [--against DIR] [--profile-runs 3]

Starts the broker exactly as the side-by-side benchmark does (brokers.FluxBroker: `python -m
fluxmq serve --host 127.0.0.1 --port <free> --data-dir <fresh dir>`, same environment) N times
and times exec -> first successful Metadata v4 response with Broker.wait_ready. Prints the
median, the CPU the broker had used when it answered (from /proc schedstat; steadier than wall
time on a busy machine) and, for scale, the bare interpreter's start. Then a few starts under
`python -X importtime`: the modules with the largest self time (which includes compiling the
source when no .pyc is cached, e.g. under PYTHONDONTWRITEBYTECODE=1 with an editable install
that `make install` did not byte-compile) and the import time per package.

--against DIR alternates every start with a start of the FluxMQ checkout in DIR (put first on
PYTHONPATH), so a before/after comparison sees the same machine load.

Run it with the interpreter you want measured (sys.executable is what gets started).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402


class Checkout(brokers.FluxBroker):
    """FluxBroker, optionally running another checkout and extra interpreter flags."""

    def __init__(self, workdir: Path, repo: Path | None = None, python_flags: tuple[str, ...] = ()):
        super().__init__(workdir)
        self.repo, self.python_flags = repo, python_flags

    def command(self) -> list[str]:
        cmd = super().command()
        return [cmd[0], *self.python_flags, *cmd[1:]]

    def env(self) -> dict:
        env = super().env()
        if self.repo is not None:
            env["PYTHONPATH"] = str(self.repo) + os.pathsep + env["PYTHONPATH"]
        return env


def cpu_ms(pid: int) -> float:
    """CPU time of every thread of `pid` so far (schedstat: nanoseconds on CPU)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e6


def cold_start(repo: Path | None = None, python_flags: tuple[str, ...] = ()) -> tuple[float, float, str]:
    """(ms to the first Metadata response, broker CPU ms by then, broker output so far)."""
    workdir = Path(tempfile.mkdtemp(prefix="fluxmq-startup-"))
    broker = Checkout(workdir, repo, python_flags)
    try:
        wall = broker.start(timeout=30) * 1000
        cpu = cpu_ms(broker.pid)
        out = (workdir / f"{broker.name}.out").read_text(errors="replace")
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return wall, cpu, out


def bare_interpreter_ms(n: int) -> float:
    """The floor: exec -> exit of the same interpreter doing nothing."""
    times = []
    for _ in range(n + 2):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.monotonic() - t0) * 1000)
    return statistics.median(times[2:])  # the first ones warm the page cache


def summary(label: str, runs: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return (f"{label}: median {statistics.median(walls):.1f} ms (min {min(walls):.1f}, max {max(walls):.1f}; "
            f"broker CPU median {statistics.median(cpus):.1f} ms) over {len(runs)} cold starts\n"
            f"  {' '.join(f'{w:.0f}' for w in walls)}")


def import_profile(outputs: list[str], top: int) -> str:
    """Per-module median over runs of `-X importtime` lines (`import time: self_us | cumulative_us |
    <indent>module`). Modules loaded with importlib.import_module (the handler modules) are not
    itemized by -X importtime; what they import is, as top-level rows."""
    runs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for out in outputs:
        for line in out.splitlines():
            if line.startswith("import time:") and "self [us]" not in line:
                self_us, cum_us, name = line[len("import time:"):].split("|")
                runs[name.strip()].append((int(self_us), int(cum_us)))
    rows = [(statistics.median(s for s, _ in v), statistics.median(c for _, c in v), name)
            for name, v in runs.items()]
    per_package: dict[str, float] = defaultdict(float)
    for self_us, _cum, name in rows:
        parts = name.split(".")
        per_package[".".join(parts[:2]) if parts[0] == "fluxmq" else parts[0]] += self_us
    total_ms = sum(r[0] for r in rows) / 1000
    lines = [f"imports (median of {len(outputs)} runs under -X importtime, which adds its own overhead): "
             + f"{len(rows)} modules, {total_ms:.1f} ms",
             f"  top {top} modules by self time (ms; self includes compiling the source when no .pyc is cached):"]
    for self_us, cum_us, name in sorted(rows, reverse=True)[:top]:
        lines.append(f"    {self_us / 1000:6.1f}  (cumulative {cum_us / 1000:6.1f})  {name}")
    lines.append(f"  top {top} packages by summed self time (ms):")
    for name, us in sorted(per_package.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {us / 1000:6.1f}  {name}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10, help="cold starts to time (default 10)")
    ap.add_argument("--top", type=int, default=20, help="rows of the import profile (default 20)")
    ap.add_argument("--against", type=Path, help="another FluxMQ checkout, timed alternately with this one")
    ap.add_argument("--profile-runs", type=int, default=3, help="starts under -X importtime (default 3)")
    args = ap.parse_args()

    cached = os.path.exists(importlib.util.cache_from_source(str(brokers.REPO / "fluxmq" / "server.py")))
    print(f"{sys.executable} {sys.version.split()[0]}; PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}; fluxmq bytecode cached: {'yes' if cached else 'no'}")
    print(f"bare interpreter (`python -c pass`, with site): median {bare_interpreter_ms(args.n):.1f} ms")
    this, other = [], []
    for _ in range(args.n):
        this.append(cold_start()[:2])
        if args.against:
            other.append(cold_start(args.against.resolve())[:2])
    print(summary(f"this checkout ({brokers.REPO})", this))
    if args.against:
        print(summary(f"against {args.against}", other))
    outputs = [cold_start(python_flags=("-X", "importtime"))[2] for _ in range(args.profile_runs)]
    print(import_profile(outputs, args.top))


if __name__ == "__main__":
    main()
