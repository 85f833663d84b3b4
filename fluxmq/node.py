"""Node: one broker's state, wired the way Kafka's BrokerServer wires it: the
metadata store and image (metadata/), the controller that changes the image,
the logs (log/manager.py) and the replica manager that serves them
(replication/). server.py runs a Node behind its listeners; the unit tests
drive one without a network.

Start-up order: the image from the store, the logs it names (recovered after
a crash), the partitions over them, then the controller, whose changes the
replica manager follows. Shutdown: delayed operations answer, high
watermarks and the logs' checkpoints are written, then the clean-shutdown
marker.
"""

from __future__ import annotations

from fluxmq.config import validate_topic_configs
from fluxmq.log.manager import LogManager
from fluxmq.metadata.controller import MetadataController
from fluxmq.metadata.store import LocalMetadataStore
from fluxmq.replication.replica_manager import ReplicaManager


class Node:
    def __init__(self, config, data_dir: str, clock):
        self.config = config
        self.clock = clock
        self.node_id = config["node.id"]
        self.logs = LogManager(config, data_dir, clock)
        self.store = LocalMetadataStore(self.logs.data_dir, self.node_id)
        self.image = None
        self.controller: MetadataController | None = None
        self.replica_manager: ReplicaManager | None = None

    def startup(self, recovery_mode: str = "auto") -> "Node":
        """Loads the metadata and the logs; no event loop needed."""
        self.image = self.store.load(validate_topic_configs)
        self.logs.startup(self.image, recovery_mode)
        self.replica_manager = ReplicaManager(self.node_id, self.logs, self.image, self.clock)
        self.replica_manager.start()
        self.logs.on_log_start_moved = self.replica_manager.on_retention
        self.controller = MetadataController(self.image, self.store, self.config, self.node_id)
        self.controller.subscribe(self.replica_manager.on_metadata)
        return self

    def start(self) -> None:
        """The background work that needs the running loop (the group-committed fdatasync)."""
        self.logs.start()

    @property
    def cluster_id(self) -> str:
        return self.image.cluster_id

    def checkpoint(self) -> None:
        self.replica_manager.checkpoint_high_watermarks()
        self.logs.checkpoint()

    def shutdown(self) -> None:
        self.replica_manager.shutdown()
        self.logs.shutdown()
