package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;

/**
 * KafkaProducer with its defaults (acks=all, enable.idempotence=true): creates a fresh topic,
 * sends keyed records with headers and some null values to all its partitions, checks every
 * send's metadata (offsets contiguous per partition), flushes. Then, on TOPIC-big, a record
 * over the broker's max.message.bytes must fail with RecordTooLargeException and the same
 * producer must go on at the next offset.
 *
 * <p>Usage: ProducerDefaults BOOTSTRAP TOPIC [--records N] [--partitions P] [--base-ts MS]
 * (--base-ts fixes the data set's timestamps, so ConsumerAssign --existing can check it later).
 */
public final class ProducerDefaults {
    /** Over Kafka's default max.message.bytes (1048588), under the client limit set below. */
    static final int TOO_LARGE = 2 * 1024 * 1024;

    public static void main(String[] args) {
        Itest.main("ProducerDefaults", args, 120, (bootstrap, topic, opts) -> {
            Dataset ds = Dataset.from(topic, opts);
            Topics.create(bootstrap, topic, ds.partitions, Map.of());
            Itest.say("producing %d records to %s (%d partitions, base timestamp %d) with producer defaults",
                    ds.count, topic, ds.partitions, ds.baseTimestamp);
            Produce.sendAll(Produce.props(bootstrap), ds);
            Itest.say("all %d sends acknowledged", ds.count);
            checkTooLarge(bootstrap, topic + "-big");
        });
    }

    static void checkTooLarge(String bootstrap, String topic) throws Exception {
        Topics.create(bootstrap, topic, 1, Map.of());
        Properties props = Produce.props(bootstrap);
        props.put("max.request.size", Integer.toString(2 * TOO_LARGE));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            RecordMetadata first = Itest.get(producer.send(new ProducerRecord<>(topic, 0, "k", "small")), "small send");
            check(first.offset() == 0, "%s: first record at offset %d, expected 0", topic, first.offset());
            Itest.expectFailure(producer.send(new ProducerRecord<>(topic, 0, "k", "x".repeat(TOO_LARGE))),
                    RecordTooLargeException.class, "send of a " + TOO_LARGE + "-byte record");
            RecordMetadata next = Itest.get(producer.send(new ProducerRecord<>(topic, 0, "k", "after")),
                    "send after the rejected record");
            check(next.offset() == 1, "%s: record after the rejected one at offset %d, expected 1", topic, next.offset());
        }
        Itest.say("record of %d bytes: RecordTooLargeException; the producer went on at offset 1", TOO_LARGE);
    }
}
