package io.fluxmq.itest;

import static io.fluxmq.itest.Itest.check;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;

/**
 * What the AdminClient is told to connect to: describeCluster's nodes and the leader of a
 * fresh one-partition topic (Metadata), each printed as "ENDPOINT what host:port" and checked
 * against --expect host:port. Then a producer sends one record, reaching the leader at that
 * advertised endpoint.
 *
 * <p>Usage: AdvertisedEndpoints BOOTSTRAP TOPIC --expect HOST:PORT
 */
public final class AdvertisedEndpoints {
    public static void main(String[] args) {
        Itest.main("AdvertisedEndpoints", args, 120, (bootstrap, topic, opts) -> {
            String expect = opts.string("expect", "");
            Topics.create(bootstrap, topic, 1, Map.of());
            try (Admin admin = Admin.create(Itest.clientProps(bootstrap))) {
                Collection<Node> nodes = Itest.get(admin.describeCluster().nodes(), "describeCluster");
                for (Node n : nodes) {
                    System.out.println("ENDPOINT cluster " + n.host() + ":" + n.port());
                    check((n.host() + ":" + n.port()).equals(expect), "describeCluster node %s, expected %s", n, expect);
                }
                TopicDescription d = Itest.get(admin.describeTopics(List.of(topic)).allTopicNames(), "describeTopics")
                        .get(topic);
                Node leader = d.partitions().get(0).leader();
                System.out.println("ENDPOINT leader " + leader.host() + ":" + leader.port());
                check((leader.host() + ":" + leader.port()).equals(expect), "leader %s, expected %s", leader, expect);
            }
            Properties props = Produce.props(bootstrap);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                RecordMetadata md = Itest.get(producer.send(new ProducerRecord<>(topic, 0, "k", "v")), "send");
                check(md.offset() == 0, "first record at offset %d", md.offset());
            }
        });
    }
}
