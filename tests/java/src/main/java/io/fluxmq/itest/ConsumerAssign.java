package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;

/**
 * KafkaConsumer with assign() and no group (group.id unset, enable.auto.commit=false).
 * Produces the data set to a fresh topic, then: beginningOffsets / endOffsets, a full read
 * from seekToBeginning verifying keys, values, headers, nulls, order and offsets, seek() into
 * the middle of each partition, and offsetsForTimes before, inside and after the data; then
 * Admin listOffsets (earliest, latest, max-timestamp) and a read_committed consumer.
 *
 * <p>Usage: ConsumerAssign BOOTSTRAP TOPIC [--records N] [--partitions P] [--base-ts MS]
 * [--existing]. With --existing it produces nothing and checks the data set that
 * ProducerDefaults wrote with the same options (e.g. across a broker restart).
 */
public final class ConsumerAssign {
    public static void main(String[] args) {
        Itest.main("ConsumerAssign", args, 180, (bootstrap, topic, opts) -> {
            Dataset ds = Dataset.from(topic, opts);
            if (opts.flag("existing")) {
                Itest.check(opts.longOrNull("base-ts") != null, "--existing needs the producer's --base-ts");
                Itest.say("checking the %d records already in %s", ds.count, topic);
            } else {
                Topics.create(bootstrap, topic, ds.partitions, Map.of());
                Produce.sendAll(Produce.props(bootstrap), ds);
            }
            try (KafkaConsumer<String, String> consumer = ReadBack.consumer(bootstrap)) {
                checkListOffsets(consumer, ds);
                ReadBack.readAll(consumer, ds);
                checkSeek(consumer, ds);
                checkOffsetsForTimes(consumer, ds);
            }
            checkAdminListOffsets(bootstrap, ds);
            // No transactions here, so read_committed sees everything: the last stable
            // offset is the high watermark.
            try (KafkaConsumer<String, String> consumer =
                         ReadBack.consumer(bootstrap, Map.of("isolation.level", "read_committed"))) {
                Itest.say("isolation.level=read_committed:");
                checkListOffsets(consumer, ds);
                ReadBack.readAll(consumer, ds);
            }
        });
    }

    static void checkListOffsets(KafkaConsumer<String, String> consumer, Dataset ds) {
        List<TopicPartition> tps = ReadBack.partitions(ds);
        Map<TopicPartition, Long> begin = consumer.beginningOffsets(tps);
        Map<TopicPartition, Long> end = consumer.endOffsets(tps);
        for (TopicPartition tp : tps) {
            long n = ds.indexesIn(tp.partition()).size();
            check(begin.get(tp) == 0L, "beginningOffsets %s = %s, expected 0", tp, begin.get(tp));
            check(end.get(tp) == n, "endOffsets %s = %s, expected %d", tp, end.get(tp), n);
        }
        Itest.say("beginningOffsets %s endOffsets %s", begin.values(), end.values());
    }

    /** seek() to the middle of each partition: the next record is exactly that offset. */
    static void checkSeek(KafkaConsumer<String, String> consumer, Dataset ds) {
        Map<Integer, Integer> wanted = new HashMap<>();
        for (TopicPartition tp : ReadBack.partitions(ds)) {
            List<Integer> idx = ds.indexesIn(tp.partition());
            consumer.seek(tp, idx.size() / 2);
            wanted.put(tp.partition(), idx.size() - idx.size() / 2);
        }
        Map<Integer, List<ConsumerRecord<String, String>>> got = ReadBack.poll(consumer, wanted);
        for (Map.Entry<Integer, List<ConsumerRecord<String, String>>> e : got.entrySet()) {
            List<Integer> idx = ds.indexesIn(e.getKey());
            int from = idx.size() / 2;
            List<ConsumerRecord<String, String>> rs = e.getValue();
            check(rs.size() == idx.size() - from, "after seek partition %d: read %d records, expected %d",
                    e.getKey(), rs.size(), idx.size() - from);
            for (int n = 0; n < rs.size(); n++) {
                ReadBack.verify(ds, idx.get(from + n), from + n, rs.get(n));
            }
            Itest.say("seek partition %d to offset %d: %d records verified", e.getKey(), from, rs.size());
        }
    }

