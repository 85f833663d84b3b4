#!/usr/bin/env bash
# Kafka's bin/kafka-acls.sh: AclCommand from kafka-tools.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.AclCommand "$@"
