"""The classic group state machine (JoinGroup / SyncGroup / Heartbeat /
LeaveGroup) on a real GroupCoordinator with a manual clock: joins,
MEMBER_ID_REQUIRED, leaves, session expiry, rebalance timeout, static member
replacement, fenced generations, illegal transitions, and replay of the
stored records rebuilding the same state."""

import pytest
from group_harness import RANGE, Harness, persisted_view, subscription

from fluxmq.errors import ErrorCode as E
from fluxmq.group import records as rec
from fluxmq.group.classic import IllegalStateTransition, S
from fluxmq.group.classic_manager import NEW_MEMBER_JOIN_TIMEOUT_MS


@pytest.fixture
def h():
    return Harness()


# ----------------------------------------------------------------- joining
def test_first_join_v4_needs_a_member_id_then_waits_for_the_initial_delay(h):
    first = h.join("g", client="app")
    assert first.done and first.value["error_code"] == E.MEMBER_ID_REQUIRED
    member_id = first.value["member_id"]
    assert member_id.startswith("app-") and len(member_id) > len("app-") + 30
    assert h.group().state is S.EMPTY and h.group().is_pending_member(member_id)
    # The group exists durably from its first join (an empty GroupMetadata).
    assert [r.type for r in h.log] == [rec.GROUP_METADATA] and h.log[0].value["members"] == []

    join = h.join("g", member_id=member_id, client="app")
    assert not join.done and h.group().state is S.PREPARING_REBALANCE
    h.tick(2999)
    assert not join.done  # group.initial.rebalance.delay.ms
    h.tick(1)
    r = join.value
    assert r["error_code"] == E.NONE and r["generation_id"] == 1 and r["leader"] == member_id
    assert r["protocol_name"] == "range" and r["protocol_type"] == "consumer"
    assert r["members"] == [{"member_id": member_id, "group_instance_id": None, "metadata": RANGE[1]}]
    assert h.group().state is S.COMPLETING_REBALANCE


def test_join_v3_adds_the_member_without_member_id_required(h):
    join = h.join("g", version=3)
    assert not join.done
    h.tick(3000)
    assert join.value["error_code"] == E.NONE and join.value["member_id"]


def test_initial_delay_is_extended_while_members_keep_arriving_up_to_the_rebalance_timeout(h):
    a = h.join_new("g", client="a", rebalance=10_000)
    h.tick(2000)
    b = h.join_new("g", client="b", rebalance=10_000)
    h.tick(1000)  # first delay over, but b arrived: extended
    assert not a.done and not b.done
    h.tick(3000)
    assert a.done and b.done and a.value["generation_id"] == b.value["generation_id"] == 1
    leader = a.value["leader"]
    lead, follow = (a, b) if a.value["member_id"] == leader else (b, a)
    assert len(lead.value["members"]) == 2 and follow.value["members"] == []


def test_sync_hands_out_the_leaders_assignment_and_empty_bytes_to_the_rest(h):
    a = h.join_new("g", client="a")
    b = h.join_new("g", client="b")
    c = h.join_new("g", client="c")
    h.tick(3000)
    assert not a.done  # b and c arrived during the initial delay: extended once
    h.tick(3000)
    gen, leader = a.value["generation_id"], a.value["leader"]
    others = [p.value["member_id"] for p in (a, b, c) if p.value["member_id"] != leader]
    follower_sync = h.sync("g", gen, others[0])
    assert not follower_sync.done  # followers wait for the leader
    assert h.heartbeat("g", gen, others[0]) == E.NONE  # heartbeats are fine in CompletingRebalance
    leader_sync = h.sync("g", gen, leader, [(leader, b"L"), (others[0], b"F")])
    assert leader_sync.value == {"error_code": E.NONE, "protocol_type": "consumer", "protocol_name": "range",
                                 "assignment": b"L"}
    assert follower_sync.value["assignment"] == b"F"
    late = h.sync("g", gen, others[1])  # no assignment from the leader: empty bytes, not null
    assert late.value["error_code"] == E.NONE and late.value["assignment"] == b""
    assert h.group().state is S.STABLE
    stored = h.log[-1]
    assert stored.type == rec.GROUP_METADATA and stored.value["generation"] == gen
    assert {m["member_id"]: m["assignment"] for m in stored.value["members"]} == {
        leader: b"L", others[0]: b"F", others[1]: b""}


