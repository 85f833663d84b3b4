"""Transactions (KIP-98): producer ids (producer_ids.py) and the transaction
coordinator (coordinator.py: the state machine, sans I/O; runtime.py: its
writes to __transaction_state and the markers it writes to the partitions;
records.py: the records of __transaction_state; metadata.py: one
transactional id's state)."""

# Kafka's Topic.TRANSACTION_STATE_TOPIC_NAME; here so the broker can check for it
# without importing the coordinator.
TRANSACTION_STATE_TOPIC = "__transaction_state"
