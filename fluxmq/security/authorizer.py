"""StandardAuthorizer: Kafka's ACL decision (StandardAuthorizerData).

For an action (principal, host, operation, resource type and literal name):
- a super user (`super.users`, e.g. "User:admin;User:ops") may do anything;
- the ACLs that apply are those on the literal name, on every PREFIXED
  pattern the name starts with, and on the `*` wildcard, whose principal is
  the caller's or User:*, and whose host is the caller's address or `*`;
- any DENY that applies denies; else any ALLOW that applies allows. ALLOW
  READ, WRITE, DELETE or ALTER also allow DESCRIBE, and ALLOW ALTER_CONFIGS
  allows DESCRIBE_CONFIGS (a DENY implies nothing); ALL matches every
  operation;
- with no ACL at all on the resource (for anyone), the answer is
  `allow.everyone.if.no.acl.found` (false by default); with ACLs on it but
  none for the caller, deny.

Bindings live in the metadata image (the controller stores them); the index
here is rebuilt whenever the image's ACLs change, and decisions are cached
until then, so a produce pays one dict lookup per topic. Denials that a
client asked for are logged at INFO in Kafka's audit-log form.
"""

from __future__ import annotations

import logging

from fluxmq.security.acl import (SUPPORTED_OPERATIONS, WILDCARD, WILDCARD_PRINCIPAL, AclOperation,
                                 AclPermissionType, PatternType, ResourceType)

log = logging.getLogger("fluxmq.authorizer")

Op = AclOperation
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
_IMPLIES_DESCRIBE = frozenset((Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER))
_IMPLIES_DESCRIBE_CONFIGS = frozenset((Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS))
_CACHE_MAX = 100_000
# Kafka's SecurityUtils.resourceTypeName, as the audit log writes resources.
_RESOURCE_NAMES = {ResourceType.TOPIC: "Topic", ResourceType.GROUP: "Group", ResourceType.CLUSTER: "Cluster",
                   ResourceType.TRANSACTIONAL_ID: "TransactionalId", ResourceType.DELEGATION_TOKEN: "DelegationToken",
                   ResourceType.USER: "User"}
