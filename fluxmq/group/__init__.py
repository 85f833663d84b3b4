"""Consumer groups: the group coordinator (coordinator.py, with its asyncio
runtime in runtime.py), classic groups (classic.py: the group and its state
machine; classic_manager.py: JoinGroup/SyncGroup/Heartbeat/LeaveGroup),
KIP-848 consumer groups (consumer_group.py, consumer_manager.py,
assignors.py), committed offsets (offsets.py) and the records all of them
keep in __consumer_offsets (records.py)."""

# Kafka's Topic.GROUP_METADATA_TOPIC_NAME. Here, not in coordinator.py, so the
# broker can check for it without importing the coordinator (server.py).
GROUP_METADATA_TOPIC = "__consumer_offsets"
