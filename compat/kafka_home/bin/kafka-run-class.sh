#!/usr/bin/env bash
# Kafka's bin/kafka-run-class.sh, reduced to what librdkafka's test suite needs: run a class
# with every jar under $KAFKA_PATH/libs (Apache Kafka from Maven Central, see compat/run.py)
# plus $CLASSPATH (the suite's own Java helpers), with the tools' quiet logging.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${KAFKA_PATH:=$(dirname "$here")}"
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile="$KAFKA_PATH/config/tools-log4j2.properties" \
  -cp "${CLASSPATH:+$CLASSPATH:}$KAFKA_PATH/libs/*" "$@"
