"""The KIP-848 consumer group state machine with a manual clock: joins,
leaves, session and rebalance timeouts, revocation before reassignment,
fenced epochs, static members, metadata changes, regex subscriptions and
rebuilding the state by replaying its records."""

import random
import uuid
from types import SimpleNamespace

import pytest

from fluxmq.errors import KafkaError
from fluxmq.group import records as wire
from fluxmq.group.consumer_group import (
    ConsumerGroup,
    ConsumerGroupState,
    MemberState,
    code,
)
from fluxmq.group.consumer_manager import (
    ConsumerGroupConfig,
    ConsumerGroupManager,
    Heartbeat,
)
from fluxmq.util.clock import ManualClock

GROUP = "g"


class Topics:
    """The broker's topic metadata, as the manager sees it (LogManager's shape)."""

    def __init__(self):
        self.topics = {}
        self.topics_by_id = {}

    def create(self, name, partitions):
        t = SimpleNamespace(name=name, topic_id=uuid.uuid4(), partition_count=partitions)
        self.topics[name] = t
        self.topics_by_id[t.topic_id] = t
        return t

    def delete(self, name):
        t = self.topics.pop(name)
        del self.topics_by_id[t.topic_id]


class Harness:
    def __init__(self, **config):
        self.clock = ManualClock()
        self.groups = {}
        self.meta = Topics()
        self.mgr = ConsumerGroupManager(self.groups, ConsumerGroupConfig(**config), self.clock, self.meta)
        self.log = []  # every record applied, in order

    def apply(self, records):
        for r in records:
            self.mgr.replay(r)
            self.log.append(r)

    def hb(self, **kw):
        kw.setdefault("group_id", GROUP)
        records, response = self.mgr.heartbeat(Heartbeat(**kw))
        self.apply(records)
        return response

    def tick(self, ms):
        self.clock.advance(ms)
        for result in self.mgr.poll_timers():  # applied already
            assert not result.replay
            self.log.extend(result.records)

    @property
    def group(self) -> ConsumerGroup:
        return self.groups[GROUP]

    def tp(self, topic, *parts):
        return {(self.meta.topics[topic].topic_id, p) for p in parts}


def error_of(fn):
    with pytest.raises(KafkaError) as e:
        fn()
    return int(e.value.code)


class Client:
    """A minimal KIP-848 consumer: owns what the last assignment says once it
    has revoked what it lost (immediately, unless told to hold on)."""

    def __init__(self, h: Harness, member_id, topics=("t",), instance_id=None, rebalance_timeout_ms=60000,
                 regex=None, server_assignor=None):
        self.h = h
        self.member_id = member_id
        self.topics = topics
        self.instance_id = instance_id
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.regex = regex
        self.server_assignor = server_assignor
        self.epoch = 0
        self.owned: set = set()
        self.assigned: set = set()  # what the broker last said we may own
        self.last = None

    def _owned_field(self):
        by_topic = {}
        for t, p in self.owned:
            by_topic.setdefault(t, []).append(p)
        return tuple((t, tuple(sorted(ps))) for t, ps in sorted(by_topic.items()))

    def join(self):
        self.epoch = 0
        self.owned.clear()
        return self._send(Heartbeat(GROUP, self.member_id, 0, instance_id=self.instance_id,
                                    rebalance_timeout_ms=self.rebalance_timeout_ms,
                                    subscribed_topic_names=None if self.regex else tuple(self.topics),
                                    subscribed_topic_regex=self.regex, server_assignor=self.server_assignor,
                                    topic_partitions=()))

    def heartbeat(self, revoke=True):
        resp = self._send(Heartbeat(GROUP, self.member_id, self.epoch, topic_partitions=self._owned_field()))
        if revoke:
            self.owned &= self.assigned
        return resp

    def _send(self, hb):
        records, resp = self.h.mgr.heartbeat(hb)
        self.h.apply(records)
        self.last = resp
        self.member_id = resp["member_id"]
        self.epoch = resp["member_epoch"]
        if resp["assignment"] is not None:
            self.assigned = {(tp["topic_id"], p) for tp in resp["assignment"]["topic_partitions"]
                             for p in tp["partitions"]}
            self.owned |= self.assigned  # newly assigned partitions are usable at once
        return resp

    def leave(self, epoch=-1):
        resp = self._send(Heartbeat(GROUP, self.member_id, epoch, instance_id=self.instance_id))
        self.owned.clear()
        return resp


