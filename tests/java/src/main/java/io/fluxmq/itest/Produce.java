package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Sends a whole {@link Dataset} without waiting between records (so the producer batches
 * them), flushes, then checks the metadata of every send: the right topic and partition,
 * the record's own timestamp (CreateTime), and offsets 0, 1, 2, ... per partition in send
 * order (the topic is fresh).
 */
final class Produce {
    private Produce() {}

    /** Producer settings on top of the defaults; callers add compression, acks, ... */
    static Properties props(String bootstrap) {
        Properties p = Itest.clientProps(bootstrap);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("delivery.timeout.ms", "30000");
        p.put("max.block.ms", "20000");
        return p;
    }

    static List<RecordMetadata> sendAll(Properties props, Dataset ds) throws Exception {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < ds.count; i++) {
                futures.add(producer.send(ds.record(i)));
            }
            producer.flush();
            List<RecordMetadata> out = new ArrayList<>();
            for (int i = 0; i < ds.count; i++) {
                out.add(Itest.get(futures.get(i), "send of record " + i));
            }
            checkMetadata(ds, out);
            return out;
        }
    }

    static void checkMetadata(Dataset ds, List<RecordMetadata> sent) {
        long[] next = new long[ds.partitions];
        for (int i = 0; i < ds.count; i++) {
            RecordMetadata md = sent.get(i);
            int p = ds.partition(i);
            check(md.topic().equals(ds.topic), "record %d: metadata topic %s", i, md.topic());
            check(md.partition() == p, "record %d: sent to partition %d, metadata says %d",
                    i, p, md.partition());
            check(md.hasOffset(), "record %d: metadata has no offset", i);
            check(md.offset() == next[p], "record %d: partition %d offset %d, expected %d "
                    + "(offsets must be contiguous from 0 in send order)", i, p, md.offset(), next[p]);
            check(md.timestamp() == ds.timestamp(i), "record %d: metadata timestamp %d, expected %d",
                    i, md.timestamp(), ds.timestamp(i));
            next[p]++;
        }
        for (int p = 0; p < ds.partitions; p++) {
            Itest.say("partition %d: %d records at offsets 0..%d", p, next[p], next[p] - 1);
        }
    }
}
