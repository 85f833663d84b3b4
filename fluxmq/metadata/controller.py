"""MetadataController: every change of the metadata image, with Kafka's
controller rules (QuorumController / ReplicationControlManager): topic names,
partition counts, replica placement and replication factors, config
validation and the per-operation record limit.

A change is validated, written to the store, applied to the image and then
published to the subscribers (the replica manager creates or removes the
partitions and their logs), all on the event loop thread, before the request
that made it is answered. On a single node this node is the only registered
broker, the replica and leader of every partition, at leader epoch 0.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

from fluxmq.config import validate_topic_configs
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.metadata.image import MetadataImage, PartitionImage, TopicImage

log = logging.getLogger("fluxmq.controller")

MAX_TOPIC_NAME = 249
MAX_RECORDS_PER_USER_OP = 10000  # QuorumController.MAX_RECORDS_PER_USER_OP
CLUSTER_METADATA_TOPIC = "__cluster_metadata"
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")


def validate_topic_name(name: str) -> None:
    """Kafka's Topic.validate: the reason goes back to the client."""
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is invalid: the empty string is not allowed")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Topic name is invalid: '{name}' is not allowed")
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is invalid: '{name}' is longer than the max allowed length {MAX_TOPIC_NAME}")
    if not _LEGAL_TOPIC.match(name):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is invalid: '{name}' contains one or more characters other than "
                         "ASCII alphanumerics, '.', '_' and '-'")


@dataclass
class MetadataDelta:
    """What one change did, for the subscribers."""
    created: list[TopicImage] = field(default_factory=list)
    deleted: list[TopicImage] = field(default_factory=list)
    grown: list[tuple[TopicImage, int]] = field(default_factory=list)  # (topic, its first new partition)
    reconfigured: list[TopicImage] = field(default_factory=list)


