package io.fluxmq.itest;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * For each compression.type and with idempotence on and off: a fresh topic TOPIC-CODEC-idem
 * or TOPIC-CODEC-plain, the data set produced (metadata checked as in ProducerDefaults),
 * then read back with a consumer and compared record by record.
 *
 * <p>Usage: ProducerCodecs BOOTSTRAP TOPIC [--codecs CODEC,...] [--idempotence true|false|both]
 * where CODEC is none, gzip, snappy, lz4 or zstd (default: all of them; idempotence: both).
 */
public final class ProducerCodecs {
    static final List<String> ALL = List.of("none", "gzip", "snappy", "lz4", "zstd");

    public static void main(String[] args) {
        Itest.main("ProducerCodecs", args, 240, (bootstrap, topic, opts) -> {
            List<String> codecs = List.of(opts.string("codecs", String.join(",", ALL)).split(","));
            String idem = opts.string("idempotence", "both");
            List<Boolean> modes = idem.equals("both") ? List.of(true, false) : List.of(Boolean.parseBoolean(idem));
            for (String codec : codecs) {
                Itest.check(ALL.contains(codec), "unknown codec %s", codec);
                for (boolean idempotent : modes) {
                    run(bootstrap, topic + "-" + codec + (idempotent ? "-idem" : "-plain"), codec, idempotent);
                }
            }
        });
    }

    static void run(String bootstrap, String topic, String codec, boolean idempotent) throws Exception {
        Itest.say("== compression.type=%s enable.idempotence=%s topic %s", codec, idempotent, topic);
        Topics.create(bootstrap, topic, 2, Map.of());
        Properties props = Produce.props(bootstrap);
        props.put("compression.type", codec);
        props.put("enable.idempotence", Boolean.toString(idempotent));
        props.put("acks", idempotent ? "all" : "1");
        if (!idempotent) {
            // Without idempotence a retried batch (say NOT_LEADER_OR_FOLLOWER just after the
            // topic was created) may overtake later ones; one request in flight keeps the order.
            props.put("max.in.flight.requests.per.connection", "1");
        }
        // Big enough batches that compression has something to work on.
        props.put("linger.ms", "20");
        Dataset ds = Dataset.fresh(topic, 2, 200);
        Produce.sendAll(props, ds);
        try (KafkaConsumer<String, String> consumer = ReadBack.consumer(bootstrap)) {
            ReadBack.readAll(consumer, ds);
        }
        Itest.say("codec %s idempotence %s: OK", codec, idempotent);
    }
}
