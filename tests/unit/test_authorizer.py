"""StandardAuthorizer decisions (security/authorizer.py) and ACL filters
(security/acl.py), with the rules of Kafka's StandardAuthorizerData and
ResourcePatternFilter; no broker. The same rules are checked end to end,
against Kafka 4.4 too, in tests/integration/test_acls.py."""

from __future__ import annotations

import json

import pytest

from fluxmq.metadata.image import MetadataImage
from fluxmq.security.acl import (AclBinding, AclBindingFilter, AclOperation as Op, AclPermissionType as Perm,
                                 PatternType as Pat, ResourceType as R, load_acl_file)
from fluxmq.security.authorizer import StandardAuthorizer, parse_super_users

ALICE, BOB, ADMIN = "User:alice", "User:bob", "User:admin"
HOST = "127.0.0.1"


def acl(principal, op, name="orders", rtype=R.TOPIC, pattern=Pat.LITERAL, perm=Perm.ALLOW, host="*"):
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def authorizer(*bindings, super_users="", allow_if_none=False) -> StandardAuthorizer:
    image = MetadataImage(cluster_id="c", controller_id=1)
    image.set_acls(dict.fromkeys(bindings))
    return StandardAuthorizer(image, parse_super_users(super_users), allow_if_none)


def allowed(a, op, name="orders", principal=ALICE, rtype=R.TOPIC, host=HOST) -> bool:
    return a.authorize(principal, host, op, rtype, name)


def test_no_acl_denies_by_default_and_allows_with_allow_everyone():
    assert not allowed(authorizer(), Op.READ)
    assert allowed(authorizer(allow_if_none=True), Op.READ)


def test_allow_everyone_applies_only_where_no_acl_names_the_resource():
    a = authorizer(acl(BOB, Op.READ), allow_if_none=True)
    assert not allowed(a, Op.READ)  # an ACL on the topic for someone else: the default no longer applies
    assert allowed(a, Op.READ, name="other")


def test_super_users_may_do_anything_even_against_a_deny():
    a = authorizer(acl("User:*", Op.ALL, perm=Perm.DENY), super_users="User:admin; User:ops")
    assert allowed(a, Op.DELETE, principal=ADMIN) and allowed(a, Op.ALTER, principal="User:ops")
    assert not allowed(a, Op.READ)


def test_deny_beats_allow():
    a = authorizer(acl(ALICE, Op.READ), acl("User:*", Op.READ, perm=Perm.DENY))
    assert not allowed(a, Op.READ)


@pytest.mark.parametrize("granted", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE])
def test_operations_that_imply_describe(granted):
    a = authorizer(acl(ALICE, granted))
    assert allowed(a, Op.DESCRIBE)
    assert allowed(a, granted)


@pytest.mark.parametrize("granted", [Op.CREATE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS])
def test_operations_that_do_not_imply_describe(granted):
    assert not allowed(authorizer(acl(ALICE, granted)), Op.DESCRIBE)


def test_alter_configs_implies_describe_configs_and_nothing_else_does():
    assert allowed(authorizer(acl(ALICE, Op.ALTER_CONFIGS)), Op.DESCRIBE_CONFIGS)
    assert not allowed(authorizer(acl(ALICE, Op.ALTER)), Op.DESCRIBE_CONFIGS)


def test_a_deny_implies_nothing():
    a = authorizer(acl(ALICE, Op.DESCRIBE), acl(ALICE, Op.READ, perm=Perm.DENY))
    assert allowed(a, Op.DESCRIBE)  # DENY READ does not deny DESCRIBE
    assert not allowed(a, Op.READ)


def test_all_matches_every_operation_in_both_directions():
    assert allowed(authorizer(acl(ALICE, Op.ALL)), Op.ALTER_CONFIGS)
    a = authorizer(acl(ALICE, Op.READ), acl(ALICE, Op.ALL, perm=Perm.DENY))
    assert not allowed(a, Op.READ)


def test_prefixed_wildcard_and_literal_patterns():
    a = authorizer(acl(ALICE, Op.WRITE, name="orders-", pattern=Pat.PREFIXED), acl(BOB, Op.READ, name="*"),
                   acl(ALICE, Op.READ, name="orders-eu"))
    assert allowed(a, Op.WRITE, name="orders-eu") and allowed(a, Op.WRITE, name="orders-")
    assert not allowed(a, Op.WRITE, name="orders")  # shorter than the prefix
    assert not allowed(a, Op.WRITE, name="payments")
    assert allowed(a, Op.READ, name="anything", principal=BOB)  # the * wildcard name
    assert allowed(a, Op.READ, name="orders-eu") and not allowed(a, Op.READ, name="orders-us")
    # A literal "*" in a PREFIXED pattern is just a character.
    b = authorizer(acl(ALICE, Op.READ, name="*", pattern=Pat.PREFIXED))
    assert allowed(b, Op.READ, name="*x") and not allowed(b, Op.READ, name="orders")


def test_wildcard_principal_and_hosts():
    a = authorizer(acl("User:*", Op.READ, host="10.0.0.1"))
    assert allowed(a, Op.READ, host="10.0.0.1", principal=BOB)
    assert not allowed(a, Op.READ, host=HOST)


def test_resource_types_are_separate():
    a = authorizer(acl(ALICE, Op.READ, name="orders", rtype=R.GROUP))
    assert allowed(a, Op.READ, rtype=R.GROUP) and not allowed(a, Op.READ, rtype=R.TOPIC)


def test_decisions_follow_acl_changes():
    image = MetadataImage(cluster_id="c", controller_id=1)
    a = StandardAuthorizer(image, frozenset(), False)
    assert not allowed(a, Op.READ)  # cached as denied...
    image.set_acls({acl(ALICE, Op.READ): None})
    assert allowed(a, Op.READ)  # ...and the cache is dropped with the change
    image.set_acls({})
    assert not allowed(a, Op.READ)


