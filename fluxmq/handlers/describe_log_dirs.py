"""DescribeLogDirs (key 35), v1-v5 (v0 removed in Kafka 4, KIP-896; v4 total
and usable bytes, KIP-827; v5 is_cordoned).

This broker has one log dir, the data dir. Each requested partition that
lives here is listed with its size in bytes and an offset lag of 0 (there
are no future replicas to move between dirs: AlterReplicaLogDirs is not
served); partitions this broker does not have are left out, as Kafka's
ReplicaManager.describeLogDirs does, and a null topic list means every
partition. Sizes and free space are read from the file system, so
`kafka-log-dirs --describe` shows what is on disk.
"""

import os

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 35


def _partitions(broker, request) -> dict[str, list[int]]:
    """topic -> its partitions here, in the request's order (all of them for a null list)."""
    rm = broker.replica_manager
    if request.topics is None:
        out: dict[str, list[int]] = {}
        for (topic, index) in sorted(rm.partitions):
            out.setdefault(topic, []).append(index)
        return out
    return {t.topic: [i for i in t.partitions if (t.topic, i) in rm.partitions] for t in request.topics}


@api(API_KEY, "DescribeLogDirs", 1, 5)
def handle(ctx, request):
    broker = ctx.broker
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "results": []}
    rm = broker.replica_manager
    data_dir = broker.logs.data_dir
    topics = [{"name": topic, "partitions": [
        {"partition_index": i, "partition_size": rm.partitions[(topic, i)].log.size_in_bytes(), "offset_lag": 0,
         "is_future_key": False} for i in indexes]}
        for topic, indexes in _partitions(broker, request).items() if indexes]
    fs = os.statvfs(data_dir)
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "results": [{
        "error_code": ErrorCode.NONE, "log_dir": data_dir, "topics": topics,
        "total_bytes": fs.f_blocks * fs.f_frsize, "usable_bytes": fs.f_bavail * fs.f_frsize, "is_cordoned": False}]}