def test_a_new_member_triggers_a_rebalance_that_completes_once_everybody_rejoined(h):
    gen, leader, (m1, m2) = h.stable_group("g")
    newcomer = h.join_new("g", client="n")
    assert not newcomer.done and h.group().state is S.PREPARING_REBALANCE
    assert h.heartbeat("g", gen, m1) == E.REBALANCE_IN_PROGRESS
    assert h.sync("g", gen, m1).value["error_code"] == E.REBALANCE_IN_PROGRESS
    r1 = h.join("g", member_id=m1, client="c0")
    assert not r1.done
    r2 = h.join("g", member_id=m2, client="c1")  # the last one: completes at once (no initial delay)
    assert r1.done and r2.done and newcomer.done
    assert {p.value["generation_id"] for p in (r1, r2, newcomer)} == {gen + 1}
    assert h.heartbeat("g", gen, m1) == E.ILLEGAL_GENERATION


def test_members_that_do_not_rejoin_before_the_rebalance_timeout_are_removed(h):
    gen, leader, (m1, m2) = h.stable_group("g", rebalance=20_000, session=60_000)
    rejoin = h.join("g", member_id=m1, client="c0", rebalance=20_000, session=60_000)  # the leader rejoins
    assert not rejoin.done
    h.tick(19_999)
    assert not rejoin.done
    h.heartbeat("g", gen, m2)  # heartbeating is not rejoining
    h.tick(1)
    assert rejoin.value["error_code"] == E.NONE and rejoin.value["generation_id"] == gen + 1
    assert rejoin.value["leader"] == m1 and set(h.group().members) == {m1}
    assert h.heartbeat("g", gen + 1, m2) == E.UNKNOWN_MEMBER_ID


def test_the_leader_rejoining_in_stable_forces_a_rebalance_cooperative_style(h):
    """Cooperative-sticky clients just rejoin: the first rebalance revokes,
    the second assigns; the broker only has to get generations right."""
    gen, leader, ids = h.stable_group("g", protocols=[("cooperative-sticky", b"x")])
    follower = [m for m in ids if m != leader][0]
    # The follower rejoins with the same metadata in Stable: no rebalance.
    same = h.join("g", member_id=follower, client="c", protocols=[("cooperative-sticky", b"x")])
    assert same.value["generation_id"] == gen and h.group().state is S.STABLE
    # The leader rejoins: a rebalance for everybody.
    lead = h.join("g", member_id=leader, client="c", protocols=[("cooperative-sticky", b"x")])
    assert not lead.done and h.heartbeat("g", gen, follower) == E.REBALANCE_IN_PROGRESS
    foll = h.join("g", member_id=follower, client="c", protocols=[("cooperative-sticky", b"y")])
    assert lead.value["generation_id"] == foll.value["generation_id"] == gen + 1
    assert [m["metadata"] for m in lead.value["members"] if m["member_id"] == follower] == [b"y"]