    /** offsetsForTimes: before all data -> 0; a record's own timestamp -> its offset; after -> null. */
    static void checkOffsetsForTimes(KafkaConsumer<String, String> consumer, Dataset ds) {
        for (TopicPartition tp : ReadBack.partitions(ds)) {
            List<Integer> idx = ds.indexesIn(tp.partition());
            int mid = idx.size() / 3;
            long midTs = ds.timestamp(idx.get(mid));
            long lastTs = ds.timestamp(idx.get(idx.size() - 1));
            Map<TopicPartition, OffsetAndTimestamp> r = consumer.offsetsForTimes(
                    Map.of(tp, ds.baseTimestamp - 1000));
            expect(r.get(tp), 0, ds.timestamp(idx.get(0)), tp, "before the data");
            r = consumer.offsetsForTimes(Map.of(tp, midTs));
            expect(r.get(tp), mid, midTs, tp, "at record offset " + mid);
            // One millisecond past a record lands on the next one in this partition.
            r = consumer.offsetsForTimes(Map.of(tp, midTs + 1));
            expect(r.get(tp), mid + 1, ds.timestamp(idx.get(mid + 1)), tp, "just after offset " + mid);
            r = consumer.offsetsForTimes(Map.of(tp, lastTs + 1));
            check(r.get(tp) == null, "offsetsForTimes %s after the last record: %s, expected null", tp, r.get(tp));
        }
        Itest.say("offsetsForTimes verified on %d partitions", ds.partitions);
    }

    /** Admin listOffsets: earliest, latest and max-timestamp (-3), with a leader epoch. */
    static void checkAdminListOffsets(String bootstrap, Dataset ds) throws Exception {
        try (Admin admin = Admin.create(Itest.clientProps(bootstrap))) {
            for (TopicPartition tp : ReadBack.partitions(ds)) {
                List<Integer> idx = ds.indexesIn(tp.partition());
                int last = idx.size() - 1;
                ListOffsetsResultInfo earliest = listOffset(admin, tp, OffsetSpec.earliest());
                ListOffsetsResultInfo latest = listOffset(admin, tp, OffsetSpec.latest());
                ListOffsetsResultInfo maxTs = listOffset(admin, tp, OffsetSpec.maxTimestamp());
                check(earliest.offset() == 0, "listOffsets earliest %s: %s", tp, earliest);
                check(latest.offset() == idx.size(), "listOffsets latest %s: %s, expected offset %d",
                        tp, latest, idx.size());
                check(maxTs.offset() == last && maxTs.timestamp() == ds.timestamp(idx.get(last)),
                        "listOffsets max-timestamp %s: %s, expected offset %d timestamp %d",
                        tp, maxTs, last, ds.timestamp(idx.get(last)));
                check(latest.leaderEpoch().isPresent(), "listOffsets latest %s: no leader epoch", tp);
            }
        }
        Itest.say("admin listOffsets earliest/latest/max-timestamp verified on %d partitions", ds.partitions);
    }

    private static ListOffsetsResultInfo listOffset(Admin admin, TopicPartition tp, OffsetSpec spec)
            throws Exception {
        return Itest.get(admin.listOffsets(Map.of(tp, spec)).partitionResult(tp), "listOffsets " + tp);
    }

    private static void expect(OffsetAndTimestamp got, long offset, long ts, TopicPartition tp, String what) {
        check(got != null, "offsetsForTimes %s %s: null, expected offset %d", tp, what, offset);
        check(got.offset() == offset && got.timestamp() == ts,
                "offsetsForTimes %s %s: offset %d timestamp %d, expected offset %d timestamp %d",
                tp, what, got.offset(), got.timestamp(), offset, ts);
    }
}