def no_overlap(clients):
    """The safety property: no partition owned by two consumers at once."""
    seen = {}
    for c in clients:
        for tp in c.owned:
            assert tp not in seen, f"{tp} owned by {seen[tp]} and {c.member_id}"
            seen[tp] = c.member_id


def settle(clients, rounds=6):
    for _ in range(rounds):
        for c in clients:
            c.heartbeat()
            no_overlap(clients)


def settled_pair(partitions: int, **config) -> tuple[Harness, Client, Client]:
    """Members a and b of a group on topic t (`partitions` partitions), joined and settled."""
    h = Harness(**config)
    h.meta.create("t", partitions)
    a, b = Client(h, "a"), Client(h, "b")
    a.join()
    b.join()
    settle([a, b])
    return h, a, b


# ------------------------------------------------------------------- joins
def test_first_member_gets_everything():
    h = Harness()
    h.meta.create("t", 4)
    a = Client(h, "a")
    resp = a.join()
    assert resp["error_code"] == 0 and resp["member_epoch"] == 1
    assert resp["heartbeat_interval"] == 5000
    assert a.owned == h.tp("t", 0, 1, 2, 3)
    assert h.group.state == ConsumerGroupState.STABLE
    assert h.group.group_epoch == 1 and h.group.target_assignment_epoch == 1


def test_second_member_waits_for_revocation():
    h = Harness()
    h.meta.create("t", 4)
    a, b = Client(h, "a"), Client(h, "b")
    a.join()
    resp = b.join()
    assert resp["member_epoch"] == 2 and b.owned == set()  # a still owns them
    assert h.group.members["b"].state == MemberState.UNRELEASED_PARTITIONS
    assert h.group.state == ConsumerGroupState.RECONCILING
    a.heartbeat(revoke=False)  # learns what to revoke, but does not yet
    assert h.group.members["a"].state == MemberState.UNREVOKED_PARTITIONS
    assert a.epoch == 1 and len(a.assigned) == 2
    b.heartbeat()
    assert b.owned == set()  # still unreleased
    a.owned &= a.assigned  # a revokes
    a.heartbeat()
    assert a.epoch == 2 and h.group.members["a"].state == MemberState.STABLE
    b.heartbeat()
    assert len(b.owned) == 2 and not (a.owned & b.owned)
    assert h.group.state == ConsumerGroupState.STABLE


def test_revocation_before_reassignment_three_members_random_schedule():
    for seed in range(30):
        rng = random.Random(seed)
        h = Harness()
        h.meta.create("t", 7)
        h.meta.create("u", 3)
        clients = [Client(h, f"m{i}", topics=("t", "u")) for i in range(3)]
        joined = []
        for _step in range(60):
            c = rng.choice(clients)
            if c not in joined:
                c.join()
                joined.append(c)
            elif rng.random() < 0.1 and len(joined) > 1:
                c.leave()
                joined.remove(c)
            else:
                c.heartbeat(revoke=rng.random() < 0.6)
            no_overlap(clients)
        settle(joined)
        owned = [len(c.owned) for c in joined]
        assert sum(owned) == 10 and max(owned) - min(owned) <= 1
        assert h.group.state == ConsumerGroupState.STABLE


