"""`fluxmq topics ...`: topic administration over the Kafka protocol."""

from __future__ import annotations

import click

from fluxmq.errors import ErrorCode
from fluxmq.tools.client import KafkaWireClient

METADATA, CREATE_TOPICS, DELETE_TOPICS = 3, 19, 20


def run(fn, bootstrap: str, *args) -> None:
    try:
        with KafkaWireClient(bootstrap) as client:
            fn(client, *args)
    except OSError as e:
        raise click.ClickException(f"cannot reach the broker at {bootstrap}: {e}") from None


def _check(code, message, what: str) -> None:
    code = int(code.value if hasattr(code, "value") else code)
    if code != ErrorCode.NONE:
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        raise click.ClickException(f"{what}: {name}" + (f" ({message})" if message else ""))


def create_topic(client, name, partitions, replication_factor, configs) -> None:
    resp = client.request(CREATE_TOPICS, 7, {
        "topics": [{"name": name, "num_partitions": partitions, "replication_factor": replication_factor,
                    "assignments": [], "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "timeout": 30000, "validate_only": False})
    t = resp.topics[0]
    _check(t.error_code, t.error_message, f"cannot create topic {name}")
    click.echo(f"Created topic {name} with {t.num_partitions} partition(s).")


def _metadata(client, topics):
    body = {"topics": None if topics is None else [{"name": n} for n in topics],
            "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
    return client.request(METADATA, 12, body)


def list_topics(client) -> None:
    for t in sorted(_metadata(client, None).topics, key=lambda t: t.name):
        click.echo(t.name)


def describe_topic(client, name) -> None:
    t = _metadata(client, [name]).topics[0]
    _check(t.error_code, None, f"cannot describe topic {name}")
    click.echo(f"Topic: {t.name}\tTopicId: {t.topic_id}\tPartitionCount: {len(t.partitions)}")
    for p in sorted(t.partitions, key=lambda p: p.partition_index):
        click.echo(f"\tPartition: {p.partition_index}\tLeader: {p.leader_id}\tLeaderEpoch: {p.leader_epoch}"
                   f"\tReplicas: {','.join(map(str, p.replica_nodes))}\tIsr: {','.join(map(str, p.isr_nodes))}")


def delete_topic(client, name) -> None:
    resp = client.request(DELETE_TOPICS, 6, {"topics": [{"name": name, "topic_id": None}], "timeout": 30000})
    r = resp.responses[0]
    _check(r.error_code, r.error_message, f"cannot delete topic {name}")
    click.echo(f"Deleted topic {name}.")
