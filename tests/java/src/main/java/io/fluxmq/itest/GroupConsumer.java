package io.fluxmq.itest;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One member of a consumer group, run as its own process so a test can stop it cleanly
 * (a "stop" line or EOF on stdin: commit, close, exit) or kill it with SIGKILL.
 *
 * <p>Usage: GroupConsumer BOOTSTRAP TOPIC --group G [--name N] [--protocol classic|consumer]
 * [--assignor range|roundrobin|sticky|cooperative-sticky|uniform] [--session-ms MS]
 * [--max-records N] [--idle-exit-ms MS] [--pause-after N] [--commit-metadata S]
 * [--commit-interval-ms MS]
 *
 * <p>It subscribes, processes every polled record (prints it), then commits the offsets it
 * processed synchronously (after every batch, or at most every --commit-interval-ms); it
 * also commits what it processed when partitions are revoked and before it closes.
 * Every line it prints starts with the wall-clock time in ms, so a test can order the
 * lines of several members (tests/integration/grouputil.py parses them):
 * <pre>
 *   MS ASSIGNED p,p,...     the whole assignment after every change ("-" when empty)
 *   MS REC p offset value    one processed record
 *   MS COMMIT p:o,p:o        a commit that succeeded (o = next offset to read)
 *   MS COMMITFAIL why        a commit that failed
 *   MS CLOSED                close() returned
 * </pre>
 * --max-records stops after N records (committed, then a clean close); --idle-exit-ms stops
 * once nothing arrived for that long after the first assignment; --pause-after pauses every
 * partition after N records and keeps the membership alive without reading.
 */
public final class GroupConsumer {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String metadata;
    private final Map<TopicPartition, Long> processed = new HashMap<>();
    private final TreeSet<Integer> owned = new TreeSet<>();
    private boolean paused;

    private GroupConsumer(KafkaConsumer<byte[], byte[]> consumer, String metadata) {
        this.consumer = consumer;
        this.metadata = metadata;
    }

    public static void main(String[] args) {
        Itest.main("GroupConsumer", args, 600, (bootstrap, topic, opts) -> {
            Properties p = props(bootstrap, opts);
            GroupConsumer member = new GroupConsumer(new KafkaConsumer<>(p), opts.string("commit-metadata", ""));
            member.run(topic, opts);
        });
    }

    static Properties props(String bootstrap, Itest.Options opts) {
        Properties p = Itest.clientProps(bootstrap);
        p.put("group.id", opts.string("group", null));
        p.put("client.id", opts.string("name", "group-consumer"));
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("fetch.max.wait.ms", "200");
        p.put("max.poll.records", "200");
        // Also the rebalance timeout: a member that stops polling holds a rebalance this long.
        p.put("max.poll.interval.ms", "30000");
        String protocol = opts.string("protocol", "classic");
        p.put("group.protocol", protocol);
        String assignor = opts.string("assignor", null);
        if (protocol.equals("classic")) {
            int session = opts.integer("session-ms", 10000);
            p.put("session.timeout.ms", Integer.toString(session));
            p.put("heartbeat.interval.ms", Integer.toString(Math.max(500, session / 6)));
            if (assignor != null) {
                p.put("partition.assignment.strategy", assignorClass(assignor));
            }
        } else if (assignor != null) {
            // KIP-848: the broker assigns; session and heartbeat are broker (or group) configs.
            p.put("group.remote.assignor", assignor);
        }
        return p;
    }

    static String assignorClass(String name) {
        switch (name) {
            case "range": return "org.apache.kafka.clients.consumer.RangeAssignor";
            case "roundrobin": return "org.apache.kafka.clients.consumer.RoundRobinAssignor";
            case "sticky": return "org.apache.kafka.clients.consumer.StickyAssignor";
            case "cooperative-sticky": return "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            default: throw new IllegalArgumentException("unknown classic assignor " + name);
        }
    }

