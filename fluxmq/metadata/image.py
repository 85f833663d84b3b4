"""MetadataImage: what this broker knows of the cluster, in Kafka's terms
(the KRaft MetadataImage: topics, partitions and brokers).

A topic has a name, a topic id, its config overrides and its partitions; a
partition its replicas, ISR, leader, leader epoch and partition epoch. SCRAM
credentials are kept per user and mechanism (Kafka's ScramImage). On a
single node every partition has this node as its only replica, ISR and
leader. A broker has its endpoints, one per listener name. Every change goes
through the controller (controller.py), which bumps `epoch`: cached Metadata
responses key on it.

The image is read by handlers and the replica manager and written only by
the controller, on the event loop thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from fluxmq.errors import ErrorCode

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


@dataclass
class PartitionImage:
    """Kafka's PartitionRegistration."""
    index: int
    replicas: list[int]
    isr: list[int]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0


@dataclass
class TopicImage:
    name: str
    topic_id: uuid.UUID
    configs: dict[str, object]  # topic-level overrides only
    partitions: list[PartitionImage] = field(default_factory=list)

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS

    def partition(self, index: int) -> PartitionImage | None:
        return self.partitions[index] if 0 <= index < len(self.partitions) else None


@dataclass(frozen=True)
class Endpoint:
    listener: str
    host: str
    port: int


@dataclass
class BrokerImage:
    """Kafka's BrokerRegistration: the advertised endpoint of each listener."""
    node_id: int
    endpoints: dict[str, Endpoint]
    rack: str | None = None
    fenced: bool = False


@dataclass
class MetadataImage:
    cluster_id: str
    controller_id: int
    topics: dict[str, TopicImage] = field(default_factory=dict)
    topics_by_id: dict[uuid.UUID, TopicImage] = field(default_factory=dict)
    brokers: dict[int, BrokerImage] = field(default_factory=dict)
    scram_credentials: dict[str, dict[str, object]] = field(default_factory=dict)  # user -> mechanism -> ScramCredential
    acls: dict = field(default_factory=dict)  # AclBinding -> None: the ACLs in creation order (security/acl.py)
    acl_version: int = 0  # bumped by every change of `acls` (the authorizer rebuilds its index)
    epoch: int = 0  # bumped by every change

    def scram_credential(self, user: str, mechanism: str):
        """The user's ScramCredential for `mechanism`, or None (the SCRAM authenticator asks)."""
        return self.scram_credentials.get(user, {}).get(mechanism)

    def topic(self, name: str | None = None, topic_id: uuid.UUID | None = None) -> TopicImage | None:
        return self.topics_by_id.get(topic_id) if name is None else self.topics.get(name)

    def partition(self, topic: str, index: int) -> PartitionImage | None:
        t = self.topics.get(topic)
        return t.partition(index) if t is not None else None

    # Written by the controller (and the store when loading) only.
    def put_topic(self, topic: TopicImage) -> None:
        self.topics[topic.name] = topic
        self.topics_by_id[topic.topic_id] = topic
        self.epoch += 1

    def remove_topic(self, topic: TopicImage) -> None:
        del self.topics[topic.name]
        self.topics_by_id.pop(topic.topic_id, None)
        self.epoch += 1

    def set_acls(self, acls: dict) -> None:
        self.acls = acls
        self.acl_version += 1
        self.epoch += 1  # what Metadata answers may change with them

    def touch(self) -> None:
        """A topic changed in place (partitions added, configs altered)."""
        self.epoch += 1

    def describe_scram_credentials(self, users: list[str] | None) -> list[tuple]:
        """Kafka's ScramImage.describe: (user, error, message, [(mechanism type,
        iterations)]) per requested user, or for every user when `users` is None or empty."""
        from fluxmq.security import scram
        creds = self.scram_credentials
        if not users:
            users = sorted(creds)
        counts: dict[str, int] = {}
        for user in users:
            counts[user] = counts.get(user, 0) + 1
        out = []
        for user in dict.fromkeys(users):
            if counts[user] > 1:
                out.append((user, ErrorCode.DUPLICATE_RESOURCE, "Cannot describe SCRAM credentials for the same "
                                                                f"user twice in a single request: {user}", []))
            elif user not in creds:
                out.append((user, ErrorCode.RESOURCE_NOT_FOUND,
                            f"Attempt to describe a user credential that does not exist: {user}", []))
            else:
                out.append((user, ErrorCode.NONE, None, [(scram.MECHANISMS[m][1], c.iterations)
                                                          for m, c in sorted(creds[user].items())]))
        return out
