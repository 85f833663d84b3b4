"""Partition state and delayed operations (Kafka's ReplicaManager and purgatory)."""
