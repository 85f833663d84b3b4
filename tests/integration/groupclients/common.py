"""What every group-member runner shares: its command line, its output lines
and the stdin watch that lets a test stop it cleanly.

A runner is one member of a consumer group in its own process, so that a test
can stop it ("stop" or EOF on stdin: commit, close, exit 0) or kill it with
SIGKILL. It prints the same lines as tests/java/.../GroupConsumer.java, each
led by the wall-clock time in ms (tests/integration/grouputil.py parses them):

    MS ASSIGNED p,p,...     the whole assignment after every change ("-": none)
    MS REC p offset value    one processed record
    MS COMMIT p:o,p:o        a commit that succeeded (o = next offset to read)
    MS COMMITFAIL why        a commit that failed
    MS PAUSED ...            --pause-after reached
    MS CLOSED                the client closed cleanly
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

_out_lock = threading.Lock()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("--group", required=True)
    ap.add_argument("--name", default="group-member")
    ap.add_argument("--protocol", default="classic", choices=["classic", "consumer"])
    ap.add_argument("--assignor", default=None)
    ap.add_argument("--session-ms", type=int, default=10000)
    ap.add_argument("--max-records", type=int, default=None,
                    help="stop (commit, close) after this many records")
    ap.add_argument("--idle-exit-ms", type=int, default=0,
                    help="stop once nothing arrived for this long after the first assignment")
    ap.add_argument("--pause-after", type=int, default=None,
                    help="pause every partition after this many records, stay in the group")
    ap.add_argument("--commit-metadata", default="")
    ap.add_argument("--commit-interval-ms", type=int, default=0,
                    help="commit after a batch only when this long has passed since the last commit")
    return ap.parse_args(argv)


def line(kind: str, text: str = "") -> str:
    return f"{int(time.time() * 1000)} {kind}{' ' + text if text else ''}\n"


def emit(*lines: str) -> None:
    """Writes whole lines and flushes: a SIGKILL can lose only lines not yet
    emitted, never half a line, and never a COMMIT without its RECs."""
    with _out_lock:
        sys.stdout.write("".join(lines))
        sys.stdout.flush()


def assigned_line(partitions) -> str:
    ps = sorted(set(partitions))
    return line("ASSIGNED", ",".join(map(str, ps)) if ps else "-")


def commit_line(offsets: dict[int, int]) -> str:
    return line("COMMIT", ",".join(f"{p}:{o}" for p, o in sorted(offsets.items())))


def record_lines(batches, budget: "Budget", processed: dict[int, int]) -> list[str]:
    """REC lines for a poll result of the Python clients ({tp: [records]} with
    .partition/.offset/.value), within the budget; tracks the next offset to
    commit per partition."""
    out = []
    for _tp, records in sorted(batches.items(), key=lambda kv: kv[0].partition):
        for r in records:
            if not budget.room():
                break
            out.append(line("REC", f"{r.partition} {r.offset} {(r.value or b'').decode()}"))
            processed[r.partition] = r.offset + 1
            budget.count += 1
    return out


def watch_stdin(on_stop) -> threading.Event:
    """Sets (and returns) an event when stdin says "stop" or reaches EOF."""
    stop = threading.Event()

    def run():
        try:
            for raw in sys.stdin:
                if raw.strip() == "stop":
                    break
        except Exception:  # noqa: BLE001 - a closed stdin means stop too
            pass
        stop.set()
        if on_stop is not None:
            on_stop()

    threading.Thread(target=run, name="stdin-watch", daemon=True).start()
    return stop


class Budget:
    """Counts processed records against --max-records / --pause-after and
    tracks idleness for --idle-exit-ms."""

    def __init__(self, args: argparse.Namespace):
        self.max_records = args.max_records
        self.pause_after = args.pause_after
        self.idle_exit_ms = args.idle_exit_ms
        self.commit_interval = args.commit_interval_ms / 1000
        self.last_commit = 0.0
        self.count = 0
        self.last_record = time.monotonic()
        self.paused = False

    def room(self) -> bool:
        """May one more record be processed?"""
        limits = [x for x in (self.max_records, self.pause_after) if x is not None]
        return not limits or self.count < min(limits)

    def done(self) -> bool:
        return self.max_records is not None and self.count >= self.max_records

    def should_pause(self) -> bool:
        return self.pause_after is not None and not self.paused and self.count >= self.pause_after

    def commit_due(self) -> bool:
        """Is it time to commit after this batch? (Revocation and close always commit.)"""
        now = time.monotonic()
        if self.done() or now - self.last_commit >= self.commit_interval:
            self.last_commit = now
            return True
        return False

    def saw_records(self) -> None:
        self.last_record = time.monotonic()

    def idle(self, assigned: bool) -> bool:
        return (self.idle_exit_ms > 0 and assigned
                and (time.monotonic() - self.last_record) * 1000 > self.idle_exit_ms)
