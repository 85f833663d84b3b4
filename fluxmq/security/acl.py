"""ACL bindings and binding filters, with Kafka's codes and matching rules
(org.apache.kafka.common.acl / resource: AclBinding, AclBindingFilter,
ResourcePatternFilter, AccessControlEntryFilter).

A binding is a resource pattern (type, name, LITERAL or PREFIXED) and an
entry (principal, host, operation, ALLOW or DENY). A filter has the same
fields, where None and ANY match anything and pattern type MATCH matches
every pattern that would apply to the named resource (the literal name, the
`*` wildcard and every prefix of it). Bindings are kept in the metadata
image and stored by the controller; the authorizer (authorizer.py) decides
with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

WILDCARD = "*"               # a resource name or host that matches every one
WILDCARD_PRINCIPAL = "User:*"
CLUSTER_NAME = "kafka-cluster"  # the only name of the CLUSTER resource


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15  # KIP-939


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


R, Op = ResourceType, AclOperation
# AclEntry.supportedOperations: what authorized-operations fields are made of.
SUPPORTED_OPERATIONS = {
    R.TOPIC: (Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS),
    R.GROUP: (Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS),
    R.CLUSTER: (Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS, Op.IDEMPOTENT_WRITE, Op.ALTER,
                Op.DESCRIBE),
    R.TRANSACTIONAL_ID: (Op.DESCRIBE, Op.WRITE, Op.TWO_PHASE_COMMIT),
    R.DELEGATION_TOKEN: (Op.DESCRIBE,),
    R.USER: (Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS),
}


def wire_has_unknown(*codes) -> bool:
    """A code 0 (UNKNOWN) in an ACL request makes Kafka's request validation fail:
    the request is malformed and the connection is closed. Other codes this version
    does not know read as UNKNOWN and are answered (_code)."""
    return any(int(c) == 0 for c in codes)


def _code(enum, value):
    """An enum member from the wire: codes this version does not know read as UNKNOWN (fromCode)."""
    try:
        return enum(value)
    except ValueError:
        return enum.UNKNOWN


def parse_principal(principal: str) -> tuple[str, str]:
    """SecurityUtils.parseKafkaPrincipal: "Type:name"."""
    kind, sep, name = (principal or "").partition(":")
    if not sep:
        raise ValueError(f"Could not parse principal from `{principal}` (no colon is present separating the "
                         "principal type from the principal name)")
    return kind, name


@dataclass(frozen=True)
class AclBinding:
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: AclOperation
    permission: AclPermissionType

    @classmethod
    def from_wire(cls, e) -> "AclBinding":
        """A CreateAcls creation (kio entity)."""
        return cls(_code(ResourceType, int(e.resource_type)), e.resource_name,
                   _code(PatternType, int(e.resource_pattern_type)), e.principal, e.host,
                   _code(AclOperation, int(e.operation)), _code(AclPermissionType, int(e.permission_type)))

    def invalid_reason(self) -> str | None:
        """Why the controller refuses to store it (AclControlManager.validateNewAcl and
        AclApis' checks), or None."""
        if self.resource_type in (R.UNKNOWN, R.ANY):
            return f"Invalid resourceType {self.resource_type.name}"
        if self.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
            return f"Invalid patternType {self.pattern_type.name}"
        if self.operation in (Op.UNKNOWN, Op.ANY):
            return f"Invalid operation {self.operation.name}"
        if self.permission not in (AclPermissionType.DENY, AclPermissionType.ALLOW):
            return f"Invalid permissionType {self.permission.name}"
        if self.resource_type == R.CLUSTER and self.resource_name != CLUSTER_NAME:
            return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        if not self.resource_name:
            return "Invalid empty resource name"
        try:
            parse_principal(self.principal)
        except ValueError as e:
            return str(e)
        if not self.host:
            return "Host pattern cannot be null or empty"
        return None

    def to_json(self) -> dict:
        return {"resource_type": self.resource_type.name, "resource_name": self.resource_name,
                "pattern_type": self.pattern_type.name, "principal": self.principal, "host": self.host,
                "operation": self.operation.name, "permission": self.permission.name}

    @classmethod
    def from_json(cls, d: dict) -> "AclBinding":
        """A stored binding, or one of an --acl-config file (where pattern_type
        defaults to LITERAL, host to * and permission to ALLOW). Raises ValueError."""
        def member(enum, key, default=None):
            raw = d.get(key, default)
            if raw is None:
                raise ValueError(f"{key} is missing")
            try:
                return enum[str(raw).strip().upper()]
            except KeyError:
                raise ValueError(f"{key} {raw!r} is not one of {', '.join(m.name for m in enum)}") from None
        unknown = set(d) - {"resource_type", "resource_name", "pattern_type", "principal", "host", "operation",
                            "permission"}
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("resource_name", "principal"):
            if not isinstance(d.get(key), str):
                raise ValueError(f"{key} must be a string")
        binding = cls(member(ResourceType, "resource_type"), d["resource_name"],
                      member(PatternType, "pattern_type", "LITERAL"), d["principal"], str(d.get("host", WILDCARD)),
                      member(AclOperation, "operation"), member(AclPermissionType, "permission", "ALLOW"))
        why = binding.invalid_reason()
        if why is not None:
            raise ValueError(why)
        return binding

    def __str__(self) -> str:  # as Kafka's AclBinding.toString, which kafka-acls prints
        return (f"(pattern=ResourcePattern(resourceType={self.resource_type.name}, name={self.resource_name}, "
                f"patternType={self.pattern_type.name}), entry=(principal={self.principal}, host={self.host}, "
                f"operation={self.operation.name}, permissionType={self.permission.name}))")


UNKNOWN_CODE = 0  # every enum's UNKNOWN


@dataclass(frozen=True)
class AclBindingFilter:
    """None for a name, principal or host matches any; ANY for the codes."""
    resource_type: ResourceType
    resource_name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: AclOperation
    permission: AclPermissionType

    @classmethod
    def from_wire(cls, f) -> "AclBindingFilter":
        """A DescribeAcls request or a DeleteAcls filter (kio entity)."""
        return cls(_code(ResourceType, int(f.resource_type_filter)), f.resource_name_filter,
                   _code(PatternType, int(f.pattern_type_filter)), f.principal_filter, f.host_filter,
                   _code(AclOperation, int(f.operation)), _code(AclPermissionType, int(f.permission_type)))

    def unknown_reason(self) -> str | None:
        """AclControlManager.validateFilter: a code this version does not know."""
        if UNKNOWN_CODE in (self.resource_type, self.pattern_type):
            return "Unknown patternFilter."
        if UNKNOWN_CODE in (self.operation, self.permission):
            return "Unknown entryFilter."
        return None

    def matches(self, b: AclBinding) -> bool:
        return self._matches_pattern(b) and (
            (self.principal is None or self.principal == b.principal)
            and (self.host is None or self.host == b.host)
            and (self.operation == Op.ANY or self.operation == b.operation)
            and (self.permission == AclPermissionType.ANY or self.permission == b.permission))

    def _matches_pattern(self, b: AclBinding) -> bool:
        """ResourcePatternFilter.matches."""
        if self.resource_type != R.ANY and self.resource_type != b.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != b.pattern_type:
            return False
        name = self.resource_name
        if name is None:
            return True
        if self.pattern_type == PatternType.MATCH:
            if b.pattern_type == PatternType.LITERAL:
                return b.resource_name == name or b.resource_name == WILDCARD
            return b.pattern_type == PatternType.PREFIXED and name.startswith(b.resource_name)
        return b.resource_name == name


def load_acl_file(path: str) -> list[AclBinding]:
    """An --acl-config file: {"acls": [binding, ...]} (or the bare list), each
    binding as AclBinding.from_json reads it. Raises ValueError naming the entry."""
    import json
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None
    entries = data.get("acls") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f'{path}: expected {{"acls": [...]}} or a list of ACL bindings')
    out = []
    for i, d in enumerate(entries):
        if not isinstance(d, dict):
            raise ValueError(f"{path}: ACL {i + 1} is not an object")
        try:
            out.append(AclBinding.from_json(d))
        except ValueError as e:
            raise ValueError(f"{path}: ACL {i + 1}: {e}") from None
    return out
