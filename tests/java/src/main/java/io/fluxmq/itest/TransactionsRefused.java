package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TransactionalIdAuthorizationException;

/**
 * A transactional KafkaProducer against a broker without transactions: initTransactions()
 * must fail with the broker's non-retriable answer (TransactionalIdAuthorizationException
 * from FindCoordinator), not retry until max.block.ms runs out (TimeoutException).
 *
 * <p>Usage: TransactionsRefused BOOTSTRAP TOPIC (the topic is not used).
 */
public final class TransactionsRefused {
    public static void main(String[] args) {
        Itest.main("TransactionsRefused", args, 120, (bootstrap, topic, opts) -> {
            Properties props = Produce.props(bootstrap);
            props.put("transactional.id", "itest-tx-" + topic);
            props.put("max.block.ms", "60000");
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                producer.initTransactions();
                throw new Itest.CheckFailed("initTransactions() succeeded on a broker without transactions");
            } catch (TransactionalIdAuthorizationException e) {
                Itest.say("initTransactions() failed at once: %s", e);
            } catch (TimeoutException e) {
                check(false, "initTransactions() retried until max.block.ms: %s", e);
            }
        });
    }
}
