package io.fluxmq.itest;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * The deterministic records the scenarios send and expect back. Record i goes to partition
 * i % partitions with timestamp base + i, so within a partition offsets and timestamps rise
 * together. Some keys and values are null, some values are large (a batch of their own),
 * headers include a null value, a repeated key and non-UTF-8 bytes.
 */
final class Dataset {
    final String topic;
    final int partitions;
    final int count;
    final long baseTimestamp;

    Dataset(String topic, int partitions, int count, long baseTimestamp) {
        this.topic = topic;
        this.partitions = partitions;
        this.count = count;
        this.baseTimestamp = baseTimestamp;
    }

    /** A data set stamped a minute in the past, inside any broker's accepted time window. */
    static Dataset fresh(String topic, int partitions, int count) {
        return new Dataset(topic, partitions, count, System.currentTimeMillis() - 60_000);
    }

    /** The data set named by --records (300), --partitions (3) and --base-ts (a minute ago). */
    static Dataset from(String topic, Itest.Options opts) {
        Long base = opts.longOrNull("base-ts");
        return new Dataset(topic, opts.integer("partitions", 3), opts.integer("records", 300),
                base != null ? base : System.currentTimeMillis() - 60_000);
    }

    int partition(int i) {
        return i % partitions;
    }

    String key(int i) {
        return i % 11 == 5 ? null : "key-" + i;
    }

    String value(int i) {
        if (i % 5 == 3) {
            return null;
        }
        if (i % 50 == 49) {
            return "big-" + i + "-" + "x".repeat(40_000);
        }
        return "value-" + i + "-ünïcødé ✓";
    }

    long timestamp(int i) {
        return baseTimestamp + i;
    }

    List<Header> headers(int i) {
        List<Header> h = new ArrayList<>();
        h.add(new RecordHeader("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        if (i % 4 == 0) {
            h.add(new RecordHeader("nullable", (byte[]) null));
        }
        if (i % 6 == 0) {
            h.add(new RecordHeader("dup", "first".getBytes(StandardCharsets.UTF_8)));
            h.add(new RecordHeader("dup", "second".getBytes(StandardCharsets.UTF_8)));
        }
        if (i % 7 == 0) {
            h.add(new RecordHeader("bin", new byte[] {0, (byte) 0xff, (byte) 0x80, (byte) i}));
        }
        return h;
    }

    ProducerRecord<String, String> record(int i) {
        return new ProducerRecord<>(topic, partition(i), timestamp(i), key(i), value(i), headers(i));
    }

    /** Indexes of the records sent to partition p, in send order (= offset order). */
    List<Integer> indexesIn(int p) {
        List<Integer> out = new ArrayList<>();
        for (int i = p; i < count; i += partitions) {
            out.add(i);
        }
        return out;
    }
}
