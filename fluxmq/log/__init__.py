"""The durable partition log, in Kafka's vocabulary: LogSegment with its
OffsetIndex and TimeIndex, LocalLog (the segments), Log (UnifiedLog: the
policy over them), LogLoader, ProducerStateManager, LogCleaner, LogManager."""