class MetadataController:
    def __init__(self, image: MetadataImage, store, config, node_id: int):
        self.image = image
        self.store = store
        self.config = config
        self.node_id = node_id
        self._subscribers = []

    def subscribe(self, fn) -> None:
        """fn(delta) after every change (the replica manager)."""
        self._subscribers.append(fn)

    def _publish(self, delta: MetadataDelta) -> None:
        self.store.save_topics(self.image)
        for fn in self._subscribers:
            fn(delta)

    # ------------------------------------------------------------ placement
    @property
    def brokers(self) -> list[int]:
        """Registered brokers: this node."""
        return [self.node_id]

    def check_replica_assignment(self, replicas, expected_rf: int | None) -> None:
        """ReplicationControlManager.validateManualPartitionAssignment."""
        if not replicas:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "The manual partition assignment includes an empty replica list.")
        previous = None
        for node in sorted(replicas):
            if node not in self.brokers:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes broker {node}, but no such broker is "
                                 "registered.")
            if node == previous:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes the broker {node} more than once.")
            previous = node
        if expected_rf is not None and len(replicas) != expected_rf:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"The manual partition assignment includes a partition with {len(replicas)} "
                             f"replica(s), but this is not consistent with previous partitions, which have "
                             f"{expected_rf} replica(s).")

    def check_replication_factor(self, rf: int) -> None:
        """The replica placer: as many replicas as registered brokers at most."""
        if rf > len(self.brokers):
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {rf} time(s): The target replication factor of {rf} "
                             f"cannot be reached because only {len(self.brokers)} broker(s) are registered or some "
                             "brokers have all their log directories cordoned.")

    def _place(self, partitions: int, first: int = 0) -> list[PartitionImage]:
        node = self.node_id
        return [PartitionImage(i, [node], [node], node) for i in range(first, first + partitions)]

    @staticmethod
    def check_batch_size(records: int) -> None:
        """QuorumController: one request may not write more than 10000 records (a topic,
        each config and each partition count one)."""
        if records > MAX_RECORDS_PER_USER_OP:
            raise KafkaError(ErrorCode.POLICY_VIOLATION, "Unable to perform excessively large batch operation.")

    # --------------------------------------------------------------- topics
    def check_new_topic_name(self, name: str) -> None:
        if name == CLUSTER_METADATA_TOPIC:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited.")
        validate_topic_name(name)
        if name in self.image.topics:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        self.check_collision(name)

    def check_collision(self, name: str) -> None:
        """'.' and '_' map to the same metric names, so Kafka refuses topics
        that differ only there."""
        if "." in name or "_" in name:
            unified = name.replace(".", "_")
            for existing in self.image.topics:
                if existing != name and existing.replace(".", "_") == unified:
                    raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                                     f"Topic '{name}' collides with existing topic: {existing}")

    def layout(self, num_partitions: int, replication_factor: int, assignments) -> tuple[int, int]:
        """(partitions, replication factor) of a new topic, Kafka's checks included.
        assignments: [(partition index, [broker ids])] or empty."""
        if assignments:
            if replication_factor != -1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "A manual partition assignment was specified, but "
                                 "replication factor was not set to -1.")
            if num_partitions != -1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "A manual partition assignment was specified, but "
                                 "numPartitions was not set to -1.")
            seen: set[int] = set()
            rf = None
            for index, broker_ids in assignments:
                if index in seen:
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Found multiple manual partition assignments for partition {index}")
                self.check_replica_assignment(broker_ids, rf)
                rf = len(broker_ids)
                seen.add(index)
            if seen != set(range(len(seen))):
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 "partitions should be a consecutive 0-based integer sequence")
            return len(seen), rf
        if replication_factor < -1 or replication_factor == 0:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             "Replication factor must be larger than 0, or -1 to use the default value.")
        if num_partitions < -1 or num_partitions == 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                             "Number of partitions was set to an invalid non-positive value.")
        partitions = self.config["num.partitions"] if num_partitions == -1 else num_partitions
        rf = self.config["default.replication.factor"] if replication_factor == -1 else replication_factor
        self.check_replication_factor(rf)
        return partitions, rf

    def create_topic(self, name: str, partitions: int, configs: dict[str, str] | None = None,
                     validate_only: bool = False) -> TopicImage:
        """A new topic of `partitions` partitions (already laid out); raises KafkaError."""
        self.check_new_topic_name(name)
        if partitions <= 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
        topic = TopicImage(name, uuid.uuid4(), validate_topic_configs(configs or {}), self._place(partitions))
        if validate_only:
            return topic
        self.image.put_topic(topic)
        self._publish(MetadataDelta(created=[topic]))
        log.info("created topic %s with %d partitions%s", name, partitions,
                 f" and configs {topic.configs}" if topic.configs else "")
        return topic

    def topic_or_auto_create(self, name: str, allowed: bool = True) -> TopicImage:
        """The topic named by a Metadata or Produce request, auto-created with
        num.partitions partitions when the request allows it and
        auto.create.topics.enable is set; else UNKNOWN_TOPIC_OR_PARTITION."""
        topic = self.image.topics.get(name)
        if topic is not None:
            return topic
        if not (allowed and self.config["auto.create.topics.enable"]):
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name}")
        return self.create_topic(name, self.config["num.partitions"])

    def ensure_internal_topic(self, name: str, partitions: int, configs: dict[str, str]) -> TopicImage:
        topic = self.image.topics.get(name)
        return topic if topic is not None else self.create_topic(name, partitions, configs)

    def delete_topic(self, name: str) -> TopicImage:
        topic = self.image.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        self.image.remove_topic(topic)
        self._publish(MetadataDelta(deleted=[topic]))
        log.info("deleted topic %s", name)
        return topic

    def create_partitions(self, name: str, total: int, validate_only: bool = False) -> None:
        topic = self.image.topics.get(name)
        if topic is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        current = len(topic.partitions)
        if total <= current:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                             f"Topic currently has {current} partitions, which is higher than or "
                             f"equal to the requested {total}.")
        if validate_only:
            return
        topic.partitions.extend(self._place(total - current, first=current))
        self.image.touch()
        self._publish(MetadataDelta(grown=[(topic, current)]))
        log.info("topic %s now has %d partitions", name, total)

    def alter_topic_configs(self, name: str, configs: dict[str, object]) -> None:
        """Replaces the topic's overrides (already validated)."""
        topic = self.image.topics[name]
        topic.configs = configs
        self.image.touch()
        self._publish(MetadataDelta(reconfigured=[topic]))

    # ------------------------------------------------------ SCRAM credentials
    def alter_user_scram_credentials(self, deletions, upsertions) -> list[tuple[str, ErrorCode, str | None]]:
        """Kafka's ScramControlManager.alterCredentials: `deletions` are (user, mechanism
        type), `upsertions` (user, mechanism type, iterations, salt, salted password).
        One (user, error, message) per user of the request, in request order; the
        users without an error are changed together."""
        from fluxmq.security import scram
        entries = [(user, mech, None) for user, mech in deletions] + [(u[0], u[1], u[2:]) for u in upsertions]
        seen: dict[str, int] = {}
        for user, _m, _u in entries:
            seen[user] = seen.get(user, 0) + 1
        errors: dict[str, tuple[ErrorCode, str]] = {}
        changes = []
        for user, mech_type, upsert in entries:
            mechanism = scram.MECHANISM_BY_TYPE.get(mech_type)
            if seen[user] > 1:
                errors[user] = (ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the "
                                                              "same request")
            elif not user:
                errors[user] = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty")
            elif mechanism is None:
                errors[user] = (ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")
            elif upsert is None:
                if self.image.scram_credential(user, mechanism) is None:
                    errors[user] = (ErrorCode.RESOURCE_NOT_FOUND,
                                    "Attempt to delete a user credential that does not exist")
                else:
                    changes.append((user, mechanism, None))
            else:
                iterations, salt, salted_password = upsert
                why = scram.check_iterations(mechanism, iterations)
                if why is not None:
                    errors[user] = (ErrorCode.UNACCEPTABLE_CREDENTIAL, why)
                else:
                    changes.append((user, mechanism,
                                    scram.from_salted_password(mechanism, salt, salted_password, iterations)))
        if changes:
            creds = self.image.scram_credentials
            for user, mechanism, cred in changes:
                if cred is None:
                    creds[user].pop(mechanism)
                    if not creds[user]:
                        del creds[user]
                else:
                    creds.setdefault(user, {})[mechanism] = cred
            self.store.save_scram_credentials(self.image)
            log.info("SCRAM credentials changed: %s", ", ".join(
                f"{'deleted' if c is None else 'set'} {m} of {u}" for u, m, c in changes))
        return [(user, *errors.get(user, (ErrorCode.NONE, None))) for user in seen]

    # ------------------------------------------------------------------- ACLs
    def create_acls(self, bindings) -> list[tuple[ErrorCode, str | None]]:
        """Kafka's AclControlManager.createAcls: one (error, message) per binding;
        the valid ones are stored together, and one already stored is a success
        that changes nothing."""
        results, acls = [], dict(self.image.acls)
        for b in bindings:
            why = b.invalid_reason()
            if why is not None:
                results.append((ErrorCode.INVALID_REQUEST, why))
                continue
            acls.setdefault(b, None)
            results.append((ErrorCode.NONE, None))
        if len(acls) - len(self.image.acls) > MAX_RECORDS_PER_USER_OP:
            message = f"Cannot create more than {MAX_RECORDS_PER_USER_OP} acls in a single operation."
            return [(ErrorCode.POLICY_VIOLATION, message) if code == ErrorCode.NONE else (code, m)
                    for code, m in results]
        if len(acls) != len(self.image.acls):
            added = [b for b in acls if b not in self.image.acls]
            self._publish_acls(acls)
            log.info("ACLs created: %s", "; ".join(map(str, added)))
        return results

    def delete_acls(self, filters) -> list[tuple[ErrorCode, str | None, list]]:
        """Kafka's AclControlManager.deleteAcls: per filter (error, message, the stored
        bindings it matches); everything matched is deleted together."""
        results, gone = [], {}
        for f in filters:
            why = f.unknown_reason()
            if why is not None:
                results.append((ErrorCode.INVALID_REQUEST, why, []))
                continue
            matched = [b for b in self.image.acls if f.matches(b)]
            gone.update(dict.fromkeys(matched))
            results.append((ErrorCode.NONE, None, matched))
        if len(gone) > MAX_RECORDS_PER_USER_OP:
            message = f"Cannot remove more than {MAX_RECORDS_PER_USER_OP} acls in a single delete operation."
            return [(ErrorCode.POLICY_VIOLATION, message, []) for _ in filters]
        if gone:
            self._publish_acls({b: None for b in self.image.acls if b not in gone})
            log.info("ACLs deleted: %s", "; ".join(map(str, gone)))
        return results

    def _publish_acls(self, acls: dict) -> None:
        self.store.save_acls(acls)
        self.image.set_acls(acls)
