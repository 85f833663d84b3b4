"""A consumer-group member on confluent-kafka (librdkafka). See common.py for
the command line and the lines it prints.

Classic protocol (--assignor range, roundrobin or cooperative-sticky) or the
KIP-848 consumer protocol (--protocol consumer: the broker assigns, so
session.timeout.ms and the assignment strategy are not client settings)."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition

import common


def config(args) -> dict:
    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 200,
        "max.poll.interval.ms": 30000,
        "socket.timeout.ms": 15000,
        "reconnect.backoff.max.ms": 1000,
        "group.protocol": args.protocol,
    }
    if args.protocol == "classic":
        conf["session.timeout.ms"] = args.session_ms
        conf["heartbeat.interval.ms"] = max(500, args.session_ms // 6)
        if args.assignor:
            conf["partition.assignment.strategy"] = args.assignor
    elif args.assignor:
        conf["group.remote.assignor"] = args.assignor
    return conf


def main() -> int:
    args = common.parse_args()
    budget = common.Budget(args)
    owned: set[int] = set()
    processed: dict[int, int] = {}  # partition -> next offset, processed but not committed
    consumer = Consumer(config(args))

    def commit(partitions) -> None:
        offsets = {p: processed[p] for p in partitions if p in processed}
        if not offsets:
            return
        tps = [TopicPartition(args.topic, p, o, args.commit_metadata) if args.commit_metadata
               else TopicPartition(args.topic, p, o) for p, o in offsets.items()]
        try:
            result = consumer.commit(offsets=tps, asynchronous=False)
            failed = [tp for tp in result or () if tp.error]
            if failed:
                raise KafkaException(failed[0].error)
        except KafkaException as e:
            common.emit(common.line("COMMITFAIL", str(e)))
            return
        for p in offsets:
            processed.pop(p, None)
        common.emit(common.commit_line(offsets))

    def on_assign(c, partitions):
        owned.update(tp.partition for tp in partitions)
        if budget.paused and partitions:
            c.pause(partitions)
        common.emit(common.assigned_line(owned))

    def on_revoke(c, partitions):
        commit([tp.partition for tp in partitions])
        owned.difference_update(tp.partition for tp in partitions)
        common.emit(common.assigned_line(owned))

    def on_lost(c, partitions):
        for tp in partitions:
            owned.discard(tp.partition)
            processed.pop(tp.partition, None)
        common.emit(common.line("LOST", ",".join(str(tp.partition) for tp in partitions)),
                    common.assigned_line(owned))

    stop = common.watch_stdin(None)
    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    while not stop.is_set() and not budget.done():
        msgs = consumer.consume(num_messages=200, timeout=0.2)
        out = []
        for m in msgs:
            if m.error():
                out.append(common.line("ERROR", str(m.error())))
                continue
            if not budget.room():
                break
            out.append(common.line("REC", f"{m.partition()} {m.offset()} {(m.value() or b'').decode()}"))
            processed[m.partition()] = m.offset() + 1
            budget.count += 1
        if out:
            budget.saw_records()
            common.emit(*out)
            if budget.commit_due():
                commit(list(processed))
        elif budget.idle(bool(owned)):
            break
        if budget.should_pause():
            budget.paused = True
            consumer.pause([TopicPartition(args.topic, p) for p in owned])
            common.emit(common.line("PAUSED", f"after {budget.count} records"))
    commit(list(processed))
    consumer.close()
    common.emit(common.line("CLOSED"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