def test_authorized_operations_is_a_bit_field_of_supported_operations():
    a = authorizer(acl(ALICE, Op.READ), acl(ALICE, Op.ALTER_CONFIGS))
    ops = a.authorized_operations(ALICE, HOST, R.TOPIC, "orders")
    assert ops == (1 << Op.READ) | (1 << Op.DESCRIBE) | (1 << Op.ALTER_CONFIGS) | (1 << Op.DESCRIBE_CONFIGS)
    assert authorizer(super_users=ADMIN).authorized_operations(ADMIN, HOST, R.GROUP, "g") == sum(
        1 << op for op in (Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS))


def test_authorize_by_resource_type():
    """Kafka's Authorizer.authorizeByResourceType (InitProducerId for idempotent producers)."""
    rt = lambda a, p=ALICE: a.authorize_by_resource_type(p, HOST, Op.WRITE, R.TOPIC)  # noqa: E731
    assert not rt(authorizer())
    assert rt(authorizer(acl(ALICE, Op.WRITE, name="t")))
    assert rt(authorizer(acl(ALICE, Op.ALL, name="p-", pattern=Pat.PREFIXED)))
    assert not rt(authorizer(acl(ALICE, Op.READ, name="t")))
    # An ALLOW taken away by a DENY on the same literal or on a prefix of it: nothing left.
    assert not rt(authorizer(acl(ALICE, Op.WRITE, name="t"), acl(ALICE, Op.WRITE, name="t", perm=Perm.DENY)))
    assert not rt(authorizer(acl(ALICE, Op.WRITE, name="abc"),
                             acl("User:*", Op.WRITE, name="ab", pattern=Pat.PREFIXED, perm=Perm.DENY)))
    assert rt(authorizer(acl(ALICE, Op.WRITE, name="abc"), acl(ALICE, Op.WRITE, name="abd", perm=Perm.DENY)))
    assert not rt(authorizer(acl(ALICE, Op.WRITE, name="*"), acl(ALICE, Op.WRITE, name="*", perm=Perm.DENY)))
    assert rt(authorizer(super_users=ALICE))
    assert rt(authorizer(allow_if_none=True))


# ------------------------------------------------------------------ filters
STORED = [acl(ALICE, Op.READ, name="orders"), acl(BOB, Op.WRITE, name="ord", pattern=Pat.PREFIXED),
          acl(BOB, Op.READ, name="*"), acl(ALICE, Op.READ, name="g1", rtype=R.GROUP, perm=Perm.DENY)]


def matching(rtype=R.ANY, name=None, pattern=Pat.ANY, principal=None, host=None, op=Op.ANY, perm=Perm.ANY):
    f = AclBindingFilter(rtype, name, pattern, principal, host, op, perm)
    return [STORED.index(b) for b in STORED if f.matches(b)]


def test_filters():
    assert matching() == [0, 1, 2, 3]
    assert matching(rtype=R.TOPIC) == [0, 1, 2]
    assert matching(name="orders") == [0]  # ANY pattern type: the exact name only
    assert matching(name="orders", pattern=Pat.MATCH) == [0, 1, 2]  # everything that applies to "orders"
    assert matching(pattern=Pat.PREFIXED) == [1]
    assert matching(principal=BOB, op=Op.WRITE) == [1]
    assert matching(perm=Perm.DENY) == [3]
    assert matching(host="10.0.0.1") == []


def test_invalid_bindings_are_named():
    assert acl(ALICE, Op.READ, rtype=R.CLUSTER, name="x").invalid_reason() == \
        "The only valid name for the CLUSTER resource is kafka-cluster"
    assert acl(ALICE, Op.ANY).invalid_reason() == "Invalid operation ANY"
    assert acl(ALICE, Op.READ, pattern=Pat.MATCH).invalid_reason() == "Invalid patternType MATCH"
    assert acl(ALICE, Op.READ, perm=Perm.ANY).invalid_reason() == "Invalid permissionType ANY"
    assert acl(ALICE, Op.READ, name="").invalid_reason() == "Invalid empty resource name"
    assert "no colon" in acl("alice", Op.READ).invalid_reason()
    assert acl(ALICE, Op.READ).invalid_reason() is None


def test_acl_config_file(tmp_path):
    path = tmp_path / "acl.json"
    path.write_text(json.dumps({"acls": [
        {"principal": "User:alice", "resource_type": "topic", "resource_name": "orders", "operation": "Write"},
        {"principal": "User:bob", "resource_type": "GROUP", "pattern_type": "PREFIXED", "resource_name": "app-",
         "operation": "READ", "permission": "DENY", "host": "10.0.0.1"}]}))
    assert load_acl_file(str(path)) == [acl(ALICE, Op.WRITE),
                                        acl(BOB, Op.READ, name="app-", rtype=R.GROUP, pattern=Pat.PREFIXED,
                                            perm=Perm.DENY, host="10.0.0.1")]
    path.write_text(json.dumps([{"principal": "User:alice", "resource_type": "TOPIC", "resource_name": "t",
                                 "operation": "READ", "permisson": "ALLOW"}]))
    with pytest.raises(ValueError, match="ACL 1: unknown field"):
        load_acl_file(str(path))
    path.write_text(json.dumps([{"principal": "User:alice", "resource_type": "TOPIC", "resource_name": "t",
                                 "operation": "FLY"}]))
    with pytest.raises(ValueError, match="operation 'FLY' is not one of"):
        load_acl_file(str(path))
    path.write_text("{")
    with pytest.raises(ValueError, match="acl.json"):
        load_acl_file(str(path))
