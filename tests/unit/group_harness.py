"""A synchronous stand-in for fluxmq/group/runtime.py around a real
GroupCoordinator, driven by a ManualClock: every result's records are
encoded and decoded with Kafka's record format (so the codec is exercised),
"appended" to an in-memory log, replayed when the result asks for it, and
the append callback runs as if fdatasync had completed (or failed)."""

from __future__ import annotations

import struct

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode
from fluxmq.group import records as rec
from fluxmq.group.base import Pending
from fluxmq.group.coordinator import GroupCoordinator
from fluxmq.util.clock import ManualClock



def subscription(*topics: str, version: int = 0) -> bytes:
    """A ConsumerProtocolSubscription: version, topics, user data (null)."""
    out = struct.pack(">hi", version, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


RANGE = ("range", subscription("t"))


class Harness:
    def __init__(self, **config):
        self.clock = ManualClock()
        cfg = BrokerConfig()
        cfg.set("group.initial.rebalance.delay.ms", 3000)
        for key, value in config.items():
            cfg.set(key.replace("_", "."), value)
        self.config = cfg
        self.coord = GroupCoordinator(None, cfg, self.clock)
        self.coord.on_loaded()
        self.log: list[rec.CoordinatorRecord] = []  # every appended record, decoded back
        self.fail_next: ErrorCode | None = None

    # ---------------------------------------------------------------- runtime
    def apply(self, result):
        if result.records and self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            if result.on_append:
                result.on_append(error)
            self._drain()
            return result.error_response(error) if result.error_response else result.response
        for r in result.records:
            r = self.coord.as_record(r)
            key, value = rec.encode(r)
            decoded = rec.decode(key, value)
            offset = len(self.log)
            self.log.append(decoded)
            if result.replay:
                self.coord.replay(decoded, offset)
        if result.on_append:
            result.on_append(None)
        self._drain()
        return result.response

    def _drain(self):
        for _ in range(100):
            deferred = self.coord.take_deferred()
            if not deferred:
                return
            for r in deferred:
                self.apply(r)

    def tick(self, ms: int) -> None:
        """Advances the clock by ms, firing each timer at its own deadline
        (as the runtime's 100 ms poll does, give or take a tick)."""
        target = self.clock.milliseconds() + ms
        while True:
            deadline = self.coord.timer.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.advance(max(deadline - self.clock.milliseconds(), 0))
            for r in self.coord.poll_timers(self.clock.milliseconds()):
                self.apply(r)
        self.clock.advance(target - self.clock.milliseconds())
        for r in self.coord.poll_timers(self.clock.milliseconds()):
            self.apply(r)

    # ------------------------------------------------------------- requests
    def join(self, group="g", member_id="", instance=None, protocols=(RANGE,), session=10_000,
             rebalance=30_000, version=9, client="client", protocol_type="consumer", reason=None) -> Pending | dict:
        resp = self.apply(self.coord.join_group(group, member_id, instance, protocol_type, list(protocols), session,
                                                rebalance, client, "/127.0.0.1", version, reason))
        return resp if isinstance(resp, Pending) else _done(resp)

    def join_new(self, group="g", **kw) -> Pending:
        """A v4+ dynamic member: MEMBER_ID_REQUIRED, then the join with the id."""
        first = self.join(group, **kw)
        assert first.done and first.value["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
        return self.join(group, member_id=first.value["member_id"], **kw)

    def sync(self, group, generation, member_id, assignments=(), instance=None, protocol_type=None,
             protocol_name=None) -> Pending:
        resp = self.apply(self.coord.sync_group(group, generation, member_id, instance, protocol_type,
                                                protocol_name, list(assignments)))
        return resp if isinstance(resp, Pending) else _done(resp)

    def heartbeat(self, group, generation, member_id, instance=None) -> int:
        return self.apply(self.coord.heartbeat(group, generation, member_id, instance))["error_code"]

    def leave(self, group, *members) -> dict:
        """members: member ids, or (member id, instance id) pairs."""
        ms = [(m, None, None) if isinstance(m, str) else (m[0], m[1], None) for m in members]
        return self.apply(self.coord.leave_group(group, ms))

    def commit(self, group, offsets: dict, generation=-1, member_id="", instance=None, version=9,
               retention=-1, metadata="meta", epoch=7) -> dict:
        """offsets: {(topic, partition): offset}; returns {(topic, partition): error}."""
        topics: dict[str, list] = {}
        for (t, p), o in offsets.items():
            topics.setdefault(t, []).append((p, o, epoch, metadata))
        resp = self.apply(self.coord.commit_offsets(group, generation, member_id, instance, list(topics.items()),
                                                    version, retention))
        return {(t["name"], p["partition_index"]): p["error_code"] for t in resp["topics"] for p in t["partitions"]}

    def fetch(self, group, topics=None, require_stable=False) -> dict:
        """{(topic, partition): (offset, epoch, metadata)} (or the group error code)."""
        resp = self.coord.fetch_offsets(group, topics, require_stable)
        if resp["error_code"] != ErrorCode.NONE:
            return resp["error_code"]
        return {(t["name"], p["partition_index"]): (p["committed_offset"], p["committed_leader_epoch"], p["metadata"])
                for t in resp["topics"] for p in t["partitions"]}

    def group(self, group_id="g"):
        return self.coord.groups[group_id]

    # ---------------------------------------------------------- convenience
    def stable_group(self, group="g", n=2, **kw):
        """n dynamic members through the initial rebalance and the leader's
        sync; returns (generation, leader id, [member ids])."""
        pendings = [self.join_new(group, client=f"c{i}", **kw) for i in range(n)]
        # Members arriving during the initial delay extend it once more.
        while not all(p.done for p in pendings):
            self.tick(self.config["group.initial.rebalance.delay.ms"])
        responses = [p.value for p in pendings]
        assert all(r["error_code"] == ErrorCode.NONE for r in responses), responses
        gen = responses[0]["generation_id"]
        leader = responses[0]["leader"]
        ids = [r["member_id"] for r in responses]
        syncs = {m: self.sync(group, gen, m, [(x, x.encode()) for x in ids] if m == leader else ()) for m in ids}
        assert all(s.done and s.value["error_code"] == ErrorCode.NONE for s in syncs.values())
        return gen, leader, ids

    def rebuilt(self) -> "Harness":
        """A fresh coordinator loaded from this one's log (start-up replay)."""
        other = Harness.__new__(Harness)
        other.clock = self.clock
        other.config = self.config
        other.coord = GroupCoordinator(None, self.config, self.clock)
        for offset, r in enumerate(self.log):
            other.coord.replay(r, offset)
        other.coord.on_loaded()
        other.log = list(self.log)
        other.fail_next = None
        return other


def _done(value) -> Pending:
    p = Pending()
    p.complete(value)
    return p


def persisted_view(coord: GroupCoordinator) -> dict:
    """What must survive a restart: classic groups as stored, and offsets."""
    groups = {gid: g.snapshot() for gid, g in coord.groups.items()}
    offsets = {(g, t, p): (om.offset, om.leader_epoch, om.metadata, om.commit_timestamp, om.expire_timestamp)
               for g, topics in coord.offsets.offsets.items() for t, parts in topics.items()
               for p, om in parts.items()}
    return {"groups": groups, "offsets": offsets}
