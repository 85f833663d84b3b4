"""The KIP-848 server-side assignors as pure functions: balance, stickiness
(fewest moves), co-partitioning, static members first, heterogeneous
subscriptions."""

import random
import uuid

import pytest

from fluxmq.group.assignors import ASSIGNORS, AssignmentMember, range_, uniform

T1, T2, T3 = (uuid.UUID(int=i) for i in (1, 2, 3))


def spec(subs, assignment=None, instance_id=None):
    return AssignmentMember(frozenset(subs), assignment or {}, instance_id)


def flat(result):
    """{member: {(topic, partition)}}"""
    return {m: {(t, p) for t, ps in a.items() for p in ps} for m, a in result.items()}


def check_complete(result, counts, subscribers=None):
    """Every partition of a subscribed topic is assigned exactly once, to a subscriber."""
    seen = {}
    for m, tps in flat(result).items():
        for tp in tps:
            assert tp not in seen, f"{tp} assigned to {seen[tp]} and {m}"
            seen[tp] = m
            if subscribers is not None:
                assert m in subscribers[tp[0]]
    expected = {(t, p) for t, n in counts.items() if subscribers is None or subscribers.get(t)
                for p in range(n)}
    assert set(seen) == expected


def sizes(result):
    return sorted(len(tps) for tps in flat(result).values())


def moves(before, after):
    """Partitions whose owner changed (new partitions not counted)."""
    owner = {tp: m for m, tps in flat(before).items() for tp in tps}
    return sum(1 for m, tps in flat(after).items() for tp in tps if tp in owner and owner[tp] != m)


def rerun(assign, members, result, counts):
    return assign({m: AssignmentMember(s.subscribed_topic_ids, result.get(m, {}), s.instance_id)
                   for m, s in members.items()}, counts)


# ----------------------------------------------------------------- uniform
def test_uniform_empty_group_and_no_topics():
    assert uniform({}, {T1: 4}) == {}
    assert uniform({"a": spec([])}, {T1: 4}) == {"a": {}}
    assert uniform({"a": spec([T2])}, {T1: 4}) == {"a": {}}  # topic does not exist


def test_uniform_balanced_homogeneous():
    counts = {T1: 7, T2: 3}
    members = {m: spec([T1, T2]) for m in "abc"}
    result = uniform(members, counts)
    check_complete(result, counts)
    assert sizes(result) == [3, 3, 4]


def test_uniform_is_deterministic():
    counts = {T1: 6, T2: 5}
    members = {m: spec([T1, T2]) for m in "dcba"}
    assert uniform(members, counts) == uniform(dict(reversed(list(members.items()))), counts)


def test_uniform_new_member_moves_fewest():
    counts = {T1: 6}
    two = {m: spec([T1]) for m in "ab"}
    first = uniform(two, counts)
    three = dict(two, c=spec([T1]))
    second = rerun(uniform, three, first, counts)
    check_complete(second, counts)
    assert sizes(second) == [2, 2, 2]
    assert moves(first, second) == 2  # exactly what c needs
    assert flat(second)["a"] <= flat(first)["a"] and flat(second)["b"] <= flat(first)["b"]


def test_uniform_member_leaving_keeps_the_others():
    counts = {T1: 4, T2: 5}
    members = {m: spec([T1, T2]) for m in "abc"}
    first = uniform(members, counts)
    del members["b"]
    second = rerun(uniform, members, first, counts)
    check_complete(second, counts)
    assert sizes(second) == [4, 5]
    for m in "ac":
        assert flat(first)[m] <= flat(second)[m]  # nothing taken away from the stayers


def test_uniform_extra_slot_goes_to_the_member_holding_more():
    counts = {T1: 5}
    previous = {"a": {T1: frozenset({0, 1, 2})}, "b": {T1: frozenset({3, 4})}}
    members = {"a": spec([T1], previous["a"]), "b": spec([T1], previous["b"])}
    assert uniform(members, counts) == previous  # already balanced: nothing moves
    members["c"] = spec([T1])
    result = uniform(members, counts)
    assert sizes(result) == [1, 2, 2]
    assert moves(previous, result) == 1


def test_uniform_added_partitions_go_to_the_least_loaded():
    members = {m: spec([T1]) for m in "ab"}
    first = uniform(members, {T1: 4})
    second = rerun(uniform, members, first, {T1: 6})
    check_complete(second, {T1: 6})
    assert moves(first, second) == 0
    assert sizes(second) == [3, 3]


def test_uniform_drops_unsubscribed_and_deleted_topics():
    counts = {T1: 2, T2: 2}
    previous = {"a": {T1: frozenset({0, 1}), T2: frozenset({0})}, "b": {T2: frozenset({1}), T3: frozenset({0})}}
    members = {"a": spec([T1], previous["a"]), "b": spec([T1, T2], previous["b"])}
    result = uniform(members, counts)
    check_complete(result, counts, {T1: {"a", "b"}, T2: {"b"}})
    assert flat(result)["b"] >= {(T2, 0), (T2, 1)}
    assert all(t != T3 for t, _ in flat(result)["b"])