def test_steady_heartbeat_has_no_assignment_but_a_full_request_does():
    h = Harness()
    h.meta.create("t", 2)
    a = Client(h, "a")
    a.join()
    assert a.heartbeat()["assignment"] is None
    full = h.hb(member_id="a", member_epoch=a.epoch, rebalance_timeout_ms=1000, subscribed_topic_names=("t",),
                topic_partitions=a._owned_field())
    assert full["assignment"] is not None
    assert h.hb(member_id="a", member_epoch=a.epoch)["assignment"] is None


def test_v0_generates_member_id_v1_requires_one():
    h = Harness()
    h.meta.create("t", 1)
    resp = h.hb(member_id="", member_epoch=0, rebalance_timeout_ms=1000, subscribed_topic_names=("t",),
                topic_partitions=(), api_version=0)
    assert len(resp["member_id"]) == 22 and resp["member_epoch"] == 1
    assert error_of(lambda: h.hb(member_id="", member_epoch=0, rebalance_timeout_ms=1000,
                                 subscribed_topic_names=("t",), topic_partitions=(), api_version=1)) \
        == code("INVALID_REQUEST")


@pytest.mark.parametrize("kw", [
    {"member_epoch": 0, "rebalance_timeout_ms": 1000, "topic_partitions": ()},  # no subscription
    {"member_epoch": 0, "subscribed_topic_names": ("t",), "topic_partitions": ()},  # no rebalance timeout
    {"member_epoch": 0, "rebalance_timeout_ms": -5, "subscribed_topic_names": ("t",), "topic_partitions": ()},
    {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ("t",)},  # owned partitions null
    {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ("t",),
         "topic_partitions": ((uuid.uuid4(), (0,)),)},
    {"member_epoch": -3},
    {"member_epoch": -2},  # static leave without instance id
    {"member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ("t",), "topic_partitions": (),
         "instance_id": ""},
    {"group_id": "", "member_epoch": 0, "rebalance_timeout_ms": 1000, "subscribed_topic_names": ("t",),
         "topic_partitions": ()},
])
def test_invalid_requests(kw):
    h = Harness()
    kw.setdefault("member_id", "m")
    assert error_of(lambda: h.hb(**kw)) == code("INVALID_REQUEST")
    assert h.groups == {}


def test_unsupported_assignor_and_bad_regex():
    h = Harness()
    join = {"member_id": "m", "member_epoch": 0, "rebalance_timeout_ms": 1000, "topic_partitions": ()}
    assert error_of(lambda: h.hb(subscribed_topic_names=("t",), server_assignor="sticky", **join)) \
        == code("UNSUPPORTED_ASSIGNOR")
    assert error_of(lambda: h.hb(subscribed_topic_regex="t[", **join)) == code("INVALID_REGULAR_EXPRESSION")
    assert error_of(lambda: Harness(assignors=("range",)).hb(subscribed_topic_names=("t",),
                                                              server_assignor="uniform", **join)) \
        == code("UNSUPPORTED_ASSIGNOR")


def test_unknown_member_and_group():
    h = Harness()
    h.meta.create("t", 1)
    assert error_of(lambda: h.hb(member_id="x", member_epoch=3)) == code("GROUP_ID_NOT_FOUND")
    Client(h, "a").join()
    assert error_of(lambda: h.hb(member_id="x", member_epoch=3)) == code("UNKNOWN_MEMBER_ID")
    assert error_of(lambda: h.hb(member_id="x", member_epoch=-1)) == code("UNKNOWN_MEMBER_ID")


def test_group_max_size():
    h = Harness(max_size=2)
    h.meta.create("t", 4)
    a, b = Client(h, "a"), Client(h, "b")
    a.join()
    b.join()
    assert error_of(Client(h, "c").join) == code("GROUP_MAX_SIZE_REACHED")
    b.heartbeat()  # members already in are fine
    a.leave()
    Client(h, "c").join()