AUTHORIZER_CLASS_NAMES = ("org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                          "kafka.security.authorizer.AclAuthorizer")  # the ZooKeeper-era name, same semantics


def parse_super_users(value: str) -> frozenset[str]:
    """super.users: principals separated by semicolons."""
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


class _Index:
    """One resource type's bindings: by literal name, by prefix, and the wildcard."""
    __slots__ = ("literal", "prefixed", "prefix_lengths", "wildcard")

    def __init__(self):
        self.literal: dict[str, list] = {}
        self.prefixed: dict[str, list] = {}
        self.prefix_lengths: list[int] = []
        self.wildcard: list = []

    def add(self, b) -> None:
        if b.pattern_type == PatternType.PREFIXED:
            self.prefixed.setdefault(b.resource_name, []).append(b)
            self.prefix_lengths = sorted({len(p) for p in self.prefixed})
        elif b.resource_name == WILDCARD:
            self.wildcard.append(b)
        else:
            self.literal.setdefault(b.resource_name, []).append(b)

    def applying(self, name: str):
        """Every binding whose pattern covers `name`."""
        yield from self.literal.get(name, ())
        for n in self.prefix_lengths:
            if n > len(name):
                break
            yield from self.prefixed.get(name[:n], ())
        yield from self.wildcard


def _result(b, principal: str, host: str, op: AclOperation):
    """ALLOW, DENY, or None when the binding does not apply (StandardAuthorizerData.findResult)."""
    if b.principal != principal and b.principal != WILDCARD_PRINCIPAL:
        return None
    if b.host != WILDCARD and b.host != host:
        return None
    if b.operation != Op.ALL:
        if b.permission == ALLOW:
            if op == Op.DESCRIBE:
                if b.operation not in _IMPLIES_DESCRIBE:
                    return None
            elif op == Op.DESCRIBE_CONFIGS:
                if b.operation not in _IMPLIES_DESCRIBE_CONFIGS:
                    return None
            elif b.operation != op:
                return None
        elif b.operation != op:
            return None
    return b.permission


class StandardAuthorizer:
    def __init__(self, image, super_users: frozenset[str], allow_if_no_acl_found: bool = False):
        self.image = image
        self.super_users = super_users
        self.allow_if_no_acl_found = allow_if_no_acl_found
        self._version = -1
        self._indexes: dict[ResourceType, _Index] = {}
        self._cache: dict[tuple, bool] = {}
        log.info("StandardAuthorizer: super.users=%s, allow.everyone.if.no.acl.found=%s",
                 ",".join(sorted(super_users)) or "(none)", str(allow_if_no_acl_found).lower())

    def _refresh(self) -> None:
        self._version = self.image.acl_version
        self._cache = {}
        self._indexes = {}
        for b in self.image.acls:
            self._indexes.setdefault(b.resource_type, _Index()).add(b)

    def authorize(self, principal: str, host: str, op: AclOperation, resource_type: ResourceType, name: str,
                  api: str | None = None, log_denied: bool = True) -> bool:
        """May `principal` connecting from `host` do `op` on the resource? `api`
        names the request in the audit line; log_denied=False for checks that
        only filter (a Metadata request for every topic) or fill authorized
        operations."""
        if self._version != self.image.acl_version:
            self._refresh()
        key = (principal, host, op, resource_type, name)
        allowed = self._cache.get(key)
        if allowed is None:
            allowed = self._decide(principal, host, op, resource_type, name)
            if len(self._cache) >= _CACHE_MAX:
                self._cache = {}
            self._cache[key] = allowed
        if not allowed and log_denied:
            log.info("Principal = %s is Denied operation = %s from host = %s on resource = %s:LITERAL:%s "
                     "for request = %s", principal, op.name, host, _RESOURCE_NAMES.get(resource_type, "?"), name,
                     api or "?")
        return allowed

    def _decide(self, principal, host, op, resource_type, name) -> bool:
        if principal in self.super_users:
            return True
        index = self._indexes.get(resource_type)
        if index is None:
            return self.allow_if_no_acl_found
        allowed = found = False
        for b in index.applying(name):
            found = True
            result = _result(b, principal, host, op)
            if result == DENY:
                return False
            if result == ALLOW:
                allowed = True
        return allowed or (not found and self.allow_if_no_acl_found)

    def authorize_by_resource_type(self, principal: str, host: str, op: AclOperation,
                                   resource_type: ResourceType) -> bool:
        """May the caller do `op` on at least one resource of the type? (Kafka's
        Authorizer.authorizeByResourceType default: InitProducerId for an idempotent
        producer asks it for WRITE on any topic.) An ALLOW on a pattern counts unless a
        DENY on the same literal name, or on a prefix of it, takes it away."""
        if self.authorize(principal, host, op, resource_type, "hardcode", log_denied=False):
            return True  # super users, and the default when no ACL names that resource
        index = self._indexes.get(resource_type)
        if index is None:
            return False
        deny_literal, deny_prefixed, allows, wildcard_allow = set(), set(), [], False
        for b in self._all(index):
            if b.host != WILDCARD and b.host != host:
                continue
            if b.principal != principal and b.principal != WILDCARD_PRINCIPAL:
                continue
            if b.operation != op and b.operation != Op.ALL:
                continue
            literal = b.pattern_type == PatternType.LITERAL
            if b.permission == DENY:
                if literal and b.resource_name == WILDCARD:
                    return False
                (deny_literal if literal else deny_prefixed).add(b.resource_name)
            elif b.permission == ALLOW:
                if literal and b.resource_name == WILDCARD:
                    wildcard_allow = True  # unless a wildcard DENY comes later
                else:
                    allows.append((literal, b.resource_name))
        if wildcard_allow:
            return True
        for literal, name in allows:
            if literal and name in deny_literal:
                continue
            if not any(name[:n] in deny_prefixed for n in range(1, len(name) + 1)):
                return True
        return False

    @staticmethod
    def _all(index: _Index):
        for group in (index.literal, index.prefixed):
            for bindings in group.values():
                yield from bindings
        yield from index.wildcard

    def authorized_operations(self, principal: str, host: str, resource_type: ResourceType, name: str) -> int:
        """The 32-bit field of AuthHelper.authorizedOperations: bit `code` set for each
        supported operation the caller may do on the resource."""
        bits = 0
        for op in SUPPORTED_OPERATIONS[resource_type]:
            if self.authorize(principal, host, op, resource_type, name, log_denied=False):
                bits |= 1 << op
        return bits