def test_uniform_duplicate_previous_owner_is_resolved():
    previous = {T1: frozenset({0, 1})}
    members = {"a": spec([T1], previous), "b": spec([T1], previous)}
    result = uniform(members, {T1: 2})
    check_complete(result, {T1: 2})
    assert sizes(result) == [1, 1]


def test_uniform_heterogeneous_is_balanced_where_it_can_be():
    counts = {T1: 6, T2: 2}
    members = {"a": spec([T1]), "b": spec([T1, T2]), "c": spec([T2])}
    result = uniform(members, counts)
    subscribers = {T1: {"a", "b"}, T2: {"b", "c"}}
    check_complete(result, counts, subscribers)
    assert sizes(result) == [2, 3, 3]


@pytest.mark.parametrize("seed", range(25))
def test_uniform_random_churn_properties(seed):
    """Random groups, subscriptions and churn: always complete, balanced in
    Kafka's sense, and members keep what balance lets them keep."""
    rng = random.Random(seed)
    topics = [uuid.UUID(int=i) for i in range(1, 5)]
    counts = {t: rng.randint(1, 9) for t in topics}
    homogeneous = seed % 2 == 0
    members = {}
    result = {}
    for _round in range(8):
        if members and rng.random() < 0.3:
            members.pop(rng.choice(sorted(members)))
        else:
            subs = topics if homogeneous else rng.sample(topics, rng.randint(1, len(topics)))
            members[f"m{rng.randint(0, 99):02d}"] = spec(subs)
        if rng.random() < 0.2:
            counts[rng.choice(topics)] += 1
        new = rerun(uniform, members, result, counts)
        subscribers = {t: {m for m, s in members.items() if t in s.subscribed_topic_ids} for t in topics}
        check_complete(new, {t: n for t, n in counts.items() if subscribers[t]}, subscribers)
        load = {m: len(tps) for m, tps in flat(new).items()}
        if homogeneous and load:
            assert max(load.values()) - min(load.values()) <= 1
        for m, tps in flat(new).items():  # no move that would improve balance is left
            for t, _p in tps:
                assert all(load[m] - load[o] < 2 for o in subscribers[t])
        # A member whose previous target is within its fair share keeps all of it.
        if homogeneous and members:
            fair = sum(counts.values()) // len(members)
            for m in members:
                old = {tp for tp in flat(result).get(m, set()) if tp[1] < counts[tp[0]]}
                if len(old) <= fair:
                    assert old <= flat(new)[m]
        result = new


# ------------------------------------------------------------------- range
def test_range_contiguous_and_co_partitioned():
    counts = {T1: 5, T2: 5}
    members = {m: spec([T1, T2]) for m in "abc"}
    result = range_(members, counts)
    check_complete(result, counts)
    assert result["a"] == {T1: frozenset({0, 1}), T2: frozenset({0, 1})}
    assert result["b"] == {T1: frozenset({2, 3}), T2: frozenset({2, 3})}
    assert result["c"] == {T1: frozenset({4}), T2: frozenset({4})}


def test_range_more_members_than_partitions():
    result = range_({m: spec([T1]) for m in "abc"}, {T1: 2})
    assert result == {"a": {T1: frozenset({0})}, "b": {T1: frozenset({1})}, "c": {}}


def test_range_heterogeneous_per_topic():
    counts = {T1: 4, T2: 2}
    members = {"a": spec([T1, T2]), "b": spec([T1]), "c": spec([T2])}
    result = range_(members, counts)
    check_complete(result, counts, {T1: {"a", "b"}, T2: {"a", "c"}})
    assert result["a"] == {T1: frozenset({0, 1}), T2: frozenset({0})}


def test_range_static_members_first_and_keep_their_ranges():
    counts = {T1: 6}
    members = {"zz": spec([T1], instance_id="i-1"), "aa": spec([T1], instance_id="i-2")}
    first = range_(members, counts)
    assert first["zz"] == {T1: frozenset({0, 1, 2})}  # instance id order, not member id
    members["00-dynamic"] = spec([T1])
    second = rerun(range_, members, first, counts)
    assert second["zz"] == {T1: frozenset({0, 1})}
    assert second["aa"] == {T1: frozenset({2, 3})}
    assert second["00-dynamic"] == {T1: frozenset({4, 5})}
    # A static member restarting under a new member id gets the same range.
    members["yy"] = members.pop("zz")
    assert rerun(range_, members, second, counts)["yy"] == second["zz"]


def test_registry_names():
    assert set(ASSIGNORS) == {"uniform", "range"}