# ------------------------------------------------------------------ epochs
def test_fenced_member_epochs():
    h, a, b = settled_pair(4)
    assert a.epoch == 2
    assert error_of(lambda: h.hb(member_id="a", member_epoch=3)) == code("FENCED_MEMBER_EPOCH")
    assert error_of(lambda: h.hb(member_id="a", member_epoch=0, rebalance_timeout_ms=1000,
                                 subscribed_topic_names=("t",), topic_partitions=((uuid.uuid4(), (1,)),))) \
        == code("INVALID_REQUEST")
    # The previous epoch is accepted when what it owns is part of the assignment (lost response)...
    owned = a._owned_field()
    assert h.hb(member_id="a", member_epoch=1, topic_partitions=owned)["member_epoch"] == 2
    # ...but not with partitions outside it, nor without saying what it owns.
    other = b._owned_field()
    assert error_of(lambda: h.hb(member_id="a", member_epoch=1, topic_partitions=other)) \
        == code("FENCED_MEMBER_EPOCH")
    assert error_of(lambda: h.hb(member_id="a", member_epoch=1)) == code("FENCED_MEMBER_EPOCH")


def test_fenced_member_rejoins_with_same_id():
    h, a, b = settled_pair(2)
    epoch = h.group.group_epoch
    a.join()  # KIP-1082 client after FENCED_MEMBER_EPOCH: same id, epoch 0, owns nothing
    settle([a, b])
    assert h.group.group_epoch == epoch  # not a new member
    assert len(a.owned) == 1 and len(b.owned) == 1


# ------------------------------------------------------------------ leaving
def test_leave_bumps_epoch_and_frees_partitions():
    h, a, b = settled_pair(4)
    resp = b.leave()
    assert resp["member_epoch"] == -1 and resp["error_code"] == 0
    assert "b" not in h.group.members and h.group.group_epoch == 3
    assert h.group.state == ConsumerGroupState.ASSIGNING
    a.heartbeat()
    assert len(a.owned) == 4 and h.group.state == ConsumerGroupState.STABLE
    a.leave()
    assert h.group.state == ConsumerGroupState.EMPTY and h.group.group_epoch == 4


def test_session_timeout_expires_member():
    h, a, b = settled_pair(4, session_timeout_ms=45000)
    for _ in range(10):
        h.tick(5000)
        a.heartbeat()  # b is silent
    assert "b" not in h.group.members
    assert len(a.owned) == 4


def test_two_sessions_expiring_in_one_poll_each_bump_the_epoch():
    h = Harness(session_timeout_ms=45000)
    h.meta.create("t", 6)
    a, b, c = Client(h, "a"), Client(h, "b"), Client(h, "c")
    for x in (a, b, c):
        x.join()
    settle([a, b, c])
    epoch = h.group.group_epoch
    h.tick(30000)
    a.heartbeat()
    h.tick(20000)  # b and c expire in the same poll
    assert set(h.group.members) == {"a"} and h.group.group_epoch == epoch + 2
    epochs = [r.value["epoch"] for r in h.log if r.type == 3 and r.value]
    assert epochs[-2:] == [epoch + 1, epoch + 2]
    a.heartbeat()
    assert len(a.owned) == 6


def test_session_timeout_not_fired_while_heartbeating():
    h = Harness(session_timeout_ms=1000)
    h.meta.create("t", 1)
    a = Client(h, "a")
    a.join()
    for _ in range(20):
        h.tick(900)
        a.heartbeat()
    assert "a" in h.group.members


def test_rebalance_timeout_fences_a_member_that_does_not_revoke():
    h = Harness()
    h.meta.create("t", 4)
    a, b = Client(h, "a", rebalance_timeout_ms=10000), Client(h, "b")
    a.join()
    b.join()
    a.heartbeat(revoke=False)
    assert h.group.members["a"].state == MemberState.UNREVOKED_PARTITIONS
    for _ in range(2):
        h.tick(4000)
        a.heartbeat(revoke=False)
        b.heartbeat()
    assert "a" in h.group.members
    h.tick(4000)
    assert "a" not in h.group.members  # fenced after 10 s
    assert error_of(lambda: a.heartbeat()) == code("UNKNOWN_MEMBER_ID")
    b.heartbeat()
    assert len(b.owned) == 4


