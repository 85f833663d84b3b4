"""FluxMQ: a Kafka-wire-compatible broker with a C data plane."""

__version__ = "0.1.0"
