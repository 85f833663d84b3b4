package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads partitions with assign() (no group) and compares every record with the
 * {@link Dataset}: offset, key, value, timestamp, headers in order.
 */
final class ReadBack {
    static final long READ_DEADLINE_MS = 60_000;

    private ReadBack() {}

    /** A consumer without a group: group.id unset, no auto commit. */
    static KafkaConsumer<String, String> consumer(String bootstrap) {
        return consumer(bootstrap, Map.of());
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, Map<String, String> extra) {
        Properties p = Itest.clientProps(bootstrap);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "none");
        p.put("fetch.max.wait.ms", "200");
        // Small enough that reading back the data set takes several fetches.
        p.put("max.partition.fetch.bytes", "65536");
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    static List<TopicPartition> partitions(Dataset ds) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < ds.partitions; p++) {
            tps.add(new TopicPartition(ds.topic, p));
        }
        return tps;
    }

    /** Polls until {@code wanted} records per partition arrived or the deadline passes. */
    static Map<Integer, List<ConsumerRecord<String, String>>> poll(
            KafkaConsumer<String, String> consumer, Map<Integer, Integer> wanted) {
        Map<Integer, List<ConsumerRecord<String, String>>> got = new HashMap<>();
        wanted.keySet().forEach(p -> got.put(p, new ArrayList<>()));
        long deadline = System.currentTimeMillis() + READ_DEADLINE_MS;
        while (!complete(got, wanted)) {
            check(System.currentTimeMillis() < deadline, "read back %s of %s records per partition "
                    + "within %d ms", counts(got), wanted, READ_DEADLINE_MS);
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                check(got.containsKey(r.partition()), "record from unassigned partition %d", r.partition());
                got.get(r.partition()).add(r);
            }
        }
        return got;
    }

    private static boolean complete(Map<Integer, List<ConsumerRecord<String, String>>> got,
                                    Map<Integer, Integer> wanted) {
        return wanted.entrySet().stream().allMatch(e -> got.get(e.getKey()).size() >= e.getValue());
    }

    private static Map<Integer, Integer> counts(Map<Integer, List<ConsumerRecord<String, String>>> got) {
        Map<Integer, Integer> c = new HashMap<>();
        got.forEach((p, rs) -> c.put(p, rs.size()));
        return c;
    }

    /** Reads every partition from the beginning and checks all records. */
    static void readAll(KafkaConsumer<String, String> consumer, Dataset ds) {
        List<TopicPartition> tps = partitions(ds);
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        Map<Integer, Integer> wanted = new HashMap<>();
        for (int p = 0; p < ds.partitions; p++) {
            wanted.put(p, ds.indexesIn(p).size());
        }
        Map<Integer, List<ConsumerRecord<String, String>>> got = poll(consumer, wanted);
        for (int p = 0; p < ds.partitions; p++) {
            List<Integer> idx = ds.indexesIn(p);
            List<ConsumerRecord<String, String>> rs = got.get(p);
            check(rs.size() == idx.size(), "partition %d: read %d records, expected exactly %d",
                    p, rs.size(), idx.size());
            for (int n = 0; n < idx.size(); n++) {
                verify(ds, idx.get(n), n, rs.get(n));
            }
            Itest.say("read back partition %d: %d records verified", p, rs.size());
        }
    }

    /** Checks that {@code r} is record {@code i} of the data set, stored at {@code offset}. */
    static void verify(Dataset ds, int i, long offset, ConsumerRecord<String, String> r) {
        String where = "partition " + r.partition() + " offset " + r.offset();
        check(r.topic().equals(ds.topic), "%s: topic %s", where, r.topic());
        check(r.partition() == ds.partition(i), "%s: expected partition %d", where, ds.partition(i));
        check(r.offset() == offset, "%s: expected offset %d (order or gap)", where, offset);
        check(Objects.equals(r.key(), ds.key(i)), "%s: key %s, expected %s", where, r.key(), ds.key(i));
        check(Objects.equals(r.value(), ds.value(i)), "%s: value %s, expected %s", where,
                abbreviate(r.value()), abbreviate(ds.value(i)));
        check(r.timestamp() == ds.timestamp(i), "%s: timestamp %d, expected %d", where,
                r.timestamp(), ds.timestamp(i));
        check(r.timestampType() == TimestampType.CREATE_TIME, "%s: timestamp type %s", where,
                r.timestampType());
        Header[] want = ds.headers(i).toArray(new Header[0]);
        Header[] have = r.headers().toArray();
        check(want.length == have.length, "%s: %d headers, expected %d", where, have.length, want.length);
        for (int h = 0; h < want.length; h++) {
            check(want[h].key().equals(have[h].key()) && Arrays.equals(want[h].value(), have[h].value()),
                    "%s: header %d is %s=%s, expected %s=%s", where, h, have[h].key(),
                    Arrays.toString(have[h].value()), want[h].key(), Arrays.toString(want[h].value()));
        }
    }

    private static String abbreviate(String s) {
        return s == null || s.length() < 60 ? s : s.substring(0, 60) + "...(" + s.length() + " chars)";
    }
}
