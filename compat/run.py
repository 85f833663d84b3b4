"""librdkafka's own test suite against FluxMQ and Apache Kafka 4.4 (`make compat`).

librdkafka is the engine under confluent-kafka (Python, Go, .NET, JavaScript),
node-rdkafka and kcat; its test-runner talks to a real broker. This script
builds it (compat/librdkafka.py), starts a broker with the suite's usual
profile and runs these passes, each on a fresh broker:

    default       -Q -E -L                    auto.create.topics.enable=true
    idempotent    -Q -E -L -P                 every producer idempotent
    noautocreate  -Q -E -L, scenario noautocreate    auto.create.topics.enable=false

(-Q quick mode, -E no sockem network-fault tests, -L no broker-less tests.)
The profile: num.partitions=4, group.initial.rebalance.delay.ms=0,
group.min.session.timeout.ms=1000, with TEST_KAFKA_VERSION=4.4.0, the version
whose API ranges FluxMQ advertises. Tests that shell out to Kafka's tools get
a KAFKA_PATH whose bin/*.sh (compat/kafka_home) run them from the Maven jars
(benchmarks/kafka/target/lib, `make bench-deps`).

Both brokers run with the StandardAuthorizer and allow.everyone.if.no.acl.found
(AUTHORIZER_PROFILE), so the ACL tests can set their ACLs. Apache Kafka 4.4
(KRaft, single node, from the same jars) runs the same passes
for the reference column: a test that fails on both is the environment (one
node, say), one that fails only on FluxMQ is a FluxMQ gap.

Results go to compat/results/<broker>.json; compat/matrix.py renders them
into docs/compatibility.md and checks compat/allowlist.txt (the tests FluxMQ
must pass; it only ever grows). An allowlisted test that fails is run once
more on its own before it counts as failed (the suite has timing-sensitive
tests and this machine has 2 cores).

    python compat/run.py                  FluxMQ and Kafka, every pass; matrix; allowlist check
    python compat/run.py --fluxmq-only    FluxMQ only (the Kafka column from the last reference run)
    python compat/run.py --tier ci        the CI tier: the tests in compat/ci_tier.txt, default pass
    python compat/run.py --tests 0011,0129 --passes default
    python compat/run.py --serve-kafka [defaults]   start Kafka 4.4 (the suite's profile, or
                                          Kafka's defaults) and wait: `pytest --reference-bootstrap`
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(HERE))

import brokers  # noqa: E402  benchmarks/brokers.py: the Kafka and FluxMQ processes
import librdkafka  # noqa: E402
import matrix  # noqa: E402

BUILD = HERE / "build"
RESULTS = HERE / "results"
KAFKA_VERSION = "4.4.0"
PASS_TIMEOUT_S = 1800
RETRY_TIMEOUT_S = 600

PROFILE = {"num.partitions": "4", "group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000"}
# Both brokers: an authorizer, so that the ACL tests' kafka-acls.sh calls work; with no
# ACL on a resource everyone may use it, as without an authorizer.
AUTHORIZER_PROFILE = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                 "allow.everyone.if.no.acl.found": "true"}


@dataclass(frozen=True)
class Pass:
    name: str
    args: tuple[str, ...]
    scenario: str = "default"  # TEST_SCENARIO: run-test.sh takes no -s (its arguments name modes)
    auto_create: bool = True


PASSES = {p.name: p for p in (
    Pass("default", ("-Q", "-E", "-L")),
    Pass("idempotent", ("-Q", "-E", "-L", "-P")),
    Pass("noautocreate", ("-Q", "-E", "-L"), scenario="noautocreate", auto_create=False),
)}

# '### Test "0011_produce_batch (sub test)" failed at 0011-produce_batch.c:123:fn() at <date>: ###'
# followed by the reason on the next line.
_FAILURE = re.compile(r'### Test "(\w+)[^"]*" failed at ([^ ]+) at [^#]*###\n(.*)')


@dataclass
class TestResult:
    state: str            # PASSED, FAILED, SKIPPED
    duration: float = 0.0
    reason: str = ""
    retried: bool = False

    def as_json(self) -> dict:
        out = {"state": self.state, "duration": round(self.duration, 1)}
        if self.reason:
            out["reason"] = self.reason
        if self.retried:
            out["retried"] = True
        return out


@dataclass
class Run:
    broker: str
    passes: dict[str, dict[str, TestResult]] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)  # the broker exited during a pass


# ----------------------------------------------------------------- environment
def kafka_home() -> Path:
    """A KAFKA_PATH for the suite: our bin/ and config/, and the Maven jars as libs/."""
    jars = brokers.KAFKA_LIB
    if not any(jars.glob("kafka-clients-*.jar")):
        raise SystemExit(f"compat: {jars} has no Kafka jars; run `make bench-deps` (Maven) first")
    home = BUILD / "kafka"
    home.mkdir(parents=True, exist_ok=True)
    for name, target in (("bin", HERE / "kafka_home" / "bin"), ("config", HERE / "kafka_home" / "config"),
                         ("libs", jars)):
        link = home / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return home


def start_broker(kind: str, workdir: Path, p: Pass) -> brokers.Broker:
    props = {**PROFILE, **AUTHORIZER_PROFILE, "auto.create.topics.enable": "true" if p.auto_create else "false"}
    if kind == "kafka":
        b = brokers.KafkaBroker(workdir, props)
    else:
        b = brokers.FluxBroker(workdir, props)
    b.start()
    return b


# ------------------------------------------------------------------- one pass
def run_suite(tests_dir: Path, bootstrap: str, p: Pass, tests: list[str] | None, workdir: Path,
              timeout: float) -> dict[str, TestResult]:
    """One test-runner invocation; the state of every test it knows."""
    conf = workdir / "test.conf"
    conf.write_text(f"bootstrap.servers={bootstrap}\n")
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    env = dict(os.environ, KAFKA_PATH=str(kafka_home()), BROKERS=bootstrap, TEST_KAFKA_VERSION=KAFKA_VERSION,
               TEST_SCENARIO=p.scenario, RDKAFKA_TEST_CONF=str(conf), TEST_REPORT=str(report))
    if tests:
        env["TESTS"] = ",".join(tests)
    else:
        env.pop("TESTS", None)
    # The test-runner changes what it runs when CI is set (0055 skips itself, timeouts stretch,
    # fewer tests run at once): drop it, so a CI host and a laptop fill the same matrix.
    env.pop("CI", None)
    log_path = workdir / "suite.log"
    with open(log_path, "ab") as log:
        try:
            subprocess.run(["./run-test.sh", *p.args], cwd=tests_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            log.write(f"\ncompat: the test-runner ran past {timeout:.0f} s and was killed\n".encode())
    return parse(report, log_path)


def parse(report: Path, log_path: Path) -> dict[str, TestResult]:
    reasons = {}
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    for name, where, why in _FAILURE.findall(re.sub(r"\x1b\[[0-9;]*m", "", text)):
        reasons.setdefault(name, f"{where}: {why.strip()}"[:300])
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        # No report: the runner crashed or was killed; whatever ran is unknown.
        return {}
    out = {}
    for name, t in data.get("tests", {}).items():
        if name.startswith("<"):
            continue  # <MAIN>: the runner itself
        state = t.get("state", "FAILED")
        if state not in ("PASSED", "SKIPPED"):
            state = "FAILED"
        out[name] = TestResult(state, float(t.get("duration", 0.0)), reasons.get(name, "") if state == "FAILED" else "")
    return out


def run_pass(run: Run, tests_dir: Path, p: Pass, tests: list[str] | None, allow: set[str]) -> None:
    """A fresh broker, the pass, then a second try for each allowlisted test that failed."""
    workdir = Path(tempfile.mkdtemp(prefix=f"compat-{run.broker}-{p.name}-", dir=BUILD))
    started = time.monotonic()
    broker = start_broker(run.broker, workdir, p)
    try:
        results = run_suite(tests_dir, broker.bootstrap, p, tests, workdir, PASS_TIMEOUT_S)
        for name in sorted(n for n, r in results.items() if r.state == "FAILED" and n in allow):
            again = run_suite(tests_dir, broker.bootstrap, p, [name], workdir, RETRY_TIMEOUT_S).get(name)
            if again is not None and again.state == "PASSED":
                results[name] = TestResult("PASSED", again.duration, f"first try: {results[name].reason}", True)
        if broker.proc.poll() is not None:
            run.crashes.append(f"{run.broker} exited with {broker.proc.returncode} during the {p.name} pass:\n"
                               + broker.log_tail())
    finally:
        broker.stop()
    run.passes[p.name] = results
    ran = sum(r.state != "SKIPPED" for r in results.values())
    passed = sum(r.state == "PASSED" for r in results.values())
    print(f"compat: {run.broker:7} {p.name:13} {passed:3} of {ran:3} passed in {time.monotonic() - started:5.0f} s "
          f"(log: {workdir / 'suite.log'})", flush=True)
    return results


# ------------------------------------------------------------------ results
def save(run: Run, lib_version: str, wall_s: float | None) -> Path:
    """Writes the run's passes into compat/results/<broker>.json (other passes kept);
    wall_s: the wall time of a full run (FluxMQ and Kafka, every pass), else None."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{run.broker}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    passes = {p: old.get("passes", {}).get(p) for p in PASSES}
    passes.update({name: {t: r.as_json() for t, r in sorted(res.items())} for name, res in run.passes.items()})
    data = {"broker": run.broker, "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "librdkafka": lib_version, "kafka_version": KAFKA_VERSION,
            "broker_settings": {**PROFILE, **AUTHORIZER_PROFILE},
            "passes": {p: r for p, r in passes.items() if r is not None},
            "full_run_wall_s": round(wall_s) if wall_s is not None else old.get("full_run_wall_s")}
    path.write_text(_dump(data))
    return path


