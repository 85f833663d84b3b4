"""Cluster metadata: the image every broker component reads (image.py), the
controller that changes it (controller.py), and the store that keeps it
(store.py: topics.json on one node; etcd for clusters, later)."""
