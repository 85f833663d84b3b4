"""aiokafka against a real broker process.

AIOKafkaProducer with every codec, idempotent (enable_idempotence=True)
and not; send_and_wait offsets; AIOKafkaConsumer with assign() and no group,
getmany(), seek(), position(), offset queries. Headers (including null
header values) and tombstones round-trip. Every coroutine runs under a
deadline, so a stuck client fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clientutil import (
    CODECS,
    CONSUME_TIMEOUT,
    OP_TIMEOUT,
    Got,
    assert_delivered,
    assert_roundtrip,
    base_timestamp,
    create_topic,
    make_records,
    python_client_got,
)

TIMEOUT_MS = int(OP_TIMEOUT * 1000)
TEST_DEADLINE = 120.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TEST_DEADLINE))


def make_producer(bootstrap: str, **conf) -> AIOKafkaProducer:
    conf.setdefault("linger_ms", 10)
    return AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS, **conf)


def make_consumer(bootstrap: str, **conf) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            auto_offset_reset="none", request_timeout_ms=TIMEOUT_MS + 10000, **conf)


async def send_all(bootstrap: str, topic: str, records, **conf) -> list[tuple[int, int]]:
    """send() everything through one new producer (`conf` as make_producer();
    batched by the client), then await every result."""
    p = make_producer(bootstrap, **conf)
    await p.start()
    try:
        futures = [await p.send(topic, value=r.value, key=r.key, partition=r.partition,
                                timestamp_ms=r.timestamp, headers=list(r.headers)) for r in records]
        metas = await asyncio.wait_for(asyncio.gather(*futures), OP_TIMEOUT)
        return [(m.partition, m.offset) for m in metas]
    finally:
        await p.stop()


async def read_n(c: AIOKafkaConsumer, n: int, *partitions: TopicPartition) -> list[Got]:
    out: list[Got] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT
    while len(out) < n and time.monotonic() < deadline:
        batches = await c.getmany(*partitions, timeout_ms=500, max_records=500)
        for batch in batches.values():
            out.extend(python_client_got(r) for r in batch)
    assert len(out) >= n, f"consumed {len(out)} of {n} records within {CONSUME_TIMEOUT}s"
    for batch in (await c.getmany(*partitions, timeout_ms=1000)).values():  # extras are a bug
        out.extend(python_client_got(r) for r in batch)
    return out


async def read_all_from_beginning(bootstrap: str, topic: str, partitions: int, n: int) -> list[Got]:
    c = make_consumer(bootstrap)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        return await read_n(c, n)
    finally:
        await c.stop()


MODES = [
    pytest.param({"enable_idempotence": True, "acks": "all"}, id="idempotent-acks_all"),
    pytest.param({"enable_idempotence": False, "acks": 1}, id="acks_1"),
]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("mode", MODES)
def test_produce_consume_roundtrip(broker, topic_name, codec, mode):
    partitions = 3
    create_topic(broker.bootstrap, topic_name, partitions)
    records = make_records(400, partitions, seed=200 + CODECS.index(codec))

    async def main():
        offsets = await send_all(broker.bootstrap, topic_name, records,
                                 compression_type=None if codec == "none" else codec, **mode)
        assert_delivered(records, offsets)
        got = await read_all_from_beginning(broker.bootstrap, topic_name, partitions, len(records))
        assert_roundtrip(records, offsets, got)

    run(main())


def test_send_and_wait_offsets(broker, topic_name):
    """One record at a time: each send_and_wait returns the next offset of
    its partition, idempotent producer included; a second producer (new
    producer id) continues where the first stopped."""
    create_topic(broker.bootstrap, topic_name, 2)
    records = make_records(60, 2, seed=31)

    async def main():
        offsets = []
        for half in (records[:30], records[30:]):
            p = make_producer(broker.bootstrap, enable_idempotence=True, compression_type="lz4")
            await p.start()
            try:
                for r in half:
                    m = await p.send_and_wait(topic_name, value=r.value, key=r.key, partition=r.partition,
                                              timestamp_ms=r.timestamp, headers=list(r.headers))
                    offsets.append((m.partition, m.offset))
            finally:
                await p.stop()
        assert_delivered(records, offsets)
        got = await read_all_from_beginning(broker.bootstrap, topic_name, 2, len(records))
        assert_roundtrip(records, offsets, got)

    run(main())


def test_getmany_seek_position_and_offset_queries(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    base = base_timestamp()
    records = make_records(400, 2, seed=32, base_ts=base)

    async def main():
        offsets = await send_all(broker.bootstrap, topic_name, records, compression_type="zstd", linger_ms=20)
        assert_delivered(records, offsets)
        tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)

        c = make_consumer(bootstrap=broker.bootstrap)
        await c.start()
        try:
            assert await c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
            assert await c.end_offsets([tp0, tp1]) == {tp0: 200, tp1: 200}
            # Partition 0: record 2k at offset k, timestamp base + 2k.
            found = await c.offsets_for_times({tp0: base + 101, tp1: base + 101})
            assert (found[tp0].offset, found[tp0].timestamp) == (51, base + 102)
            assert (found[tp1].offset, found[tp1].timestamp) == (50, base + 101)
            assert (await c.offsets_for_times({tp1: base + 100_000}))[tp1] is None

            c.assign([tp0, tp1])
            c.seek(tp0, 150)  # inside a compressed batch
            c.seek(tp1, 199)  # the last record
            got = await read_n(c, 50 + 1)
            assert sorted((g.partition, g.offset) for g in got)[0] == (0, 150)
            assert {(g.partition, g.offset) for g in got} == {(0, o) for o in range(150, 200)} | {(1, 199)}
            sel = [(r, o) for r, o in zip(records, offsets) if o in {(g.partition, g.offset) for g in got}]
            assert_roundtrip([r for r, _ in sel], [o for _, o in sel], got)
            assert await c.position(tp0) == 200 and await c.position(tp1) == 200

            # getmany restricted to one partition and capped in size.
            c.seek(tp0, 0)
            c.seek(tp1, 0)
            batch = {}
            deadline = time.monotonic() + CONSUME_TIMEOUT
            while not batch and time.monotonic() < deadline:
                batch = await c.getmany(tp1, timeout_ms=500, max_records=7)
            assert list(batch) == [tp1] and [r.offset for r in batch[tp1]] == list(range(7))
        finally:
            await c.stop()

    run(main())


def test_headers_and_nulls_exactly(broker, topic_name):
    """The corner cases one by one, uncompressed and compressed."""
    create_topic(broker.bootstrap, topic_name, 1)
    cases = [
        (b"k", None, []),                                   # tombstone
        (None, b"v", []),                                   # no key
        (b"", b"", []),                                     # empty key and value
        (b"k", b"v", [("h", None)]),                        # null header value
        (b"k", b"v", [("h", b"")]),                         # empty header value
        (b"k", b"v", [("", b"empty name")]),                # empty header name
        (b"k", b"v", [("a", b"1"), ("a", b"2"), ("b", b"3")]),  # repeated names, order kept
        (b"k", b"v", [("\u00fcnic\u00f8de", "\u2603".encode())]),
        (b"\x00\xff" * 100, bytes(range(256)) * 40, [("bin", bytes(range(256)))]),
    ]

    async def main():
        sent = []
        for codec in (None, "gzip"):
            p = make_producer(broker.bootstrap, compression_type=codec)
            await p.start()
            try:
                for k, v, h in cases:
                    m = await p.send_and_wait(topic_name, value=v, key=k, partition=0, headers=h)
                    sent.append((m.offset, k, v, tuple(h)))
            finally:
                await p.stop()
        assert [o for o, *_ in sent] == list(range(len(cases) * 2))
        c = make_consumer(broker.bootstrap)
        await c.start()
        try:
            tp = TopicPartition(topic_name, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            got = await read_n(c, len(sent))
        finally:
            await c.stop()
        assert [(g.offset, g.key, g.value, g.headers) for g in got] == sent

    run(main())