def _dump(data: dict) -> str:
    """JSON with one test per line, so that a diff of two runs reads as a list of tests."""
    fields = {k: v for k, v in data.items() if k != "passes"}
    head = json.dumps(fields, indent=1, sort_keys=True)[:-2]  # without the closing "\n}"
    passes = []
    for name, results in data["passes"].items():
        tests = ",\n".join(f'  "{t}": {json.dumps(r, sort_keys=True)}' for t, r in sorted(results.items()))
        passes.append(f' "{name}": {{\n{tests}\n }}')
    return head + ',\n "passes": {\n' + ",\n".join(passes) + "\n }\n}\n"


def serve_kafka(profile: bool) -> None:
    """Kafka 4.4 until interrupted: the reference for `pytest --reference-bootstrap`.
    With the suite's profile, or (profile=False) with Kafka's defaults, as FluxMQ's own
    suites expect them."""
    BUILD.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="kafka-serve-", dir=BUILD))
    if profile:
        kafka_home()
        broker = start_broker("kafka", workdir, PASSES["default"])
    else:
        broker = brokers.KafkaBroker(workdir)
        broker.start()
    print(f"Apache Kafka {KAFKA_VERSION} on {broker.bootstrap} (data in {workdir}); Ctrl-C stops it", flush=True)
    try:
        broker.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fluxmq-only", action="store_true", help="skip the Apache Kafka reference run")
    ap.add_argument("--tier", choices=("full", "ci"), default="full")
    ap.add_argument("--passes", default=None, help="comma-separated: default,idempotent,noautocreate")
    ap.add_argument("--tests", default=None, help="comma-separated test numbers or names (TESTS=)")
    ap.add_argument("--serve-kafka", choices=("profile", "defaults"), nargs="?", const="profile",
                    help="start Apache Kafka 4.4 and wait: with the suite's profile, or with Kafka's defaults")
    args = ap.parse_args(argv)
    if args.serve_kafka:
        serve_kafka(args.serve_kafka == "profile")
        return 0
    BUILD.mkdir(exist_ok=True)
    for old in BUILD.glob("compat-*"):  # the previous run's brokers and logs
        shutil.rmtree(old, ignore_errors=True)
    tests_dir = librdkafka.ensure_built(BUILD)
    allow = matrix.load_allowlist()
    if args.tier == "ci":
        passes, tests = ["default"], matrix.load_ci_tier()
    else:
        passes = args.passes.split(",") if args.passes else list(PASSES)
        tests = args.tests.split(",") if args.tests else None
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        ap.error(f"unknown pass {unknown}; passes are {', '.join(PASSES)}")
    kinds = ["fluxmq"] + ([] if args.fluxmq_only or args.tier == "ci" else ["kafka"])
    started = time.monotonic()
    runs = {}
    for kind in kinds:
        run = runs[kind] = Run(kind)
        for name in passes:
            run_pass(run, tests_dir, PASSES[name], tests, {t for (p, t) in allow if p == name})
    wall = time.monotonic() - started
    if args.tier == "full" and not args.tests:  # whole passes: the results and the matrix
        full = not args.passes and not args.fluxmq_only
        for run in runs.values():
            save(run, librdkafka.version(BUILD), wall if full else None)
        matrix.update_docs()
    print(matrix.summary(runs["fluxmq"].passes, wall))
    failures = matrix.allowlist_failures(runs["fluxmq"].passes, allow, tests) + runs["fluxmq"].crashes
    if failures:
        print("compat: FluxMQ failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
