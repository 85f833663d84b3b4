#!/usr/bin/env bash
# Kafka's bin/kafka-topics.sh: TopicCommand from kafka-tools.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
