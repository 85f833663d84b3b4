"""The `fluxmq` command line: `topics` create/list/describe/delete against a
real broker process (fluxmq.tools.client underneath), `info`, and `serve`
refusing the options that are not available yet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60.0


def fluxmq(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fluxmq", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT)


def ok(*args: str) -> str:
    r = fluxmq(*args)
    assert r.returncode == 0, f"fluxmq {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}"
    return r.stdout


def test_topics_help_lists_the_commands():
    out = ok("topics", "--help")
    assert {"create", "list", "describe", "delete"} <= set(out.split())


def test_topics_create_list_describe_delete(broker, topic_name):
    b = ("topics", "-b", broker.bootstrap)
    assert ok(*b, "create", topic_name, "--partitions", "3", "--config", "retention.ms=3600000") \
        == f"Created topic {topic_name} with 3 partition(s).\n"
    assert topic_name in ok(*b, "list").splitlines()

    lines = ok(*b, "describe", topic_name).splitlines()
    assert lines[0].startswith(f"Topic: {topic_name}\tTopicId: ") and lines[0].endswith("\tPartitionCount: 3")
    assert lines[1:] == [f"\tPartition: {p}\tLeader: 1\tLeaderEpoch: 0\tReplicas: 1\tIsr: 1" for p in range(3)]

    again = fluxmq(*b, "create", topic_name)
    assert again.returncode != 0 and f"cannot create topic {topic_name}: TOPIC_ALREADY_EXISTS" in again.stderr

    assert ok(*b, "delete", topic_name) == f"Deleted topic {topic_name}.\n"
    assert topic_name not in ok(*b, "list").splitlines()
    gone = fluxmq(*b, "describe", topic_name)
    assert gone.returncode != 0 and f"cannot describe topic {topic_name}: UNKNOWN_TOPIC_OR_PARTITION" in gone.stderr


def test_topics_without_a_broker_says_so():
    from brokerproc import free_port

    r = fluxmq("topics", "-b", f"127.0.0.1:{free_port()}", "list")
    assert r.returncode != 0 and "cannot reach the broker at 127.0.0.1:" in r.stderr


def test_info_shows_the_native_paths():
    keys = {line.split(":", 1)[0] for line in ok("info").splitlines() if ":" in line}
    assert {"crc32c", "segment_writes", "segment_syncs"} <= keys


def test_serve_refuses_enable_replication(tmp_path):
    r = fluxmq("serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / "data"),
               "--enable-replication")
    assert r.returncode != 0
    assert "--enable-replication: not available in this version of FluxMQ yet" in r.stderr
    assert "the broker did not start" in r.stderr
    assert not (tmp_path / "data").exists()


def test_serve_refuses_several_log_dirs(tmp_path):
    """Several log dirs (JBOD) are not built: refused, never taken as one path."""
    dirs = f"{tmp_path / 'a'},{tmp_path / 'b'}"
    r = fluxmq("serve", "--host", "127.0.0.1", "--port", "0", "--override", f"log.dirs={dirs}")
    assert r.returncode == 2 and "names several directories" in r.stderr, r.stderr
    assert not any(tmp_path.iterdir())
