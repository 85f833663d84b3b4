"""The durable partition log, in Kafka's vocabulary: LogSegment, OffsetIndex,
TimeIndex, Log (UnifiedLog), ProducerStateManager, LogManager."""