# ----------------------------------------------------------- protocols
def test_protocol_selection_picks_a_protocol_every_member_supports_by_votes(h):
    a = h.join_new("g", client="a", protocols=[("range", b"a1"), ("roundrobin", b"a2")])
    b = h.join_new("g", client="b", protocols=[("roundrobin", b"b1"), ("range", b"b2")])
    c = h.join_new("g", client="c", protocols=[("roundrobin", b"c1"), ("sticky", b"c2"), ("range", b"c3")])
    h.tick(6000)
    assert a.value["protocol_name"] == "roundrobin"  # 2 votes to 1
    leader = a.value["leader"]
    lead = next(p for p in (a, b, c) if p.value["member_id"] == leader)
    assert sorted(m["metadata"] for m in lead.value["members"]) == [b"a2", b"b1", b"c1"]
    # A member sharing no protocol, or of another protocol type, is refused.
    assert h.join("g", protocols=[("sticky", b"")]).value["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.join("g", protocol_type="connect").value["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.join("g2", protocols=[]).value["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL


def test_sync_v5_checks_protocol_type_and_name(h):
    gen, leader, ids = h.stable_group("g")
    assert h.sync("g", gen, ids[1], protocol_type="connect").value["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.sync("g", gen, ids[1], protocol_name="roundrobin").value["error_code"] == E.INCONSISTENT_GROUP_PROTOCOL
    ok = h.sync("g", gen, ids[1], protocol_type="consumer", protocol_name="range").value
    assert ok["error_code"] == E.NONE and ok["assignment"] == ids[1].encode()


# ------------------------------------------------------- leaving and expiry
def test_leave_group_batched_and_by_instance_id(h):
    static = h.join("g", instance="i-1", client="s")
    dyn = h.join_new("g", client="d")
    h.tick(6000)
    sid, did = static.value["member_id"], dyn.value["member_id"]
    out = h.leave("g", ("", "i-1"), "nobody", (did, None))
    assert [m["error_code"] for m in out["members"]] == [E.NONE, E.UNKNOWN_MEMBER_ID, E.NONE]
    assert h.group().state is S.EMPTY and h.group().generation_id == 2
    assert h.log[-1].value["members"] == [] and h.log[-1].value["generation"] == 2
    assert h.leave("unknown-group", "x")["members"][0]["error_code"] == E.UNKNOWN_MEMBER_ID
    assert h.heartbeat("g", 2, sid) == E.UNKNOWN_MEMBER_ID


def test_session_expiry_removes_the_member_and_rebalances_the_rest(h):
    gen, leader, (m1, m2) = h.stable_group("g", session=10_000)
    h.tick(6000)
    assert h.heartbeat("g", gen, m1) == E.NONE  # m1 keeps its session, m2 is silent
    h.tick(3999)
    assert m2 in h.group().members
    h.tick(1)  # 10 s after the sync that started m2's session
    assert m2 not in h.group().members and h.group().state is S.PREPARING_REBALANCE
    assert h.heartbeat("g", gen, m1) == E.REBALANCE_IN_PROGRESS
    rejoin = h.join("g", member_id=m1, client="c0")
    assert rejoin.value["generation_id"] == gen + 1 and rejoin.value["leader"] == m1


def test_last_member_expiring_leaves_an_empty_generation_on_disk(h):
    gen, leader, (m1,) = h.stable_group("g", n=1, session=10_000)
    h.tick(10_000)
    assert h.group().state is S.EMPTY and h.group().generation_id == gen + 1
    assert h.log[-1].value == {**h.log[-1].value, "generation": gen + 1, "members": [], "protocol": None}


def test_a_pending_member_that_never_joins_expires(h):
    first = h.join("g", session=7000)
    mid = first.value["member_id"]
    h.tick(6999)
    assert h.group().is_pending_member(mid)
    h.tick(1)
    assert not h.group().is_pending_member(mid)
    # Its id is now unknown: the join with it is refused.
    assert h.join("g", member_id=mid).value["error_code"] == E.UNKNOWN_MEMBER_ID


def test_a_new_member_whose_join_waits_too_long_is_dropped(h):
    gen, leader, (m1, m2) = h.stable_group("g", rebalance=NEW_MEMBER_JOIN_TIMEOUT_MS * 2, session=600_000)
    newcomer = h.join_new("g", client="n", rebalance=NEW_MEMBER_JOIN_TIMEOUT_MS * 2, session=600_000)
    h.tick(NEW_MEMBER_JOIN_TIMEOUT_MS)
    assert newcomer.value["error_code"] == E.UNKNOWN_MEMBER_ID and newcomer.value["member_id"] == ""


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout(h):
    a = h.join_new("g", client="a", rebalance=15_000, session=60_000)
    b = h.join_new("g", client="b", rebalance=15_000, session=60_000)
    h.tick(6000)
    gen, leader = a.value["generation_id"], a.value["leader"]
    other = b.value["member_id"] if a.value["member_id"] == leader else a.value["member_id"]
    h.sync("g", gen, leader, [(leader, b"L"), (other, b"O")])  # the follower never syncs
    h.tick(15_000)
    assert other not in h.group().members and h.group().state is S.PREPARING_REBALANCE


# -------------------------------------------------------- static members
def test_static_member_replacement_fences_the_old_member_without_a_rebalance(h):
    s = h.join("g", instance="inst", client="s", version=9)  # static: no MEMBER_ID_REQUIRED
    d = h.join_new("g", client="d")
    h.tick(6000)
    gen = s.value["generation_id"]
    old, did = s.value["member_id"], d.value["member_id"]
    assert old.startswith("inst-")
    h.sync("g", gen, s.value["leader"], [(old, b"S"), (did, b"D")])
    before = len(h.log)
    again = h.join("g", instance="inst", client="s2", version=9)  # restarted with no member id
    new = again.value["member_id"]
    assert again.value["error_code"] == E.NONE and new != old and again.value["generation_id"] == gen
    assert len(h.log) == before + 1  # the new member id is persisted, no rebalance
    assert h.group().state is S.STABLE and h.group().static_members["inst"] == new
    assert h.heartbeat("g", gen, old, "inst") == E.FENCED_INSTANCE_ID
    assert h.commit("g", {("t", 0): 1}, gen, old, "inst") == {("t", 0): E.FENCED_INSTANCE_ID}
    assert h.heartbeat("g", gen, new, "inst") == E.NONE
    assert h.sync("g", gen, new, instance="inst").value["assignment"] == b"S"  # keeps its assignment
    assert h.heartbeat("g", gen, did) == E.NONE  # the other member noticed nothing


def test_static_leader_replacement_v9_skips_assignment(h):
    s = h.join("g", instance="lead", client="s")
    h.tick(3000)
    h.sync("g", 1, s.value["member_id"], [(s.value["member_id"], b"A")])
    again = h.join("g", instance="lead", client="s")
    assert again.value["skip_assignment"] is True and again.value["leader"] == again.value["member_id"]
    assert len(again.value["members"]) == 1


def test_static_replacement_fences_a_parked_sync_of_the_old_member(h):
    d = h.join_new("g", client="d")  # joins first: the leader
    s = h.join("g", instance="inst", client="s")
    h.tick(6000)
    gen, leader, old = s.value["generation_id"], s.value["leader"], s.value["member_id"]
    assert leader == d.value["member_id"]
    parked = h.sync("g", gen, old, instance="inst")
    assert not parked.done
    replacement = h.join("g", instance="inst", client="s")
    assert parked.value["error_code"] == E.FENCED_INSTANCE_ID
    # In the sync phase the leader may be assigning to the old id: a new rebalance.
    assert h.group().state is S.PREPARING_REBALANCE and not replacement.done
    lead = h.join("g", member_id=leader, client="d")
    assert lead.value["generation_id"] == replacement.value["generation_id"] == gen + 1
    assert {m["member_id"] for m in lead.value["members"]} == {leader, replacement.value["member_id"]}


def test_static_replacement_write_failure_reverts_to_the_old_member(h):
    s = h.join("g", instance="inst", client="s")
    h.tick(3000)
    old = s.value["member_id"]
    h.sync("g", 1, old, [(old, b"A")])
    h.fail_next = E.KAFKA_STORAGE_ERROR
    again = h.join("g", instance="inst", client="s")
    assert again.value["error_code"] == E.KAFKA_STORAGE_ERROR and again.value["member_id"] == ""
    assert h.group().static_members["inst"] == old and h.heartbeat("g", 1, old, "inst") == E.NONE


# ------------------------------------------------------ errors, transitions
def test_fenced_generations_and_unknown_members(h):
    gen, leader, (m1, m2) = h.stable_group("g")
    assert h.heartbeat("g", gen - 1, m1) == E.ILLEGAL_GENERATION
    assert h.sync("g", gen + 1, m1).value["error_code"] == E.ILLEGAL_GENERATION
    assert h.commit("g", {("t", 0): 5}, gen - 1, m1) == {("t", 0): E.ILLEGAL_GENERATION}
    assert h.heartbeat("g", gen, "who") == E.UNKNOWN_MEMBER_ID
    assert h.sync("g", gen, "who").value["error_code"] == E.UNKNOWN_MEMBER_ID
    assert h.heartbeat("nope", gen, m1) == E.UNKNOWN_MEMBER_ID
    assert h.sync("nope", gen, m1).value["error_code"] == E.UNKNOWN_MEMBER_ID
    assert h.join("nope", member_id="someone").value["error_code"] == E.UNKNOWN_MEMBER_ID
    assert h.commit("g", {("t", 0): 5}, gen, m1) == {("t", 0): E.NONE}


def test_request_validation_matches_kafka(h):
    assert h.join("").value["error_code"] == E.INVALID_GROUP_ID
    assert h.apply(h.coord.heartbeat("", 1, "m"))["error_code"] == E.INVALID_GROUP_ID
    assert h.sync("", 1, "m").value["error_code"] == E.INVALID_GROUP_ID
    assert h.join("g", session=5999).value["error_code"] == E.INVALID_SESSION_TIMEOUT
    assert h.join("g", session=1_800_001).value["error_code"] == E.INVALID_SESSION_TIMEOUT
    long_id = "g" * 32767  # the longest id the wire allows is accepted, as by Kafka
    assert h.join(long_id).value["error_code"] == E.MEMBER_ID_REQUIRED


def test_group_max_size(h):
    small = Harness(group_max_size=1)
    a = small.join_new("g", client="a")
    b = small.join("g", client="b")  # refused before MEMBER_ID_REQUIRED, as Kafka does
    assert b.value["error_code"] == E.GROUP_MAX_SIZE_REACHED and b.value["member_id"] == "" and not a.done


def test_illegal_transitions_are_refused():
    from fluxmq.group.classic import ClassicGroup
    g = ClassicGroup("g", 0)
    for target in (S.COMPLETING_REBALANCE, S.STABLE, S.EMPTY):
        with pytest.raises(IllegalStateTransition):
            g.transition_to(target, 0)  # Empty goes only to PreparingRebalance (or Dead)
    g.transition_to(S.PREPARING_REBALANCE, 0)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(S.STABLE, 0)  # must pass CompletingRebalance
    g.transition_to(S.COMPLETING_REBALANCE, 0)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(S.EMPTY, 0)
    g.transition_to(S.STABLE, 0)
    with pytest.raises(IllegalStateTransition):
        g.transition_to(S.COMPLETING_REBALANCE, 0)
    g.transition_to(S.DEAD, 0)
    for target in (S.EMPTY, S.PREPARING_REBALANCE, S.STABLE):
        with pytest.raises(IllegalStateTransition):
            g.transition_to(target, 0)


def test_requests_to_a_deleted_group(h):
    h.commit("g", {("t", 0): 1})
    group = h.group()
    h.apply(h.coord.delete_groups(["g"]))
    assert group.state is S.DEAD and "g" not in h.coord.groups
    assert h.heartbeat("g", 0, "m") == E.UNKNOWN_MEMBER_ID
    assert h.fetch("g", [("t", [0])]) == {("t", 0): (-1, -1, "")}


def test_a_rejoin_into_an_empty_group_is_unknown_member(h):
    gen, leader, (m1,) = h.stable_group("g", n=1)
    h.leave("g", m1)
    assert h.join("g", member_id=m1).value["error_code"] == E.UNKNOWN_MEMBER_ID


def test_failed_assignment_write_answers_everybody_and_rebalances(h):
    a = h.join_new("g", client="a")
    b = h.join_new("g", client="b")
    h.tick(6000)
    gen, leader = a.value["generation_id"], a.value["leader"]
    other = b.value["member_id"] if a.value["member_id"] == leader else a.value["member_id"]
    parked = h.sync("g", gen, other)
    h.fail_next = E.MESSAGE_TOO_LARGE  # the runtime maps what the log says
    h.sync("g", gen, leader, [(leader, b"x" * 10)])
    assert parked.value["error_code"] == E.MESSAGE_TOO_LARGE
    assert h.group().state is S.PREPARING_REBALANCE


def test_shutdown_answers_parked_requests_not_coordinator(h):
    join = h.join_new("g")
    assert not join.done
    h.coord.on_unloaded()
    assert join.value["error_code"] == E.NOT_COORDINATOR


# --------------------------------------------------------------- replay
def test_replaying_the_records_rebuilds_the_same_state(h):
    gen, leader, ids = h.stable_group("g", n=3)
    h.commit("g", {("t", 0): 10, ("t", 1): 11}, gen, ids[0])
    s = h.join("s", instance="x", client="st", protocols=[("range", subscription("t"))])
    h.tick(3000)
    h.sync("s", 1, s.value["member_id"], [(s.value["member_id"], b"as")])
    h.join("s", instance="x", client="st", protocols=[("range", subscription("t"))])  # replaced
    e = h.stable_group("e", n=1)
    h.leave("e", e[2][0])  # "e" is Empty with generation 2
    h.commit("simple", {("t", 3): 3})
    h.commit("gone", {("t", 4): 4})
    h.apply(h.coord.delete_groups(["gone"]))
    rebuilt = h.rebuilt()
    assert persisted_view(rebuilt.coord) == persisted_view(h.coord)
    assert "gone" not in rebuilt.coord.groups
    # Loaded members start new sessions: they keep the group alive by heartbeating.
    assert rebuilt.heartbeat("g", gen, ids[1]) == E.NONE
    rebuilt.tick(6000)
    assert rebuilt.heartbeat("g", gen, ids[1]) == E.NONE
    rebuilt.tick(4000)
    assert rebuilt.group("g").state is S.PREPARING_REBALANCE  # the others never came back


def test_replay_of_a_group_in_rebalance_restores_the_last_stable_generation(h):
    gen, leader, ids = h.stable_group("g")
    h.join_new("g", client="late")  # rebalancing, nothing new stored yet
    rebuilt = h.rebuilt()
    g = rebuilt.group("g")
    assert g.state is S.STABLE and g.generation_id == gen and set(g.members) == set(ids)
    assert rebuilt.sync("g", gen, ids[1]).value["assignment"] == ids[1].encode()


def test_a_second_join_while_the_first_waits_answers_the_first(h):
    gen, leader, (m1, m2) = h.stable_group("g")
    first = h.join("g", member_id=m1, client="c0")  # the leader rejoins: a rebalance, m2 not back yet
    assert not first.done
    second = h.join("g", member_id=m1, client="c0")
    assert first.value["error_code"] == E.REBALANCE_IN_PROGRESS and not second.done
    h.join("g", member_id=m2, client="c1")
    assert second.value["error_code"] == E.NONE and second.value["generation_id"] == gen + 1
