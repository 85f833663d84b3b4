package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;
import static io.fluxmq.itest.Itest.get;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * AdminClient topic lifecycle: createTopics (3 partitions, replication factor 1,
 * retention.ms), creating it again (TopicExistsException), an invalid name
 * (InvalidTopicException), listTopics, describeCluster, describeTopics, describeConfigs
 * (the value set is DYNAMIC_TOPIC_CONFIG, the rest are defaults), incrementalAlterConfigs
 * SET and DELETE (and bad values refused), createPartitions up to 5
 * and down to 2 (InvalidPartitionsException), deleteTopics, and that the topic is gone.
 *
 * <p>Usage: AdminTopics BOOTSTRAP TOPIC
 */
public final class AdminTopics {
    static final String RETENTION_MS = "3600000";
    /** How long metadata may take to settle after a create or delete (Kafka is asynchronous). */
    static final long SETTLE_MS = 20_000;

    public static void main(String[] args) {
        Itest.main("AdminTopics", args, 180, (bootstrap, topic, opts) -> {
            try (Admin admin = Admin.create(Itest.clientProps(bootstrap))) {
                Node node = describeCluster(admin, bootstrap);
                create(admin, topic);
                listed(admin, topic, true);
                describe(admin, topic, 3, node);
                describeConfigs(admin, topic);
                alterConfigs(admin, topic);
                createPartitions(admin, topic, node);
                delete(admin, topic);
            }
        });
    }

    static Node describeCluster(Admin admin, String bootstrap) throws Exception {
        DescribeClusterResult c = admin.describeCluster();
        String clusterId = get(c.clusterId(), "describeCluster clusterId");
        Collection<Node> nodes = get(c.nodes(), "describeCluster nodes");
        Node controller = get(c.controller(), "describeCluster controller");
        check(clusterId != null && !clusterId.isEmpty(), "describeCluster: empty cluster id");
        check(!nodes.isEmpty(), "describeCluster: no nodes");
        String port = bootstrap.substring(bootstrap.lastIndexOf(':') + 1);
        Node self = nodes.stream().filter(n -> Integer.toString(n.port()).equals(port)).findFirst().orElse(null);
        check(self != null, "describeCluster: no node listens on the bootstrap port %s: %s", port, nodes);
        check(controller != null && !controller.isEmpty(), "describeCluster: no controller");
        Itest.say("describeCluster: cluster id %s, nodes %s, controller %d", clusterId, nodes, controller.id());
        return self;
    }

    static void create(Admin admin, String topic) throws Exception {
        NewTopic t = new NewTopic(topic, 3, (short) 1).configs(Map.of("retention.ms", RETENTION_MS));
        CreateTopicsResult r = admin.createTopics(List.of(t));
        get(r.all(), "createTopics " + topic);
        int partitions = get(r.numPartitions(topic), "createTopics numPartitions");
        int rf = get(r.replicationFactor(topic), "createTopics replicationFactor");
        check(partitions == 3, "createTopics answered %d partitions, expected 3", partitions);
        check(rf == 1, "createTopics answered replication factor %d, expected 1", rf);
        Itest.say("createTopics %s: 3 partitions, replication factor 1, retention.ms=%s", topic, RETENTION_MS);

        Itest.expectFailure(admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all(),
                TopicExistsException.class, "createTopics of an existing topic");
        Itest.say("createTopics again: TopicExistsException");

        Itest.expectFailure(admin.createTopics(List.of(new NewTopic("bad/name?", 1, (short) 1))).all(),
                InvalidTopicException.class, "createTopics of an invalid name");
        Itest.say("createTopics bad/name?: InvalidTopicException");

        NewTopic badConfig = new NewTopic(topic + "-cfg", 1, (short) 1).configs(Map.of("retention.ms", "soon"));
        Itest.expectFailure(admin.createTopics(List.of(badConfig)).all(),
                InvalidConfigurationException.class, "createTopics with retention.ms=soon");
        Itest.say("createTopics with retention.ms=soon: InvalidConfigurationException");
    }

