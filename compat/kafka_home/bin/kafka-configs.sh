#!/usr/bin/env bash
# Kafka's bin/kafka-configs.sh: ConfigCommand from kafka-tools.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ConfigCommand "$@"
