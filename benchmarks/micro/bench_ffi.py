"""Native calls per request: how many times the broker crosses into
fluxmq._native (cffi) to serve one Produce (acks=1 and acks=-1), one Fetch
and one Metadata request, beside the cost of one trivial crossing, so that
"calls per request x cost per call" says whether FFI overhead matters
(STYLE.md habit 5: the C API takes whole requests).

    python benchmarks/micro/bench_ffi.py [--dir DIR] [--requests 200]

How: the broker runs in this process (its event loop on the main thread, on
127.0.0.1, data in a temp dir) and a blocking client (fluxmq.tools.client)
sends pre-encoded requests from a second thread, one at a time, waiting for
each response. Every fluxmq module's `lib` is pointed at a counting stand-in
for fluxmq._native.lib: native.py's wrappers look `lib` up at each call and
server.py binds it at import, so rebinding the module attributes catches
every call; the broker itself is unchanged. Calls made by the fsync thread
(acks=-1's group commit) are counted too.

The requests: Produce v9 with one ~--batch-bytes batch (16 records) for each
of --partitions partitions; Fetch v12 of the same partitions from offset 0,
64 KiB per partition, max_wait 0; Metadata v12 for that one topic.
Requests are not pipelined, so each one pays its own fmq_net_poll and
fmq_net_flush (a loaded broker shares those between the frames of one wake-up).

Then the counting is removed and the same requests are timed: the broker's
event-loop CPU time per request (time.thread_time() on its thread, so the
client thread is not counted) is what the FFI crossings are compared with.
The trivial crossing is lib.fmq_crc32c over 0 bytes in a timeit loop; it
prices the crossing only, not the work the C function does. Not a test:
nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
import threading
import time
import timeit
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from fluxmq import native  # noqa: E402
from fluxmq import server  # noqa: E402  (imported before rebinding: it binds `lib` at import)
from fluxmq.config import BrokerConfig  # noqa: E402
from fluxmq.listener import parse_listeners  # noqa: E402
from fluxmq.log.batch_builder import build_batch  # noqa: E402
from fluxmq.tools.client import KafkaWireClient, decode_response, encode_request  # noqa: E402

REAL_LIB = native.lib
PRODUCE, FETCH, METADATA, CREATE_TOPICS = 0, 1, 3, 19
TOPIC = "ffi-bench"
RECORDS_PER_BATCH = 16
FETCH_PARTITION_BYTES = 64 * 1024


class CountingLib:
    """Stands in for fluxmq._native's lib: counts each function's calls;
    constants pass through."""

    def __init__(self, lib):
        self._lib = lib
        self._lock = threading.Lock()  # the fsync thread calls in beside the event loop
        self.counts: Counter = Counter()

    def __getattr__(self, name):
        attr = getattr(self._lib, name)
        if not callable(attr):
            return attr

        def counted(*args):
            with self._lock:
                self.counts[name] += 1
            return attr(*args)

        setattr(self, name, counted)  # later lookups skip __getattr__
        return counted

    def take(self) -> Counter:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


def rebind(old, new) -> None:
    """Points every loaded fluxmq module whose `lib` is `old` at `new`."""
    for name, mod in list(sys.modules.items()):
        if (name == "fluxmq" or name.startswith("fluxmq.")) and getattr(mod, "lib", None) is old:
            mod.lib = new


def trivial_call_ns(number: int = 200_000) -> float:
    """ns per lib.fmq_crc32c(0, buf, 0): the price of one crossing."""
    t = timeit.Timer("crc(0, buf, 0)", globals={"crc": REAL_LIB.fmq_crc32c, "buf": native.ffi.new("uint8_t[]", 1)})
    return min(t.repeat(5, number)) / number * 1e9


def make_batch(batch_bytes: int) -> bytes:
    value = b"v" * ((batch_bytes - 61) // RECORDS_PER_BATCH - 8)  # 61-byte batch header, ~8 per record
    return build_batch([(None, value)] * RECORDS_PER_BATCH, int(time.time() * 1000))


def request_frames(partitions: int, batch: bytes) -> dict[str, tuple[int, int, bytes]]:
    """{name: (api_key, version, request payload)}, encoded once."""

    def produce(acks):
        return {"transactional_id": None, "acks": acks, "timeout": 30000, "topic_data": [
            {"name": TOPIC, "partition_data": [{"index": p, "records": batch} for p in range(partitions)]}]}

    fetch = {"replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
             "session_id": 0, "session_epoch": -1, "cluster_id": None, "forgotten_topics_data": [], "rack_id": "",
             "topics": [{"topic": TOPIC, "partitions": [
                 {"partition": p, "current_leader_epoch": -1, "fetch_offset": 0, "last_fetched_epoch": -1,
                  "log_start_offset": -1, "partition_max_bytes": FETCH_PARTITION_BYTES}
                 for p in range(partitions)]}]}
    metadata = {"topics": [{"name": TOPIC, "topic_id": None}], "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False}
    requests = {"produce acks=1": (PRODUCE, 9, produce(1)), "produce acks=-1": (PRODUCE, 9, produce(-1)),
                "fetch": (FETCH, 12, fetch), "metadata": (METADATA, 12, metadata)}
    return {name: (key, v, encode_request(key, v, 1, body, "ffi-bench")) for name, (key, v, body) in requests.items()}


def check(kind: str, api_key: int, version: int, payload: bytes) -> None:
    """Raises unless every error code in the response is 0: counts of an
    error path would measure the wrong thing."""
    _, resp = decode_response(api_key, version, payload)
    if api_key == PRODUCE:
        codes = [p.error_code for t in resp.responses for p in t.partition_responses]
    elif api_key == FETCH:
        codes = [resp.error_code] + [p.error_code for t in resp.responses for p in t.partitions]
    else:
        codes = [t.error_code for t in resp.topics]
    if any(int(getattr(c, "value", c)) for c in codes):
        raise RuntimeError(f"{kind}: error codes {codes}")


def round_trips(client: KafkaWireClient, payload: bytes, n: int) -> bytes:
    for _ in range(n):
        client.send_frame(payload)
        last = client.recv_frame()
    return last


def measure(data_dir: str, requests: int = 200, partitions: int = 6, batch_bytes: int = 16 * 1024) -> dict:
    logging.getLogger("fluxmq").setLevel(logging.WARNING)
    batch = make_batch(batch_bytes)
    frames = request_frames(partitions, batch)
    proxy = CountingLib(REAL_LIB)
    rows = {}

    async def main():
        # Counting from before the broker exists, so its own objects go through the proxy too.
        config = BrokerConfig()
        broker = server.Broker(config, data_dir, parse_listeners(config, "127.0.0.1", 0))
        await broker.start()
        loop = asyncio.get_running_loop()
        client = KafkaWireClient(f"127.0.0.1:{broker.listeners[0].port}", client_id="ffi-bench")
        try:
            created = await loop.run_in_executor(None, client.request, CREATE_TOPICS, 7, {
                "topics": [{"name": TOPIC, "num_partitions": partitions, "replication_factor": -1,
                            "assignments": [], "configs": []}], "timeout": 10000, "validate_only": False})
            if int(created.topics[0].error_code):
                raise RuntimeError(f"cannot create {TOPIC}: {created.topics[0]}")
            for kind, (key, version, payload) in frames.items():  # one checked warm-up request of each kind
                check(kind, key, version, await loop.run_in_executor(None, round_trips, client, payload, 1))
            for kind, (_, _, payload) in frames.items():
                await asyncio.sleep(0.05)  # let the previous window's last wake-up finish
                proxy.take()
                await loop.run_in_executor(None, round_trips, client, payload, requests)
                await asyncio.sleep(0.05)
                counts = proxy.take()
                rows[kind] = {"calls_per_request": round(sum(counts.values()) / requests, 2),
                              "by_function": {f: round(c / requests, 2) for f, c in counts.most_common()}}
            rebind(proxy, REAL_LIB)  # timed without the counting
            for kind, (_, _, payload) in frames.items():
                cpu0, t0 = time.thread_time(), time.perf_counter()
                await loop.run_in_executor(None, round_trips, client, payload, requests)
                rows[kind]["round_trip_us"] = round((time.perf_counter() - t0) / requests * 1e6, 1)
                rows[kind]["broker_loop_cpu_us"] = round((time.thread_time() - cpu0) / requests * 1e6, 1)
        finally:
            client.close()
            await broker.shutdown()

    try:
        import uvloop  # what `fluxmq serve` runs on (server.run)
        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    rebind(REAL_LIB, proxy)
    try:
        runner(main())
    finally:
        rebind(proxy, REAL_LIB)
    call_ns = trivial_call_ns()
    for row in rows.values():
        row["ffi_us_per_request"] = round(row["calls_per_request"] * call_ns / 1000, 2)
        row["ffi_share_of_loop_cpu"] = round(row["ffi_us_per_request"] / row["broker_loop_cpu_us"], 4)
    return {"params": {"requests_per_kind": requests, "partitions": partitions,
                       "batch_bytes": len(batch), "request_bytes": {k: len(f[2]) for k, f in frames.items()},
                       "records_per_batch": RECORDS_PER_BATCH, "fetch_partition_max_bytes": FETCH_PARTITION_BYTES,
                       "versions": {"produce": 9, "fetch": 12, "metadata": 12}},
            "trivial_call_ns": round(call_ns, 1), "rows": rows}


def print_result(res: dict) -> None:
    p = res["params"]
    print(f"{p['requests_per_kind']} requests of each kind, one at a time; {p['partitions']} partitions;"
          f" one cffi call (fmq_crc32c, 0 bytes) = {res['trivial_call_ns']:.0f} ns")
    print(f"{'request':>16} {'calls':>6} {'x cost us':>10} {'loop CPU us':>12} {'share':>6} {'RTT us':>8}  calls by function")
    for kind, row in res["rows"].items():
        by = ", ".join(f"{f.removeprefix('fmq_')} {c:g}" for f, c in row["by_function"].items())
        print(f"{kind:>16} {row['calls_per_request']:6g} {row['ffi_us_per_request']:10.2f}"
              f" {row['broker_loop_cpu_us']:12.1f} {row['ffi_share_of_loop_cpu']:6.2%} {row['round_trip_us']:8.1f}  {by}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="parent of the broker's temp data dir")
    ap.add_argument("--requests", type=int, default=200, help="requests of each kind")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--batch-bytes", type=int, default=16 * 1024)
    args = ap.parse_args()
    data_dir = tempfile.mkdtemp(prefix="fluxmq-bench-ffi-", dir=args.dir)
    try:
        print_result(measure(data_dir, args.requests, args.partitions, args.batch_bytes))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