def test_rebalance_timeout_cancelled_once_revoked():
    h = Harness()
    h.meta.create("t", 4)
    a, b = Client(h, "a", rebalance_timeout_ms=10000), Client(h, "b")
    a.join()
    b.join()
    settle([a, b])
    h.tick(20000)
    assert {"a", "b"} <= set(h.group.members)


# ------------------------------------------------------------ static members
def test_static_member_temporary_leave_and_replacement():
    h = Harness()
    h.meta.create("t", 4)
    a, b = Client(h, "a", instance_id="i-a"), Client(h, "b", instance_id="i-b")
    a.join()
    b.join()
    settle([a, b])
    epoch = h.group.group_epoch
    kept = set(a.owned)
    assert a.leave(epoch=-2)["member_epoch"] == -2
    assert h.group.members["a"].member_epoch == -2 and h.group.group_epoch == epoch
    b.heartbeat()
    assert len(b.owned) == 2  # a's partitions are held for it
    # The same instance comes back as a new process with a new member id.
    a2 = Client(h, "a2", instance_id="i-a")
    resp = a2.join()
    assert resp["member_epoch"] == epoch and a2.owned == kept
    assert "a" not in h.group.members and h.group.group_epoch == epoch
    assert h.group.static_member("i-a").member_id == "a2"


def test_static_instance_in_use_and_fenced_instance():
    h = Harness()
    h.meta.create("t", 2)
    a = Client(h, "a", instance_id="i")
    a.join()
    assert error_of(Client(h, "a2", instance_id="i").join) == code("UNRELEASED_INSTANCE_ID")
    assert error_of(lambda: h.hb(member_id="zz", member_epoch=1, instance_id="i")) == code("FENCED_INSTANCE_ID")
    assert error_of(lambda: h.hb(member_id="a", member_epoch=1, instance_id="nope")) == code("UNKNOWN_MEMBER_ID")


def test_static_member_that_does_not_return_expires():
    h = Harness(session_timeout_ms=45000)
    h.meta.create("t", 2)
    a, b = Client(h, "a", instance_id="i-a"), Client(h, "b")
    a.join()
    b.join()
    settle([a, b])
    a.leave(epoch=-2)
    for _ in range(10):
        h.tick(5000)
        b.heartbeat()
    assert h.group.static_member("i-a") is None
    assert len(b.owned) == 2


def test_static_member_full_leave():
    h = Harness()
    h.meta.create("t", 2)
    a = Client(h, "a", instance_id="i-a")
    a.join()
    assert a.leave(epoch=-1)["member_epoch"] == -1
    assert h.group.members == {} and h.group.static_member("i-a") is None


# ------------------------------------------------------- metadata and regex
def test_partitions_added_and_topics_created_or_deleted_trigger_reassignment():
    h = Harness()
    t = h.meta.create("t", 2)
    a, b = Client(h, "a", topics=("t", "later")), Client(h, "b", topics=("t", "later"))
    a.join()
    b.join()
    settle([a, b])
    epoch = h.group.group_epoch
    t.partition_count = 4
    settle([a, b])
    assert h.group.group_epoch == epoch + 1
    assert len(a.owned | b.owned) == 4
    h.meta.create("later", 2)
    settle([a, b])
    assert h.group.group_epoch == epoch + 2 and len(a.owned | b.owned) == 6
    h.meta.delete("t")
    settle([a, b])
    assert h.group.group_epoch == epoch + 3
    assert a.owned | b.owned == h.tp("later", 0, 1)