    /** listTopics eventually shows (or stops showing) the topic. */
    static void listed(Admin admin, String topic, boolean present) throws Exception {
        long deadline = System.currentTimeMillis() + SETTLE_MS;
        Set<String> names;
        while (true) {
            names = get(admin.listTopics().names(), "listTopics");
            if (names.contains(topic) == present || System.currentTimeMillis() > deadline) {
                break;
            }
            Thread.sleep(200);
        }
        check(names.contains(topic) == present, "listTopics %s %s: %s", present ? "lacks" : "still has",
                topic, names);
        Itest.say("listTopics: %s %s", present ? "includes" : "no longer includes", topic);
    }

    static TopicDescription describe(Admin admin, String topic, int partitions, Node node) throws Exception {
        long deadline = System.currentTimeMillis() + SETTLE_MS;
        TopicDescription d;
        while (true) {
            d = get(admin.describeTopics(List.of(topic)).allTopicNames(), "describeTopics").get(topic);
            if (d.partitions().size() == partitions || System.currentTimeMillis() > deadline) {
                break;
            }
            Thread.sleep(200);
        }
        check(d.name().equals(topic) && !d.isInternal(), "describeTopics: %s", d);
        check(d.topicId() != null && !d.topicId().toString().isEmpty(), "describeTopics: no topic id");
        check(d.partitions().size() == partitions, "describeTopics: %d partitions, expected %d",
                d.partitions().size(), partitions);
        for (int p = 0; p < partitions; p++) {
            TopicPartitionInfo info = d.partitions().get(p);
            check(info.partition() == p, "describeTopics: partition %d listed at index %d", info.partition(), p);
            check(info.leader() != null && info.leader().id() == node.id(),
                    "describeTopics: partition %d leader %s, expected node %d", p, info.leader(), node.id());
            check(info.replicas().size() == 1 && info.replicas().get(0).id() == node.id(),
                    "describeTopics: partition %d replicas %s", p, info.replicas());
            check(info.isr().size() == 1 && info.isr().get(0).id() == node.id(),
                    "describeTopics: partition %d isr %s", p, info.isr());
        }
        Itest.say("describeTopics %s: %d partitions, leader %d, topic id %s", topic, partitions, node.id(),
                d.topicId());
        return d;
    }

