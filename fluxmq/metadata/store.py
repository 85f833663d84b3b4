"""LocalMetadataStore: the metadata of a single node, kept in its data dir.

    meta.properties   version=1, node.id, cluster.id (Kafka's names; the cluster id is
                      made once, as `kafka-storage format` would, and kept)
    topics.json       per topic: topic id, config overrides, and per partition its
                      replicas, ISR, leader, leader epoch and partition epoch
    scram-credentials.json
                      per user and SCRAM mechanism: salt, stored key, server key and
                      iterations, never a password (mode 0600)
    acls.json         the ACL bindings (security/acl.py), in creation order

The controller (controller.py) is the only writer; every change is written
(fsynced, renamed into place) before it is answered. A cluster store (etcd,
issue 12) offers the same calls: load(), save_topics(image),
save_scram_credentials(image), save_acls(bindings) and the cluster id.

topics.json written before FluxMQ kept partition registrations holds only a
partition count; such a topic loads with this node as the replica, ISR and
leader of each partition, at leader epoch 0, which is what it always was.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

from fluxmq.log.checkpoints import write_atomically
from fluxmq.metadata.image import MetadataImage, PartitionImage, TopicImage

TOPICS_FILE = "topics.json"
SCRAM_FILE = "scram-credentials.json"
ACLS_FILE = "acls.json"
META_FILE = "meta.properties"


class LocalMetadataStore:
    def __init__(self, data_dir: str, node_id: int):
        self.data_dir = data_dir
        self.node_id = node_id

    def load(self, validate_configs) -> MetadataImage:
        """The image from disk (an empty one for a new data dir); `validate_configs`
        parses each topic's stored overrides (config.validate_topic_configs)."""
        os.makedirs(self.data_dir, exist_ok=True)
        image = MetadataImage(cluster_id=self._load_meta(), controller_id=self.node_id)
        for name, entry in self._read_topics().items():
            image.put_topic(TopicImage(name, uuid.UUID(entry["topic_id"]),
                                       validate_configs(entry.get("configs", {})),
                                       self._partitions(entry["partitions"])))
        image.scram_credentials = self.read_scram_credentials()
        image.set_acls(self.read_acls())
        return image

    def _partitions(self, stored) -> list[PartitionImage]:
        node = self.node_id
        if isinstance(stored, int):  # the count alone (see above)
            return [PartitionImage(i, [node], [node], node) for i in range(stored)]
        return [PartitionImage(i, list(p["replicas"]), list(p["isr"]), p["leader"], p.get("leader_epoch", 0),
                               p.get("partition_epoch", 0)) for i, p in enumerate(stored)]

    def save_topics(self, image: MetadataImage) -> None:
        from fluxmq.config import render
        data = {t.name: {"topic_id": str(t.topic_id),
                         "configs": {k: render(v) for k, v in t.configs.items()},
                         "partitions": [{"replicas": p.replicas, "isr": p.isr, "leader": p.leader,
                                         "leader_epoch": p.leader_epoch, "partition_epoch": p.partition_epoch}
                                        for p in t.partitions]}
                for t in image.topics.values()}
        write_atomically(os.path.join(self.data_dir, TOPICS_FILE), json.dumps(data, indent=1, sort_keys=True))

    def save_scram_credentials(self, image: MetadataImage) -> None:
        data = {user: {mechanism: cred.to_json() for mechanism, cred in creds.items()}
                for user, creds in image.scram_credentials.items()}
        path = os.path.join(self.data_dir, SCRAM_FILE)
        write_atomically(path, json.dumps(data, indent=1, sort_keys=True), mode=0o600)

    def read_scram_credentials(self) -> dict:
        path = os.path.join(self.data_dir, SCRAM_FILE)
        if not os.path.exists(path):
            return {}
        from fluxmq.security.scram import ScramCredential
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
        return {user: {mechanism: ScramCredential.from_json(mechanism, d) for mechanism, d in creds.items()}
                for user, creds in stored.items()}

    def save_acls(self, acls) -> None:
        data = [b.to_json() for b in acls]
        write_atomically(os.path.join(self.data_dir, ACLS_FILE), json.dumps(data, indent=1))

    def read_acls(self) -> dict:
        path = os.path.join(self.data_dir, ACLS_FILE)
        if not os.path.exists(path):
            return {}
        from fluxmq.security.acl import AclBinding
        with open(path, encoding="utf-8") as f:
            return {AclBinding.from_json(d): None for d in json.load(f)}

    def _read_topics(self) -> dict:
        path = os.path.join(self.data_dir, TOPICS_FILE)
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _load_meta(self) -> str:
        """The cluster id of meta.properties (made if new); refuses another node's data dir."""
        path = os.path.join(self.data_dir, META_FILE)
        props = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if "=" in line and not line.startswith("#"):
                        k, v = line.strip().split("=", 1)
                        props[k] = v
        if props.get("node.id") not in (None, str(self.node_id)):
            raise RuntimeError(f"{path} belongs to node.id {props['node.id']}, not {self.node_id}; "
                               "use a different --data-dir or --broker-id")
        cluster_id = props.get("cluster.id") or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        write_atomically(path, f"version=1\nnode.id={self.node_id}\ncluster.id={cluster_id}\n")
        return cluster_id