def test_regex_subscription():
    h = Harness()
    h.meta.create("orders-eu", 2)
    h.meta.create("payments", 2)
    h.meta.create("__consumer_offsets", 50)
    a = Client(h, "a", regex="orders-.*")
    a.join()
    assert a.owned == h.tp("orders-eu", 0, 1)
    h.meta.create("orders-us", 1)
    a.heartbeat()
    assert a.owned == h.tp("orders-eu", 0, 1) | h.tp("orders-us", 0)
    h.meta.create("xorders-x", 1)  # a full match is required
    a.heartbeat()
    assert len(a.owned) == 3


def test_regex_subscription_matches_internal_topics():
    """Kafka 4.4 resolves a regex against every topic, __consumer_offsets included."""
    h = Harness()
    h.meta.create("orders-eu", 1)
    h.meta.create("__consumer_offsets", 3)
    a = Client(h, "a", regex="orders-.*|__consumer.*")
    a.join()
    assert a.owned == h.tp("orders-eu", 0) | h.tp("__consumer_offsets", 0, 1, 2)


def test_subscription_change_bumps_epoch():
    h = Harness()
    h.meta.create("t", 1)
    h.meta.create("u", 1)
    a = Client(h, "a")
    a.join()
    resp = h.hb(member_id="a", member_epoch=a.epoch, subscribed_topic_names=("u",))
    assert h.group.group_epoch == 2
    assert resp["assignment"] is not None  # t revoked (assigned set shrank)
    assert h.group.members["a"].subscribed_topic_names == ("u",)


def test_server_assignor_choice_and_describe():
    h = Harness()
    h.meta.create("t", 4)
    a = Client(h, "a", server_assignor="range")
    a.join()
    [d] = h.mgr.describe([GROUP])
    assert d["assignor_name"] == "range" and d["group_state"] == "Stable" and d["group_epoch"] == 1
    [m] = d["members"]
    assert m["member_id"] == "a" and m["member_type"] == 1
    assert m["assignment"]["topic_partitions"][0]["topic_name"] == "t"
    assert m["assignment"] == m["target_assignment"]
    missing, = h.mgr.describe(["nope"])
    assert missing["error_code"] == code("GROUP_ID_NOT_FOUND")
    h.groups["classic"] = object()
    classic, = h.mgr.describe(["classic"])
    assert classic["error_code"] == code("GROUP_ID_NOT_FOUND") and "not a consumer group" in classic["error_message"]


def test_heartbeat_on_foreign_group_type():
    h = Harness()
    h.meta.create("t", 1)
    h.groups[GROUP] = object()
    assert error_of(Client(h, "a").join) == code("GROUP_ID_NOT_FOUND")
    h.mgr.foreign_group_tombstones = lambda g: []  # e.g. an empty classic group: deleted, replaced
    del h.groups[GROUP]
    h.groups[GROUP] = object()
    Client(h, "a").join()
    assert isinstance(h.groups[GROUP], ConsumerGroup)


# ------------------------------------------------------------------- replay
def snapshot(group: ConsumerGroup):
    return (group.group_epoch, group.target_assignment_epoch, dict(group.members), dict(group.target_assignment),
            dict(group.subscription_metadata), dict(group.static_members), dict(group._partition_owners))


def test_replaying_the_records_rebuilds_the_state():
    h = Harness()
    h.meta.create("t", 5)
    h.meta.create("u", 2)
    clients = [Client(h, "a"), Client(h, "b", instance_id="i-b"), Client(h, "c", topics=("t", "u"))]
    for c in clients:
        c.join()
    clients[0].heartbeat(revoke=False)
    clients[1].leave(epoch=-2)
    clients[2].heartbeat()
    before = snapshot(h.group)
    fresh = Harness()
    fresh.meta = h.meta
    fresh.mgr.metadata = h.meta
    for r in h.log:  # through the bytes __consumer_offsets holds
        fresh.mgr.replay(wire.decode(*wire.encode(r)))
    assert snapshot(fresh.groups[GROUP]) == before
    fresh.mgr.on_loaded()
    fresh.tick(46000)
    assert fresh.groups[GROUP].members == {}  # sessions restart at load, then expire