    static void describeConfigs(Admin admin, String topic) throws Exception {
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = get(admin.describeConfigs(List.of(res)).all(), "describeConfigs").get(res);
        Map<String, ConfigEntry> entries = config.entries().stream()
                .collect(Collectors.toMap(ConfigEntry::name, e -> e));
        ConfigEntry retention = entries.get("retention.ms");
        check(retention != null, "describeConfigs: no retention.ms among %s", entries.keySet());
        check(RETENTION_MS.equals(retention.value()), "describeConfigs: retention.ms=%s, expected %s",
                retention.value(), RETENTION_MS);
        check(retention.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG && !retention.isDefault(),
                "describeConfigs: retention.ms source %s isDefault %s, expected DYNAMIC_TOPIC_CONFIG, false",
                retention.source(), retention.isDefault());
        // Kafka's own defaults for configs this topic did not set.
        Map<String, String> defaults = Map.of(
                "cleanup.policy", "delete",
                "compression.type", "producer",
                "message.timestamp.type", "CreateTime",
                "retention.bytes", "-1",
                "min.insync.replicas", "1");
        for (Map.Entry<String, String> want : defaults.entrySet()) {
            ConfigEntry e = entries.get(want.getKey());
            check(e != null, "describeConfigs: no %s among %s", want.getKey(), entries.keySet());
            check(want.getValue().equals(e.value()), "describeConfigs: %s=%s, expected %s",
                    e.name(), e.value(), want.getValue());
        }
        check(retention.type() == ConfigEntry.ConfigType.LONG, "describeConfigs: retention.ms type %s, expected LONG",
                retention.type());
        // Configs the topic did not set come from Kafka's defaults or the broker's settings.
        Set<ConfigEntry.ConfigSource> inherited = Set.of(ConfigEntry.ConfigSource.DEFAULT_CONFIG,
                ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG, ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
        for (ConfigEntry e : entries.values()) {
            check(e.value() != null || e.isSensitive(), "describeConfigs: %s has no value", e.name());
            check(e.name().equals("retention.ms") || inherited.contains(e.source()),
                    "describeConfigs: %s=%s has source %s, but the topic never set it", e.name(), e.value(), e.source());
        }
        long asDefault = entries.values().stream().filter(ConfigEntry::isDefault).count();
        check(entries.size() >= 20, "describeConfigs: only %d configs: %s", entries.size(), entries.keySet());
        Itest.say("describeConfigs %s: %d configs, retention.ms=%s (DYNAMIC_TOPIC_CONFIG), %d at defaults",
                topic, entries.size(), retention.value(), asDefault);
    }

    /** incrementalAlterConfigs SET then DELETE retention.ms; bad values and names are refused. */
    static void alterConfigs(Admin admin, String topic) throws Exception {
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        alter(admin, res, new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET));
        ConfigEntry e = configEntry(admin, res, "retention.ms");
        check("7200000".equals(e.value()) && e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                "after SET retention.ms=7200000: %s", e);
        alter(admin, res, new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE));
        e = configEntry(admin, res, "retention.ms");
        check(e.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG && "604800000".equals(e.value()),
                "after DELETE retention.ms: %s, expected Kafka's default 604800000", e);
        Itest.say("incrementalAlterConfigs: SET retention.ms=7200000, then DELETE back to %s (%s)",
                e.value(), e.source());

        Itest.expectFailure(admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                        new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all(),
                InvalidConfigurationException.class, "incrementalAlterConfigs retention.ms=soon");
        Itest.expectFailure(admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                        new ConfigEntry("no.such.config", "1"), AlterConfigOp.OpType.SET)))).all(),
                InvalidConfigurationException.class, "incrementalAlterConfigs no.such.config=1");
        Itest.say("incrementalAlterConfigs retention.ms=soon and no.such.config: InvalidConfigurationException");
    }

    private static void alter(Admin admin, ConfigResource res, AlterConfigOp op) throws Exception {
        get(admin.incrementalAlterConfigs(Map.of(res, List.of(op))).all(), "incrementalAlterConfigs " + op);
    }

    private static ConfigEntry configEntry(Admin admin, ConfigResource res, String name) throws Exception {
        Config config = get(admin.describeConfigs(List.of(res)).all(), "describeConfigs").get(res);
        ConfigEntry e = config.get(name);
        check(e != null, "describeConfigs %s: no %s", res.name(), name);
        return e;
    }

    static void createPartitions(Admin admin, String topic, Node node) throws Exception {
        get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all(), "createPartitions to 5");
        Itest.say("createPartitions %s: increased to 5", topic);
        describe(admin, topic, 5, node);
        Itest.expectFailure(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all(),
                InvalidPartitionsException.class, "createPartitions down to 2");
        Itest.say("createPartitions to 2: InvalidPartitionsException");
    }

    static void delete(Admin admin, String topic) throws Exception {
        get(admin.deleteTopics(List.of(topic)).all(), "deleteTopics " + topic);
        Itest.say("deleteTopics %s: done", topic);
        listed(admin, topic, false);
        Itest.expectFailure(admin.describeTopics(List.of(topic)).allTopicNames(),
                UnknownTopicOrPartitionException.class, "describeTopics of the deleted topic");
        Itest.expectFailure(admin.deleteTopics(List.of(topic)).all(),
                UnknownTopicOrPartitionException.class, "deleteTopics of the deleted topic");
        Itest.say("deleted topic: describeTopics and deleteTopics give UnknownTopicOrPartitionException");
    }
}
