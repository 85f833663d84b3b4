"""What every group type shares, and the result shape of coordinator operations.

The coordinator's registry holds groups of several types (Kafka's
Group.GroupType): classic groups (JoinGroup/SyncGroup, fluxmq/group/classic.py)
and consumer groups (KIP-848, fluxmq/group/consumer_group.py). Offsets, the
admin APIs and expiry talk to any of them through `Group`; each type decides
how an OffsetCommit or OffsetFetch is validated (classic: generation and
member id; consumer: member epoch, STALE_MEMBER_EPOCH).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from fluxmq.errors import ErrorCode


class GroupType(str, Enum):
    """ListGroups' group_type strings (Kafka's GroupType.toString)."""
    CLASSIC = "classic"
    CONSUMER = "consumer"


class Group:
    """The interface the coordinator, offsets and admin APIs use."""

    group_id: str
    type: GroupType

    # ---- state, for ListGroups / DescribeGroups / expiry
    def state_name(self) -> str:
        raise NotImplementedError

    def is_empty(self) -> bool:
        raise NotImplementedError

    def is_in_states(self, states: set[str]) -> bool:
        """states: lower-cased names (ListGroups v4+ filter is case-insensitive)."""
        return self.state_name().lower() in states

    def protocol_type_name(self) -> str:
        """ListGroups' protocol_type ("consumer" for Kafka consumers, "" for simple groups)."""
        raise NotImplementedError

    def as_listed_group(self) -> dict:
        """A ListGroups entry (group_id, protocol_type, group_state, group_type)."""
        return {"group_id": self.group_id, "protocol_type": self.protocol_type_name(),
                "group_state": self.state_name(), "group_type": self.type.value}

    # ---- offsets: raise KafkaError to refuse
    def validate_offset_commit(self, member_id: str, group_instance_id: str | None,
                               generation_or_epoch: int, api_version: int) -> None:
        raise NotImplementedError

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> None:
        raise NotImplementedError

    def validate_offset_delete(self) -> None:
        raise NotImplementedError

    def validate_delete_group(self) -> None:
        raise NotImplementedError

    def is_subscribed_to_topic(self, topic: str) -> bool:
        raise NotImplementedError

    def offset_expiration_base(self) -> Callable | None:
        """For offsets retention: a function (OffsetAndMetadata) -> the time
        retention counts from, or None when no offset of the group may expire
        now (Kafka's Group.offsetExpirationCondition)."""
        raise NotImplementedError

    def should_expire(self) -> bool:
        return True

    def tombstone_records(self) -> list:
        """The records that delete the group (offsets are deleted separately)."""
        raise NotImplementedError


class Pending:
    """A response that is not known yet (a parked JoinGroup or SyncGroup).
    Completed once; callbacks run synchronously. Not tied to an event loop,
    so the state machine stays sans-I/O and unit tests need no loop."""

    __slots__ = ("done", "value", "_callbacks")

    def __init__(self):
        self.done = False
        self.value = None
        self._callbacks: list[Callable] = []

    def complete(self, value) -> bool:
        if self.done:
            return False
        self.done, self.value = True, value
        callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(value)
        return True

    def add_callback(self, cb: Callable) -> None:
        if self.done:
            cb(self.value)
        else:
            self._callbacks.append(cb)


@dataclass
class CoordinatorResult:
    """What a coordinator operation returns (Kafka's CoordinatorResult).

    records        to append to __consumer_offsets (grouped by the
                   coordinator partition of each record's group).
    response       a response dict, a Pending, or None (timer operations).
    replay         apply the records through replay() once appended. False
                   for classic GroupMetadata records: the classic state
                   machine already changed its in-memory state, and the record
                   is only for durability (Kafka passes replayRecords=false).
    on_append      called with None once the records are durable (fdatasync
                   done), or with the Kafka error code when the append failed.
    error_response builds the response to send instead when the append fails.
    producer_id    >= 0: the records are a transactional batch of this
    producer_epoch producer (TxnOffsetCommit), pending until its marker.
    """
    records: list = field(default_factory=list)
    response: object = None
    replay: bool = True
    on_append: Callable[[ErrorCode | None], None] | None = None
    error_response: Callable[[ErrorCode], object] | None = None
    producer_id: int = -1
    producer_epoch: int = -1