def test_group_tombstones_delete_the_group():
    h = Harness()
    h.meta.create("t", 1)
    a = Client(h, "a")
    a.join()
    a.leave()
    h.apply(h.group.tombstone_records())
    assert GROUP not in h.groups


# ------------------------------------------------------------------ offsets
def test_offset_commit_and_fetch_validation():
    h = Harness()
    h.meta.create("t", 2)
    a = Client(h, "a")
    a.join()
    g = h.group
    g.validate_offset_commit("a", None, a.epoch, 9)
    assert error_of(lambda: g.validate_offset_commit("a", None, a.epoch - 1, 9)) == code("STALE_MEMBER_EPOCH")
    assert error_of(lambda: g.validate_offset_commit("a", None, a.epoch + 1, 9)) == code("STALE_MEMBER_EPOCH")
    assert error_of(lambda: g.validate_offset_commit("zz", None, a.epoch, 9)) == code("UNKNOWN_MEMBER_ID")
    assert error_of(lambda: g.validate_offset_commit("a", None, a.epoch, 8)) == code("UNSUPPORTED_VERSION")
    assert error_of(lambda: g.validate_offset_commit("", None, -1, 9)) == code("UNKNOWN_MEMBER_ID")
    g.validate_offset_fetch(None, -1)  # the admin client
    g.validate_offset_fetch("a", a.epoch)
    assert error_of(lambda: g.validate_offset_fetch("a", 0)) == code("STALE_MEMBER_EPOCH")
    assert error_of(lambda: g.validate_offset_fetch("zz", 1)) == code("UNKNOWN_MEMBER_ID")
    assert error_of(g.validate_delete_group) == code("NON_EMPTY_GROUP")
    assert g.is_subscribed_to_topic("t") and not g.is_subscribed_to_topic("u")
    a.leave()
    g.validate_offset_commit("", None, -1, 2)  # empty group: admin commits are fine
    g.validate_delete_group()
    assert g.state_name() == "Empty" and g.protocol_type_name() == "consumer"


# ------------------------------------------- inside the real GroupCoordinator
def coordinator_harness():
    """The other group types' harness (group_harness.py) with topics for KIP-848."""
    from group_harness import Harness as CoordinatorHarness
    ch = CoordinatorHarness()
    ch.topics = Topics()
    ch.coord.consumer.metadata = ch.topics
    return ch


def coordinator_heartbeat(ch, **kw):
    kw.setdefault("group_id", GROUP)
    return ch.apply(ch.coord.consumer.heartbeat_result(Heartbeat(**kw)))


def join_kw(member_id, topics=("t",)):
    return {"member_id": member_id, "member_epoch": 0, "rebalance_timeout_ms": 30000,
            "subscribed_topic_names": topics, "topic_partitions": ()}


def test_coordinator_replays_consumer_group_records_and_rebuilds():
    ch = coordinator_harness()
    ch.topics.create("t", 3)
    resp = coordinator_heartbeat(ch, **join_kw("a"))
    assert resp["error_code"] == 0 and resp["member_epoch"] == 1
    assert {r.type for r in ch.log} == {3, 4, 5, 6, 7, 8}
    rebuilt = ch.rebuilt()
    g = rebuilt.coord.groups[GROUP]
    assert isinstance(g, ConsumerGroup) and g.members["a"].member_epoch == 1
    assert rebuilt.coord.timer.deadline(("session", GROUP, "a")) is not None
    listed = ch.coord.list_groups(types_filter=["Consumer"])["groups"]
    assert listed == [{"group_id": GROUP, "protocol_type": "consumer", "group_state": "Stable",
                       "group_type": "consumer"}]
    assert ch.coord.list_groups(types_filter=["classic"])["groups"] == []
    [described] = ch.coord.describe_groups([GROUP])
    assert described["group_state"] == "Dead" and described["error_code"] == 0  # not a classic group


