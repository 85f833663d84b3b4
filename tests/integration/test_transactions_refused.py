"""Transactional producers while FluxMQ has no transactions (docs/skipped_features.md):
every client must fail at once with a non-retriable error, never retry until its
own timeout (DESIGN rule 13). FindCoordinator for a transactional.id answers
TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a message saying transactions are
not supported; each client's own timeout here is far longer than a retry loop
would need to show itself, so a retrying client ends with a timeout error, not
the one asserted."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TransactionalIdAuthorizationFailed
from confluent_kafka import KafkaError, KafkaException, Producer
from kafka import KafkaProducer
from kafka.errors import TransactionalIdAuthorizationFailedError

import javautil


def test_confluent_kafka_init_transactions_fails_fatally(broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "tx-confluent"})
    with pytest.raises(KafkaException) as e:
        p.init_transactions(60)
    err = e.value.args[0]
    assert err.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED and err.fatal()
    assert "does not support transactions" in err.str()


def test_kafka_python_init_transactions_fails(broker):
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="tx-kafka-python")
    try:
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            p.init_transactions()
    finally:
        p.close(timeout=5)


def test_aiokafka_start_fails(broker):
    async def start():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="tx-aiokafka")
        try:
            await asyncio.wait_for(p.start(), 60)
        finally:
            await p.stop()

    with pytest.raises(TransactionalIdAuthorizationFailed):
        asyncio.run(start())


def test_java_init_transactions_fails(broker, topic_name):
    javautil.build()
    javautil.run_scenario("TransactionsRefused", broker.bootstrap, topic_name)