    private void run(String topic, Itest.Options opts) {
        int maxRecords = opts.integer("max-records", Integer.MAX_VALUE);
        int pauseAfter = opts.integer("pause-after", Integer.MAX_VALUE);
        long idleExitMs = opts.integer("idle-exit-ms", 0);
        long commitIntervalMs = opts.integer("commit-interval-ms", 0);
        long lastCommitAt = 0;
        AtomicBoolean stop = new AtomicBoolean();
        watchStdin(stop);
        consumer.subscribe(List.of(topic), new Listener());
        long count = 0;
        long lastRecordAt = System.currentTimeMillis();
        try {
            while (!stop.get() && count < maxRecords) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    if (idleExitMs > 0 && !owned.isEmpty()
                            && System.currentTimeMillis() - lastRecordAt > idleExitMs) {
                        break;
                    }
                    continue;
                }
                lastRecordAt = System.currentTimeMillis();
                StringBuilder out = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    if (count >= maxRecords || count >= pauseAfter) {
                        break;
                    }
                    out.append(line("REC %d %d %s", r.partition(), r.offset(), text(r.value())));
                    processed.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
                    count++;
                }
                emit(out.toString());
                if (System.currentTimeMillis() - lastCommitAt >= commitIntervalMs || count >= maxRecords) {
                    commit(new ArrayList<>(processed.keySet()));
                    lastCommitAt = System.currentTimeMillis();
                }
                if (count >= pauseAfter && !paused) {
                    paused = true;
                    consumer.pause(consumer.assignment());
                    emit(line("PAUSED after %d records", count));
                }
            }
        } catch (WakeupException e) {
            // stop requested from stdin
        }
        // A stop that raced with the end of the loop may leave one wakeup pending.
        for (int attempt = 0; ; attempt++) {
            try {
                commit(new ArrayList<>(processed.keySet()));
                break;
            } catch (WakeupException e) {
                if (attempt > 0) {
                    throw e;
                }
            }
        }
        consumer.close(Duration.ofSeconds(20));
        emit(line("CLOSED"));
    }

    /** Commits what was processed (and not yet committed) on the given partitions. */
    private void commit(Collection<TopicPartition> partitions) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (TopicPartition tp : partitions) {
            Long next = processed.get(tp);
            if (next != null) {
                offsets.put(tp, new OffsetAndMetadata(next, metadata));
            }
        }
        if (offsets.isEmpty()) {
            return;
        }
        try {
            consumer.commitSync(offsets);
        } catch (WakeupException e) {
            throw e;
        } catch (KafkaException e) {
            emit(line("COMMITFAIL %s: %s", e.getClass().getSimpleName(), e.getMessage()));
            return;
        }
        StringBuilder s = new StringBuilder();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            s.append(s.length() == 0 ? "" : ",").append(e.getKey().partition()).append(':').append(e.getValue().offset());
            processed.remove(e.getKey());
        }
        emit(line("COMMIT %s", s));
    }

    private final class Listener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            commit(partitions);
            partitions.forEach(tp -> owned.remove(tp.partition()));
            printAssignment();
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            partitions.forEach(tp -> owned.add(tp.partition()));
            if (paused) {
                consumer.pause(partitions);
            }
            printAssignment();
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            partitions.forEach(tp -> {
                owned.remove(tp.partition());
                processed.remove(tp);
            });
            emit(line("LOST %s", partitions));
            printAssignment();
        }
    }

    private void printAssignment() {
        StringBuilder s = new StringBuilder();
        for (int p : owned) {
            s.append(s.length() == 0 ? "" : ",").append(p);
        }
        emit(line("ASSIGNED %s", s.length() == 0 ? "-" : s));
    }

    private void watchStdin(AtomicBoolean stop) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String l;
                while ((l = in.readLine()) != null && !l.trim().equals("stop")) {
                    // only "stop" means anything
                }
            } catch (Exception e) {
                // EOF or a closed stdin: stop as well
            }
            stop.set(true);
            consumer.wakeup();
        }, "stdin-watch");
        t.setDaemon(true);
        t.start();
    }

    private static String text(byte[] v) {
        return v == null ? "<null>" : new String(v, StandardCharsets.UTF_8);
    }

    private static String line(String format, Object... args) {
        return System.currentTimeMillis() + " " + String.format(format, args) + "\n";
    }

    private static synchronized void emit(String lines) {
        System.out.print(lines);
        System.out.flush();
    }
}