def test_coordinator_session_timeout_through_its_timer():
    ch = coordinator_harness()
    ch.topics.create("t", 2)
    coordinator_heartbeat(ch, **join_kw("a"))
    coordinator_heartbeat(ch, **join_kw("b"))
    ch.tick(46000)
    assert ch.coord.groups[GROUP].members == {}
    assert ch.coord.groups[GROUP].group_epoch == 4
    assert ch.rebuilt().coord.groups[GROUP].group_epoch == 4  # the fences were appended


def test_offset_commit_v9_with_member_epochs():
    ch = coordinator_harness()
    ch.topics.create("t", 2)
    epoch = coordinator_heartbeat(ch, **join_kw("a"))["member_epoch"]
    ok = ch.commit(GROUP, {("t", 0): 5}, generation=epoch, member_id="a")
    assert ok == {("t", 0): 0}
    assert ch.commit(GROUP, {("t", 0): 6}, generation=epoch - 1, member_id="a") == {("t", 0): code("STALE_MEMBER_EPOCH")}
    assert ch.commit(GROUP, {("t", 0): 6}, generation=epoch, member_id="x") == {("t", 0): code("UNKNOWN_MEMBER_ID")}
    assert ch.commit(GROUP, {("t", 0): 6}, generation=epoch, member_id="a", version=8) == \
        {("t", 0): code("UNSUPPORTED_VERSION")}
    fetched = ch.coord.fetch_offsets(GROUP, [("t", [0])], member_id="a", member_epoch=epoch)
    assert fetched["error_code"] == 0 and fetched["topics"][0]["partitions"][0]["committed_offset"] == 5
    assert ch.coord.fetch_offsets(GROUP, [("t", [0])], member_id="a", member_epoch=epoch + 1)["error_code"] == \
        code("STALE_MEMBER_EPOCH")
    assert ch.coord.fetch_offsets(GROUP, None)["error_code"] == 0  # the admin client


def test_classic_join_on_a_consumer_group_and_back():
    ch = coordinator_harness()
    ch.topics.create("t", 2)
    coordinator_heartbeat(ch, **join_kw("a"))
    join = ch.join(GROUP)  # classic JoinGroup on a live consumer group
    assert join.value["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    coordinator_heartbeat(ch, member_id="a", member_epoch=-1)
    first = ch.join(GROUP)  # empty now: the group becomes classic
    assert first.value["error_code"] == code("MEMBER_ID_REQUIRED")
    assert not isinstance(ch.coord.groups[GROUP], ConsumerGroup)
    # Still Empty (the member id is only pending), so KIP-848 may take it back, as in Kafka.
    assert coordinator_heartbeat(ch, **join_kw("b"))["error_code"] == 0
    assert isinstance(ch.coord.groups[GROUP], ConsumerGroup)
    assert not ch.coord.timer.is_scheduled(("heartbeat", GROUP, first.value["member_id"]))


def test_consumer_heartbeat_takes_over_an_empty_classic_group():
    ch = coordinator_harness()
    ch.topics.create("t", 2)
    assert ch.commit(GROUP, {("t", 0): 3}) == {("t", 0): 0}  # a simple (classic, Empty) group
    resp = coordinator_heartbeat(ch, **join_kw("a"))
    assert resp["error_code"] == 0
    assert isinstance(ch.coord.groups[GROUP], ConsumerGroup)
    assert ch.fetch(GROUP, [("t", [0])])[("t", 0)][0] == 3  # the offsets stay
    rebuilt = ch.rebuilt()
    assert isinstance(rebuilt.coord.groups[GROUP], ConsumerGroup)


def test_consumer_heartbeat_on_a_live_classic_group():
    ch = coordinator_harness()
    ch.topics.create("t", 2)
    ch.stable_group(GROUP, n=1)
    resp = coordinator_heartbeat(ch, **join_kw("a"))
    assert resp["error_code"] == code("GROUP_ID_NOT_FOUND")
    assert "not a consumer group" in resp["error_message"]
