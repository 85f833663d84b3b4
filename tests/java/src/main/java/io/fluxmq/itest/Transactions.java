package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;

/**
 * Transactions with the Java clients (KIP-98):
 *
 * <ul>
 *   <li>commit / abort: a transactional producer commits, aborts and commits again; a
 *       read_committed consumer sees exactly the committed records, in order; read_uncommitted
 *       sees all of them. With transaction version 2 (KIP-890 part 2, what Kafka 4 finalizes)
 *       each EndTxn bumps the producer epoch, so the coordinator (DescribeTransactions) and the
 *       partition (DescribeProducers, from the markers) hold epoch 3 after three transactions;
 *       with version 1 they stay at 0.
 *   <li>fencing: a second producer with the same transactional.id fences the first, whose
 *       ongoing transaction is aborted and whose commit fails with ProducerFencedException.
 *   <li>consume-transform-produce: records of TOPIC-in are copied to TOPIC-out in transactions
 *       that also commit the group's offsets (sendOffsetsToTransaction); the group's committed
 *       offset ends at the input's end and the output has every record once.
 * </ul>
 *
 * <p>Usage: Transactions BOOTSTRAP TOPIC [--group-protocol classic|consumer]
 * [--transaction-version 1|2]
 */
public final class Transactions {
    static final int N = 20;

    public static void main(String[] args) {
        Itest.main("Transactions", args, 200, (bootstrap, topic, opts) -> {
            Topics.create(bootstrap, topic, 2, Map.of());
            commitAndAbort(bootstrap, topic, opts.integer("transaction-version", 2));
            fencing(bootstrap, topic + "-fenced");
            consumeTransformProduce(bootstrap, topic, opts.string("group-protocol", "classic"));
        });
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties props = Produce.props(bootstrap);
        props.put("transactional.id", transactionalId);
        KafkaProducer<String, String> p = new KafkaProducer<>(props);
        p.initTransactions();
        return p;
    }

    static void send(KafkaProducer<String, String> p, String topic, String prefix, int count) {
        for (int i = 0; i < count; i++) {
            p.send(new ProducerRecord<>(topic, i % 2, "k" + i, prefix + i));
        }
        p.flush();
    }

