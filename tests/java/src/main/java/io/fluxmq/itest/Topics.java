package io.fluxmq.itest;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

/** Creates the fresh topics the producer and consumer scenarios write to. */
final class Topics {
    private Topics() {}

    static void create(String bootstrap, String topic, int partitions, Map<String, String> configs)
            throws Exception {
        Properties props = Itest.clientProps(bootstrap);
        try (Admin admin = Admin.create(props)) {
            NewTopic t = new NewTopic(topic, partitions, (short) 1).configs(configs);
            Itest.get(admin.createTopics(List.of(t)).all(), "createTopics " + topic);
        }
    }
}
