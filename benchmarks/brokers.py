"""The two brokers under test, started one at a time on 127.0.0.1, each on a fresh data dir.

KafkaBroker runs Apache Kafka 4.4.0 in KRaft single-node mode (process.roles=broker,controller)
from the Maven Central jars in benchmarks/kafka/target/lib, the way bin/kafka-server-start.sh
does: `kafka.tools.StorageTool format` with a random cluster id first, then `kafka.Kafka` with
the script's JVM flags (-Xmx1G -Xms1G, G1 with its pause settings, GC log). FluxBroker runs
`python -m fluxmq serve`.

Both expose the same small surface: start() returns the seconds from process launch to the
first successful Metadata response (W6), kill9() / start() for recovery, stop(), and the
process group's RSS read from /proc (RssSampler).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kwire  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
KAFKA_LIB = BENCH / "kafka" / "target" / "lib"
KAFKA_VERSION = "4.4.0"

# bin/kafka-server-start.sh: KAFKA_HEAP_OPTS; bin/kafka-run-class.sh: KAFKA_JVM_PERFORMANCE_OPTS,
# KAFKA_JMX_OPTS and the -loggc option kafka-server-start.sh passes.
KAFKA_JVM_FLAGS = [
    "-Xmx1G", "-Xms1G",
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
    "-Dcom.sun.management.jmxremote", "-Dcom.sun.management.jmxremote.authenticate=false",
    "-Dcom.sun.management.jmxremote.ssl=false",
]

# The distribution's config/server.properties values that are not about addresses and paths.
KAFKA_DEFAULT_PROPS = {
    "num.network.threads": "3",
    "num.io.threads": "8",
    "socket.send.buffer.bytes": "102400",
    "socket.receive.buffer.bytes": "102400",
    "socket.request.max.bytes": "104857600",
    "num.partitions": "1",
    "num.recovery.threads.per.data.dir": "1",
    "offsets.topic.replication.factor": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "log.retention.hours": "168",
    "log.segment.bytes": "1073741824",
    "log.retention.check.interval.ms": "300000",
    "group.initial.rebalance.delay.ms": "0",
}

# Single-node KRaft, combined roles, static quorum of one voter.
KAFKA_KRAFT_PROPS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
}

LOG4J2_SERVER = """\
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
"""

# bin/kafka-run-class.sh uses config/tools-log4j2.yaml for the tools: WARN to stderr.
LOG4J2_TOOLS = """\
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_classpath() -> str:
    if not KAFKA_LIB.is_dir() or not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        raise SystemExit(f"{KAFKA_LIB} is missing: run `mvn -q -B -f benchmarks/kafka/pom.xml "
                         "dependency:copy-dependencies -DoutputDirectory=target/lib`")
    return str(KAFKA_LIB / "*")


def java_tool_command(main_class: str, args: list[str], workdir: Path, heap: str = "-Xmx512M") -> list[str]:
    """A Kafka tool the way bin/kafka-run-class.sh starts it (kafka-*-perf-test.sh set -Xmx512M)."""
    log4j = workdir / "tools-log4j2.properties"
    if not log4j.exists():
        log4j.write_text(LOG4J2_TOOLS)
    return ["java", heap, "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", kafka_classpath(), main_class, *args]


# ---------------------------------------------------------------------------------------------
# Memory: the broker's process group, read from /proc

def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pids):
    """`pids` and their live descendants, each once."""
    stack, seen = list(pids), set()
    while stack:
        p = stack.pop()
        if p not in seen:
            seen.add(p)
            yield p
            stack += _children(p)


def tree_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) in bytes summed over `pid` and its descendants; (0, 0) if gone."""
    total = anon = 0
    for p in _tree([pid]):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                    elif line.startswith("RssAnon:"):
                        anon += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total, anon


def tree_cpu_seconds(pids) -> float:
    """User + system CPU seconds consumed so far by `pids` and their descendants (every thread
    of a process is in its /proc/<pid>/stat); processes already gone count as 0."""
    ticks = 0
    for p in _tree(pids):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU used by the broker and by the clients between start() and stop(), in cores."""

    def __init__(self, broker_pid: int):
        self.broker_pid = broker_pid

    def start(self, client_pids):
        self.client_pids = list(client_pids)
        self.t0 = time.monotonic()
        self.b0, self.c0 = tree_cpu_seconds([self.broker_pid]), tree_cpu_seconds(self.client_pids)

    def stop(self) -> dict:
        seconds = time.monotonic() - self.t0
        broker = tree_cpu_seconds([self.broker_pid]) - self.b0
        clients = tree_cpu_seconds(self.client_pids) - self.c0
        return {"seconds": seconds, "broker_cpu_s": broker, "client_cpu_s": clients,
                "broker_cores": broker / seconds, "client_cores": clients / seconds}