    /** Every value of the topic's partitions 0 and 1 up to the end the consumer sees. */
    static List<String> readAll(String bootstrap, String topic, String isolation, int partitions) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        try (KafkaConsumer<String, String> c = ReadBack.consumer(bootstrap,
                Map.of("isolation.level", isolation, "auto.offset.reset", "earliest"))) {
            c.assign(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            List<String> out = new ArrayList<>();
            long deadline = System.currentTimeMillis() + ReadBack.READ_DEADLINE_MS;
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                check(System.currentTimeMillis() < deadline, "%s: reading %s stopped at %s of %s", isolation,
                        topic, tps.stream().map(c::position).toList(), end);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    out.add(r.partition() + ":" + r.value());
                }
            }
            return out;
        }
    }

    static List<String> expected(String prefix, int count) {
        List<String> out = new ArrayList<>();
        for (int p = 0; p < 2; p++) {
            for (int i = 0; i < count; i++) {
                if (i % 2 == p) {
                    out.add(p + ":" + prefix + i);
                }
            }
        }
        return out;
    }

    static List<String> byPartition(List<String> values) {
        List<String> out = new ArrayList<>();
        for (String p : List.of("0:", "1:")) {
            values.stream().filter(v -> v.startsWith(p)).forEach(out::add);
        }
        return out;
    }

    static void commitAndAbort(String bootstrap, String topic, int transactionVersion) throws Exception {
        String id = "itest-tx-" + topic;
        try (KafkaProducer<String, String> p = producer(bootstrap, id)) {
            p.beginTransaction();
            send(p, topic, "first", N);
            p.commitTransaction();
            p.beginTransaction();
            send(p, topic, "aborted", N);
            p.abortTransaction();
            p.beginTransaction();
            send(p, topic, "second", N);
            p.commitTransaction();
        }
        List<String> committed = byPartition(readAll(bootstrap, topic, "read_committed", 2));
        List<String> want = new ArrayList<>();
        for (int part = 0; part < 2; part++) {
            for (String prefix : List.of("first", "second")) {
                for (String v : expected(prefix, N)) {
                    if (v.startsWith(part + ":")) {
                        want.add(v);
                    }
                }
            }
        }
        check(committed.equals(want), "read_committed saw %s, expected %s", committed, want);
        List<String> all = readAll(bootstrap, topic, "read_uncommitted", 2);
        check(all.size() == 3 * N, "read_uncommitted saw %d records, expected %d", all.size(), 3 * N);
        check(all.stream().filter(v -> v.contains("aborted")).count() == N, "read_uncommitted: %s", all);
        Itest.say("commit/abort: read_committed saw %d records, read_uncommitted %d", committed.size(), all.size());
        int wantEpoch = transactionVersion >= 2 ? 3 : 0;
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            int coordinatorEpoch = admin.describeTransactions(List.of(id)).description(id).get().producerEpoch();
            TopicPartition tp = new TopicPartition(topic, 0);
            List<Integer> partitionEpochs = admin.describeProducers(List.of(tp)).partitionResult(tp).get()
                    .activeProducers().stream().map(ps -> ps.producerEpoch()).toList();
            check(coordinatorEpoch == wantEpoch && partitionEpochs.equals(List.of(wantEpoch)),
                    "transaction version %d: epoch %d at the coordinator, %s at %s, expected %d",
                    transactionVersion, coordinatorEpoch, partitionEpochs, tp, wantEpoch);
            Itest.say("transaction version %d: producer epoch %d after three transactions", transactionVersion,
                    coordinatorEpoch);
        }
    }

    static void fencing(String bootstrap, String topic) throws Exception {
        Topics.create(bootstrap, topic, 2, Map.of());
        String id = "itest-tx-" + topic;
        KafkaProducer<String, String> zombie = producer(bootstrap, id);
        zombie.beginTransaction();
        send(zombie, topic, "zombie", 4);
        try (KafkaProducer<String, String> fresh = producer(bootstrap, id)) {
            try {
                zombie.commitTransaction();
                check(false, "the fenced producer's commit succeeded");
            } catch (ProducerFencedException | InvalidProducerEpochException e) {
                Itest.say("fenced producer: %s", e);
            } finally {
                zombie.close(Duration.ofSeconds(5));
            }
            fresh.beginTransaction();
            send(fresh, topic, "fresh", 4);
            fresh.commitTransaction();
        }
        List<String> committed = byPartition(readAll(bootstrap, topic, "read_committed", 2));
        check(committed.equals(expected("fresh", 4)), "read_committed after fencing saw %s", committed);
    }

    static void consumeTransformProduce(String bootstrap, String topic, String protocol) throws Exception {
        String in = topic + "-in";
        String out = topic + "-out";
        Topics.create(bootstrap, in, 2, Map.of());
        Topics.create(bootstrap, out, 2, Map.of());
        try (KafkaProducer<String, String> p = new KafkaProducer<>(Produce.props(bootstrap))) {
            send(p, in, "v", 3 * N);
        }
        String group = "itest-ctp-" + topic;
        Properties cp = Itest.clientProps(bootstrap);
        cp.put("key.deserializer", org.apache.kafka.common.serialization.StringDeserializer.class.getName());
        cp.put("value.deserializer", org.apache.kafka.common.serialization.StringDeserializer.class.getName());
        cp.put("group.id", group);
        cp.put("group.protocol", protocol);
        cp.put("enable.auto.commit", "false");
        cp.put("auto.offset.reset", "earliest");
        cp.put("isolation.level", "read_committed");
        cp.put("max.poll.records", "7");
        int copied = 0;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
                KafkaProducer<String, String> p = producer(bootstrap, "itest-ctp-" + topic)) {
            c.subscribe(List.of(in));
            long deadline = System.currentTimeMillis() + ReadBack.READ_DEADLINE_MS;
            int round = 0;
            while (copied < 3 * N) {
                check(System.currentTimeMillis() < deadline, "copied only %d of %d records", copied, 3 * N);
                var records = c.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    p.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value()));
                    offsets.put(new TopicPartition(in, r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                if (round++ == 1) {
                    p.abortTransaction();  // the copy of this batch is dropped: read it again
                    for (TopicPartition tp : offsets.keySet()) {
                        OffsetAndMetadata committed = c.committed(java.util.Set.of(tp)).get(tp);
                        c.seek(tp, committed == null ? 0 : committed.offset());
                    }
                    continue;
                }
                p.commitTransaction();
                copied += records.count();
            }
        }
        List<String> copy = byPartition(readAll(bootstrap, out, "read_committed", 2));
        check(copy.equals(expected("v", 3 * N)), "the output has %s", copy);
        try (Admin admin = Admin.create(Itest.clientProps(bootstrap))) {
            Map<TopicPartition, OffsetAndMetadata> committed = Itest.get(
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(), "listConsumerGroupOffsets");
            long total = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            check(total == 3 * N, "the group committed %s", committed);
        }
        Itest.say("consume-transform-produce (%s): %d records copied once", protocol, copied);
    }
}
