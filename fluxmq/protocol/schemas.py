"""Message versions Apache Kafka 4.4 serves that kio 0.6.5 does not carry.

Written in kio's entity form, field for field from Kafka 4.4's message specs
(clients/src/main/resources/common/message/*.json), so kio's readers and
writers handle them like the generated ones. `codec.request_class` and
`codec.response_class` look here first.

- ApiVersions v5 (KIP-1242): the request adds ClusterId (nullable string,
  default null) and NodeId (int32, default -1) after ClientSoftwareVersion;
  the response is v4's.
- DeleteGroups v3: the request is v2's; each response result adds
  ErrorMessage (nullable string) after ErrorCode.
"""

from dataclasses import dataclass, field
from typing import ClassVar

from kio.schema.api_versions.v4.response import ApiVersionsResponse as ApiVersionsResponseV4
from kio.schema.delete_groups.v2.request import DeleteGroupsRequest as DeleteGroupsRequestV2
from kio.schema.errors import ErrorCode
from kio.schema.request_header.v2.header import RequestHeader
from kio.schema.response_header.v1.header import ResponseHeader
from kio.schema.types import GroupId
from kio.static.constants import EntityType
from kio.static.primitive import i16, i32, i32Timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiVersionsV5Request:
    __type__: ClassVar = EntityType.request
    __version__: ClassVar[i16] = i16(5)
    __flexible__: ClassVar[bool] = True
    __api_key__: ClassVar[i16] = i16(18)
    __header_schema__: ClassVar[type[RequestHeader]] = RequestHeader
    client_software_name: str = field(metadata={"kafka_type": "string"})
    client_software_version: str = field(metadata={"kafka_type": "string"})
    cluster_id: str | None = field(metadata={"kafka_type": "string"}, default=None)
    """The cluster id the client believes it talks to, if known (KIP-1242)."""
    node_id: i32 = field(metadata={"kafka_type": "int32"}, default=i32(-1))
    """The node id the client believes it talks to, if known (KIP-1242)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletableGroupV3Result:
    __type__: ClassVar = EntityType.nested
    __version__: ClassVar[i16] = i16(3)
    __flexible__: ClassVar[bool] = True
    __api_key__: ClassVar[i16] = i16(42)
    __header_schema__: ClassVar[type[ResponseHeader]] = ResponseHeader
    group_id: GroupId = field(metadata={"kafka_type": "string"})
    error_code: ErrorCode = field(metadata={"kafka_type": "error_code"})
    error_message: str | None = field(metadata={"kafka_type": "string"}, default=None)
    """Why the deletion failed, or null."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteGroupsV3Response:
    __type__: ClassVar = EntityType.response
    __version__: ClassVar[i16] = i16(3)
    __flexible__: ClassVar[bool] = True
    __api_key__: ClassVar[i16] = i16(42)
    __header_schema__: ClassVar[type[ResponseHeader]] = ResponseHeader
    throttle_time: i32Timedelta = field(metadata={"kafka_type": "timedelta_i32"})
    results: tuple[DeletableGroupV3Result, ...]


# (api key, version) -> entity class
REQUESTS = {
    (18, 5): ApiVersionsV5Request,
    (42, 3): DeleteGroupsRequestV2,  # the same body as v2
}
RESPONSES = {
    (18, 5): ApiVersionsResponseV4,  # the same body as v4 (its header is v0 in every version)
    (42, 3): DeleteGroupsV3Response,
}