class RssSampler:
    """Samples the RSS of a process tree every `interval` seconds in a background thread;
    peak(t0, t1) is the largest sample taken between two time.monotonic() instants."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            rss, anon = tree_rss(self.pid)
            if rss:
                self.samples.append((time.monotonic(), rss, anon))
            self._stop.wait(self.interval)

    def now(self) -> tuple[int, int]:
        return tree_rss(self.pid)

    def peak(self, t0: float, t1: float | None = None) -> tuple[int, int]:
        t1 = t1 if t1 is not None else time.monotonic()
        window = [(r, a) for t, r, a in self.samples if t0 <= t <= t1]
        if not window:
            return self.now()
        return max(r for r, _ in window), max(a for _, a in window)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)


# ---------------------------------------------------------------------------------------------

class BrokerError(RuntimeError):
    pass


class Broker:
    """A broker process in its own session (so kill -9 reaches the whole tree)."""

    name = "?"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.sampler: RssSampler | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict:
        return dict(os.environ)

    @classmethod
    def settings(cls) -> dict:
        raise NotImplementedError

    def log_tail(self, n: int = 30) -> str:
        out = self.workdir / f"{self.name}.out"
        try:
            return "\n".join(out.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def start(self, ready_topic: tuple[str, int] | None = None, timeout: float = 180.0) -> float:
        """Launch and wait for the first successful Metadata response (with `ready_topic`'s
        partitions all led, when given). Returns seconds from launch to that response."""
        self.starts += 1
        out = open(self.workdir / f"{self.name}.out", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env(), cwd=self.workdir,
                                     start_new_session=True)
        out.close()
        elapsed = self.wait_ready(t0, ready_topic, timeout)
        self.sampler = RssSampler(self.pid)
        return elapsed

    def wait_ready(self, t0: float, ready_topic, timeout: float) -> float:
        while True:
            if self.proc.poll() is not None:
                raise BrokerError(f"{self.name} exited with {self.proc.returncode} during start-up:\n"
                                  + self.log_tail())
            try:
                with kwire.Connection(self.host, self.port, timeout=2.0) as c:
                    if getattr(self, "protocol", "PLAINTEXT") != "PLAINTEXT":
                        # A SASL listener answers nothing but ApiVersions before authentication;
                        # it opens once the broker has started.
                        if c.api_versions():
                            return time.monotonic() - t0
                    while True:
                        md = c.metadata([ready_topic[0]] if ready_topic else None)
                        ok = md["brokers"] and (ready_topic is None or kwire.topic_ready(md, *ready_topic))
                        if ok:
                            return time.monotonic() - t0
                        if time.monotonic() - t0 > timeout:
                            break
                        time.sleep(0.005)
            except (OSError, ConnectionError, ValueError, IndexError):
                pass
            if time.monotonic() - t0 > timeout:
                self.kill9()
                raise BrokerError(f"{self.name} not ready after {timeout:.0f} s:\n" + self.log_tail())
            time.sleep(0.005)

    def _close_sampler(self):
        if self.sampler:
            self.sampler.close()
            self.sampler = None

    def kill9(self):
        """kill -9 the whole process group, as a crash would."""
        self._close_sampler()
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def stop(self, timeout: float = 30.0):
        self._close_sampler()
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        except ProcessLookupError:
            pass

    def probe(self):
        return kwire.Connection(self.host, self.port)

    def api_versions(self) -> dict[int, tuple[int, int]]:
        with self.probe() as c:
            return c.api_versions()

    def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        with self.probe() as c:
            res = c.end_offsets(topic, list(range(partitions)))
        bad = {p: e for p, (e, _) in res.items() if e}
        if bad:
            raise BrokerError(f"ListOffsets errors {bad}")
        return {p: o for p, (_, o) in res.items()}

    def wait_end_offsets(self, topic: str, partitions: int, expected: int, t0: float,
                         timeout: float = 180.0) -> float:
        """Seconds from t0 until the sum of latest offsets equals `expected` (all recovered
        data visible)."""
        while time.monotonic() - t0 < timeout:
            try:
                if sum(self.end_offsets(topic, partitions).values()) == expected:
                    return time.monotonic() - t0
            except (OSError, ConnectionError, BrokerError):
                pass
            time.sleep(0.005)
        raise BrokerError(f"{self.name}: end offsets never reached {expected}")


class KafkaBroker(Broker):
    name = "kafka"

    def __init__(self, workdir: Path, props: dict[str, str] | None = None, protocol: str = "PLAINTEXT"):
        """`props`: server.properties entries over the defaults (compat/run.py's profile).
        `protocol`: the security protocol of the client (and inter-broker) listener, named
        after it; SASL ones need their sasl.* entries in `props` (tests/integration/test_acls.py)."""
        super().__init__(workdir)
        self.protocol = protocol
        self.controller_port = free_port()
        self.log_dir = self.workdir / "kafka-logs"
        self.props = dict(KAFKA_DEFAULT_PROPS)
        self.props.update(KAFKA_KRAFT_PROPS)
        self.props.update({
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"{protocol}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"{protocol}://127.0.0.1:{self.port}",
            "inter.broker.listener.name": protocol,
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{protocol}:{protocol}",
            "log.dirs": str(self.log_dir),
        })
        self.props.update(props or {})
        self.config = self.workdir / "server.properties"
        self.config.write_text("".join(f"{k}={v}\n" for k, v in self.props.items()))
        (self.workdir / "log4j2.properties").write_text(
            LOG4J2_SERVER.format(log=self.workdir / "server.log"))
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.format_seconds = self._format()

    def _format(self) -> float:
        """bin/kafka-storage.sh format -t <random id> -c server.properties"""
        t0 = time.monotonic()
        cmd = ["java", "-Xmx512M", f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
               "-cp", kafka_classpath(), "kafka.tools.StorageTool", "format",
               f"--cluster-id={self.cluster_id}", "-c", str(self.config)]  # "=": an id may start with "-"
        res = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise BrokerError(f"kafka StorageTool format failed:\n{res.stdout}\n{res.stderr}")
        return time.monotonic() - t0

    def command(self) -> list[str]:
        gc_log = self.workdir / "kafkaServer-gc.log"
        return ["java", *KAFKA_JVM_FLAGS,
                f"-Xlog:gc*:file={gc_log}:time,tags:filecount=10,filesize=100M",
                f"-Dkafka.logs.dir={self.workdir}",
                f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
                "-cp", kafka_classpath(), "kafka.Kafka", str(self.config)]

    @classmethod
    def settings(cls) -> dict:
        return {"version": f"Apache Kafka {KAFKA_VERSION} (Maven Central jars, KRaft combined mode)",
                "jvm": " ".join(KAFKA_JVM_FLAGS) + " -Xlog:gc*:file=kafkaServer-gc.log (as kafka-server-start.sh)",
                "server.properties": {**KAFKA_KRAFT_PROPS, **KAFKA_DEFAULT_PROPS},
                "note": "listeners on random 127.0.0.1 ports; log.dirs a fresh dir under "
                        "benchmarks/results/tmp; storage formatted with a random cluster id"}


class FluxBroker(Broker):
    name = "fluxmq"

    def __init__(self, workdir: Path, props: dict[str, str] | None = None):
        """`props`: configs over the defaults, as --override key=value (compat/run.py's profile)."""
        super().__init__(workdir)
        self.data_dir = self.workdir / "data"
        self.props = dict(props or {})

    def command(self) -> list[str]:
        overrides = [arg for k, v in self.props.items() for arg in ("--override", f"{k}={v}")]
        return [sys.executable, "-m", "fluxmq", "serve", "--host", self.host, "--port", str(self.port),
                "--data-dir", str(self.data_dir), *overrides]

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        return env

    @classmethod
    def settings(cls) -> dict:
        return {"version": f"FluxMQ {fluxmq_version()} ({fluxmq_git()})",
                "command": "python -m fluxmq serve --host 127.0.0.1 --port <random> --data-dir <fresh dir>",
                "native": fluxmq_native_info(),
                "note": "every other setting at its default"}


def fluxmq_version() -> str:
    try:
        out = subprocess.run([sys.executable, "-m", "fluxmq", "--version"], check=False, capture_output=True,
                             text=True, cwd=REPO, timeout=30)
        return out.stdout.strip().split()[-1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def fluxmq_native_info() -> dict:
    try:
        out = subprocess.run([sys.executable, "-m", "fluxmq", "info"], check=False, capture_output=True, text=True,
                             cwd=REPO, timeout=30)
        return dict(line.split(": ", 1) for line in out.stdout.splitlines()[1:] if ": " in line)
    except (OSError, subprocess.SubprocessError):
        return {}


def fluxmq_git() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               check=False, capture_output=True, text=True, timeout=10).stdout.strip()
        return f"git {rev}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "git ?"


BROKERS = {"kafka": KafkaBroker, "fluxmq": FluxBroker}
