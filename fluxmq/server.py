"""The broker process: one uvloop event loop driving the C listener.

The loop watches the epoll fd of csrc/net.c; on wake-up one fmq_net_poll call
returns every complete frame of every ready connection. Each frame is decoded
and handed to its API handler; responses are released to the connection in
request order (Kafka clients match responses by order as well as by
correlation id) and flushed with one fmq_net_flush per wake-up.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import struct
from collections import deque
from dataclasses import dataclass

from fluxmq import native
from fluxmq.config import BrokerConfig
from fluxmq.handlers import NO_RESPONSE, RawResponse, load_all
from fluxmq.listener import SASL_PROTOCOLS, TLS_PROTOCOLS, Listener
from fluxmq.util.file_range import FileRange
from fluxmq.handlers.api_versions import API_KEY as API_VERSIONS, unsupported_version_body
from fluxmq.protocol import codec
from fluxmq.protocol.header import MalformedHeader, frame, parse_fixed, parse_request_header, response_header
from fluxmq.group import GROUP_METADATA_TOPIC
from fluxmq.node import Node
from fluxmq.txn import TRANSACTION_STATE_TOPIC, producer_ids
from fluxmq.util.clock import SystemClock

log = logging.getLogger("fluxmq.server")
ffi, lib = native.ffi, native.lib

POLL_BATCH = 1024
_SIZE = struct.Struct(">i")
MAINTENANCE_INTERVAL_S = 1.0
CHECKPOINT_INTERVAL_MS = 60_000
SHUTDOWN_GRACE_S = 10.0


ANONYMOUS = "User:ANONYMOUS"  # Kafka's KafkaPrincipal.ANONYMOUS: an unauthenticated PLAINTEXT client
# A TLS record header (0x16 0x03 0x0N ...) read as a request size: a TLS client on a plaintext listener.
TLS_RECORD_SIZES = (0x16030000, 0x1603FFFF)


@dataclass(slots=True)
class RequestContext:
    broker: "Broker"
    conn: "Connection"
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None

    # Authorization (security/authorizer.py): always allowed without an authorizer.
    def authorize(self, op, resource_type, name: str, log_denied: bool = True) -> bool:
        authorizer = self.broker.authorizer
        return authorizer is None or authorizer.authorize(
            self.conn.principal, self.conn.host, op, resource_type, name, self.broker.handlers[self.api_key].name,
            log_denied)

    def authorized_names(self, op, resource_type, names) -> set:
        """The names the caller may do `op` on (a filter: denials are not logged)."""
        if self.broker.authorizer is None:
            return set(names)
        return {n for n in names if self.authorize(op, resource_type, n, log_denied=False)}

    def may_create_topic(self, name: str) -> bool:
        """Auto-creation (Metadata, Produce) needs CREATE on the cluster or on the topic."""
        from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType
        return self.broker.authorizer is None or (
            self.authorize(AclOperation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME, log_denied=False)
            or self.authorize(AclOperation.CREATE, ResourceType.TOPIC, name))

    def authorize_by_resource_type(self, op, resource_type) -> bool:
        authorizer = self.broker.authorizer
        return authorizer is None or authorizer.authorize_by_resource_type(
            self.conn.principal, self.conn.host, op, resource_type)

    def authorized_operations(self, resource_type, name: str) -> int:
        """Kafka's authorizedOperations field; every supported operation without an authorizer."""
        authorizer = self.broker.authorizer
        if authorizer is None:
            from fluxmq.security.acl import SUPPORTED_OPERATIONS
            return sum(1 << op for op in SUPPORTED_OPERATIONS[resource_type])
        return authorizer.authorized_operations(self.conn.principal, self.conn.host, resource_type, name)


class _Slot:
    """A response position in a connection's order."""
    __slots__ = ("data", "done")

    def __init__(self):
        self.data: bytes | None = None
        self.done = False


class Connection:
    """One client connection: where it came in (listener), who it is (peer
    address, principal; on SASL listeners its SASL authenticator), and its
    responses in request order."""
    __slots__ = ("id", "peer", "host", "listener", "principal", "sasl", "tls", "slots", "tasks")

    def __init__(self, conn_id: int, peer: str, listener: Listener):
        self.id = conn_id
        self.peer = peer
        self.host = peer.rpartition(":")[0].strip("[]")  # the address ACL hosts are matched against
        self.listener = listener
        self.principal = ANONYMOUS
        self.sasl = None  # a SaslAuthenticator on SASL listeners (security/sasl.py)
        self.tls = None  # the listener's TlsListenerConfig on SSL and SASL_SSL listeners (security/tls.py)
        self.slots: deque[_Slot] = deque()
        self.tasks: set[asyncio.Task] = set()

    @property
    def client_host(self) -> str:
        """Kafka's InetAddress.toString() of the peer: "/" + the address."""
        return "/" + self.host


class Broker:
    def __init__(self, config: BrokerConfig, data_dir: str, listeners: list[Listener],
                 recovery_mode: str = "auto", clock=None, initial_acls=()):
        """`listeners`: fluxmq.listener.parse_listeners(config); bound in start().
        `initial_acls`: bindings added at start, as CreateAcls would (--acl-config)."""
        self.config = config
        self.listeners: list[Listener] = list(listeners)  # by the id fmq_net_listen gives, once bound
        self.sasl_configs = {}
        if any(lst.security_protocol in SASL_PROTOCOLS for lst in self.listeners):
            # Imported only then (a PLAINTEXT broker starts without it); checked before anything
            # starts: a SASL listener without what it needs refuses to start.
            from fluxmq.security.sasl import listener_configs
            self.sasl_configs = listener_configs(config, self.listeners)
        self.tls_configs = {}
        if any(lst.security_protocol in TLS_PROTOCOLS for lst in self.listeners):
            from fluxmq.security import tls
            self.tls_configs = tls.listener_configs(config, self.listeners)
        self.clock = clock or SystemClock()
        self.node_id = config["node.id"]
        self.node = Node(config, data_dir, self.clock)  # metadata, logs, replica manager
        self.logs = self.node.logs
        self.recovery_mode = recovery_mode
        self.initial_acls = list(initial_acls)
        self.authorizer = None  # a StandardAuthorizer when authorizer.class.name is set (see start)
        self._groups = None  # consumer groups (fluxmq/group): see the `groups` property
        self._transactions = None  # the transaction coordinator (fluxmq/txn): see `transactions`
        self._flush_scheduled = False
        self.handlers = load_all()
        self.conns: dict[int, Connection] = {}
        self.net: native.Net | None = None
        self.producer_ids = None
        self._events = ffi.new("fmq_event[]", POLL_BATCH)
        self._stopping: asyncio.Event | None = None
        self._maintenance: asyncio.Task | None = None
        self._last_checkpoint_ms = 0

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        # Bind first: a taken port must fail before the logs are opened.
        self.net = native.Net(self.config["socket.request.max.bytes"])
        bound = []
        for lst in self.listeners:
            tls_config = self.tls_configs.get(lst.name)
            listener_id, port = self.net.listen(lst.host, lst.port, tls_config.context if tls_config else None)
            assert listener_id == len(bound)
            bound.append(lst.bound(port))
        self.listeners = bound
        self.node.startup(self.recovery_mode)
        self._start_authorizer()
        self.node.start()
        if GROUP_METADATA_TOPIC in self.image.topics:
            self._start_groups()  # group state to replay: loaded before the first request is served
        self.producer_ids = producer_ids.for_logs(self.logs)
        self.replica_manager.txn_verifier = self._verify_txn
        if TRANSACTION_STATE_TOPIC in self.image.topics:
            self._start_transactions()  # prepared transactions get their markers, timeouts run
        loop = asyncio.get_running_loop()
        loop.add_reader(self.net.fd, self._on_readable)
        self._stopping = asyncio.Event()
        self._maintenance = loop.create_task(self._maintenance_loop())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        log.info("FluxMQ node %d listening on %s (cluster id %s, data in %s; crc32c=%s, segment io=%s)",
                 self.node_id, ", ".join(f"{lst.render()} advertised as {lst.advertised_host}:{lst.advertised_port}"
                                         for lst in self.listeners),
                 self.node.cluster_id, self.logs.data_dir, native.crc32c_impl(), self.logs.io.impl)

    def _start_authorizer(self) -> None:
        if not self.config["authorizer.class.name"]:
            return
        from fluxmq.security.authorizer import StandardAuthorizer, parse_super_users
        if self.initial_acls:
            refused = [f"{b}: {m}" for b, (code, m) in zip(self.initial_acls,
                                                           self.controller.create_acls(self.initial_acls)) if code]
            if refused:
                raise ValueError("ACLs refused: " + "; ".join(refused))
        self.authorizer = StandardAuthorizer(self.image, parse_super_users(self.config["super.users"]),
                                             self.config["allow.everyone.if.no.acl.found"])
        log.info("%d ACLs loaded", len(self.image.acls))

    @property
    def image(self):
        """The metadata image (metadata/image.py)."""
        return self.node.image

    @property
    def controller(self):
        """Every metadata change (metadata/controller.py)."""
        return self.node.controller

    @property
    def replica_manager(self):
        """Every append and read (replication/replica_manager.py)."""
        return self.node.replica_manager

    @property
    def groups(self):
        """The group coordinator runtime. Without __consumer_offsets there is
        no group state to replay, so it starts on the first group request
        instead: a cold start then skips importing fluxmq/group (a third of
        the broker's Python), and nothing a client sees changes."""
        return self._groups if self._groups is not None else self._start_groups()

    def _start_groups(self):
        from fluxmq.group.runtime import GroupCoordinatorRuntime
        self._groups = GroupCoordinatorRuntime(self.node, self.config, self.clock)
        # A first group request during shutdown finds it unloaded (NOT_COORDINATOR), as it
        # would have had the coordinator started with the broker.
        if self._stopping is None or not self._stopping.is_set():
            self._groups.start()  # replay __consumer_offsets, start the timers
        return self._groups

    @property
    def transactions(self):
        """The transaction coordinator runtime, started like `groups`: at
        start-up if __transaction_state exists, else on first use."""
        return self._transactions if self._transactions is not None else self._start_transactions()

    def _start_transactions(self):
        from fluxmq.txn.runtime import TransactionCoordinatorRuntime
        self._transactions = TransactionCoordinatorRuntime(self.node, self.config, self.clock, self.producer_ids,
                                                           self._on_offsets_marker)
        if self._stopping is None or not self._stopping.is_set():
            self._transactions.start()
        return self._transactions

    def _verify_txn(self, transactional_id, producer_id: int, epoch: int, topic: str, partition: int) -> None:
        """A transactional batch's partition must be in its transaction (KIP-890 part 1)."""
        self.transactions.verify(transactional_id, producer_id, epoch, topic, partition)

    def write_markers(self, partitions: list[tuple[str, int]], producer_id: int, epoch: int, commit: bool,
                      coordinator_epoch: int) -> list:
        """WriteTxnMarkers from a client (Admin.abortTransaction): an error per partition."""
        errors = self.replica_manager.append_markers(
            [(t, i, producer_id, epoch, commit, coordinator_epoch) for t, i in partitions])
        for (topic, index), error in zip(partitions, errors):
            if error == 0:
                self._on_offsets_marker(topic, index, producer_id, commit)
        return errors

    def _on_offsets_marker(self, topic: str, partition: int, producer_id: int, commit: bool) -> None:
        """A marker on a __consumer_offsets partition ends the producer's
        transactional offset commits there (TxnOffsetCommit)."""
        if topic == GROUP_METADATA_TOPIC:
            self.groups.coordinator.offsets.complete_transaction(partition, producer_id, commit)

    async def serve_forever(self) -> None:
        await self.start()
        await self._stopping.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, finish in-flight requests, flush, write the clean marker."""
        log.info("shutting down: no new connections, finishing in-flight requests")
        loop = asyncio.get_running_loop()
        self.net.stop_listening()
        self.replica_manager.fetch_purgatory.complete_all()  # long-poll fetches answer now
        if self._groups is not None:
            self._groups.shutdown()  # consumer groups: parked joins/syncs answer NOT_COORDINATOR
        if self._transactions is not None:
            self._transactions.shutdown()
        tasks = [t for c in self.conns.values() for t in c.tasks]
        if tasks:
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S)
        self.net.flush()  # what is answered goes out; unread frames are dropped
        loop.remove_reader(self.net.fd)
        if self._maintenance:
            self._maintenance.cancel()
        self.node.shutdown()
        log.info("shutdown complete")

    # --------------------------------------------------------------- network
    def _on_readable(self) -> None:
        events = self._events
        while True:
            n = self.net.poll(events, POLL_BATCH)
            for i in range(n):
                ev = events[i]
                kind = ev.kind
                if kind == lib.FMQ_EV_FRAME:
                    self._on_frame(ev.conn, ffi.buffer(ev.data, ev.len)[:])
                elif kind == lib.FMQ_EV_ACCEPT:
                    self._on_accept(ev.conn, ev.listener)
                elif kind == lib.FMQ_EV_CLOSED:
                    if ev.len > 0:
                        conn = self.conns.get(ev.conn)
                        log.warning("connection from %s closed in the middle of a request: "
                                    "%d bytes of an incomplete frame dropped", conn.peer if conn else "?", ev.len)
                    self._on_closed(ev.conn)
                elif kind == lib.FMQ_EV_TLS_FAILED:
                    conn = self.conns.get(ev.conn)
                    log.warning("closed connection from %s: %s", conn.peer if conn else "?",
                                ffi.buffer(ev.data, ev.len)[:].decode("utf-8", "replace"))
                    self._on_closed(ev.conn)
                elif kind == lib.FMQ_EV_OVERSIZED:
                    conn = self.conns.get(ev.conn)
                    if TLS_RECORD_SIZES[0] <= ev.len <= TLS_RECORD_SIZES[1]:
                        log.warning("closed connection from %s: it sent a TLS handshake to a %s listener (is the "
                                    "client's security.protocol right?)", conn.peer if conn else "?",
                                    conn.listener.security_protocol if conn else "plaintext")
                    elif ev.len < 0:
                        log.warning("closed connection from %s: invalid (negative) request size %d",
                                    conn.peer if conn else "?", ev.len)
                    else:
                        log.warning("closed connection from %s: request size %d is above socket.request.max.bytes %d",
                                    conn.peer if conn else "?", ev.len, self.config["socket.request.max.bytes"])
                    self._on_closed(ev.conn)
            if n < POLL_BATCH:
                break
        self.net.flush()

    def _on_accept(self, conn_id: int, listener_id: int) -> None:
        listener = self.listeners[listener_id]
        conn = self.conns[conn_id] = Connection(conn_id, self.net.peer(conn_id), listener)
        sasl_config = self.sasl_configs.get(listener.name)
        if sasl_config is not None:
            from fluxmq.security.sasl import SaslAuthenticator
            conn.sasl = SaslAuthenticator(sasl_config, self.image.scram_credential, self.clock)
        tls_config = self.tls_configs.get(listener.name)
        if tls_config is not None:
            conn.tls = tls_config
            if sasl_config is None:
                conn.principal = None  # SSL: the client certificate's, once the handshake is done
            asyncio.get_running_loop().call_later(tls_config.handshake_timeout_ms / 1000,
                                                  self._check_handshake, conn)

    def _check_handshake(self, conn: Connection) -> None:
        if self.conns.get(conn.id) is conn and self.net.tls_established(conn.id) is False:
            self.close_connection(conn, f"TLS handshake not finished within {conn.tls.handshake_timeout_ms} ms "
                                        "(fluxmq.ssl.handshake.timeout.ms)")

    def _ssl_principal(self, conn: Connection) -> bool:
        """An SSL connection's principal from its certificate (Kafka's
        DefaultKafkaPrincipalBuilder with ssl.principal.mapping.rules); a
        subject no rule maps closes the connection, as Kafka fails it."""
        from fluxmq.security.tls import NoMatchingRule
        try:
            conn.principal = conn.tls.principal(self.net.tls_peer_subject(conn.id))
            return True
        except NoMatchingRule as e:
            self.close_connection(conn, f"SSL authentication failed: {e}")
            return False

    def _on_closed(self, conn_id: int) -> None:
        conn = self.conns.pop(conn_id, None)
        if conn:
            for t in conn.tasks:
                t.cancel()

    def close_connection(self, conn: Connection, reason: str) -> None:
        log.warning("closing connection from %s: %s", conn.peer, reason)
        self.net.close(conn.id)
        self._on_closed(conn.id)

    def close_after_response(self, conn: Connection, reason: str) -> None:
        """Closes once the responses queued so far are written (a failed SASL handshake
        or authentication is answered first, as Kafka does)."""
        log.warning("closing connection from %s after its response: %s", conn.peer, reason)
        self.net.close_after_flush(conn.id)
        self._on_closed(conn.id)

    # -------------------------------------------------------------- requests
    def _on_frame(self, conn_id: int, data: bytes) -> None:
        conn = self.conns.get(conn_id)
        if conn is None:
            return
        if conn.principal is None and not self._ssl_principal(conn):
            return
        sasl = conn.sasl
        if sasl is not None and sasl.raw:
            self._on_sasl_token(conn, data)
            return
        try:
            api_key, version, correlation_id = parse_fixed(data)
        except MalformedHeader as e:
            self.close_connection(conn, f"malformed request header ({e})")
            return
        handler = self.handlers.get(api_key)
        if handler is None:
            self.close_connection(conn, f"unknown API key {api_key} (correlation id {correlation_id})")
            return
        if sasl is not None:
            refusal = sasl.refusal(api_key, handler.name)
            if refusal is not None:
                self.close_connection(conn, refusal)
                return
        if version < handler.min_version or version > handler.max_version:
            if api_key == API_VERSIONS:
                # KIP-511: answer in v0 so the client can pick a version we know.
                log.info("ApiVersions v%d from %s is not supported (v%d-v%d): answered UNSUPPORTED_VERSION",
                         version, conn.peer, handler.min_version, handler.max_version)
                body = codec.encode_response(API_VERSIONS, 0, unsupported_version_body())
                self._respond_now(conn, frame(response_header(api_key, correlation_id, False), body))
                return
            self.close_connection(conn, f"{handler.name} v{version} is not supported "
                                        f"(supported: v{handler.min_version}-v{handler.max_version})")
            return
        if version < handler.min_served:
            self._reject_old_version(conn, handler, data, version, correlation_id)
            return
        flexible = codec.is_flexible(api_key, version)
        try:
            header = parse_request_header(data, flexible)
            request = codec.decode_request(api_key, version, data, header.body_offset)
        except Exception as e:  # kio raises several types on malformed input
            self.close_connection(conn, f"malformed {handler.name} v{version} request "
                                        f"(correlation id {correlation_id}): {e!r}")
            return
        ctx = RequestContext(self, conn, api_key, version, correlation_id, header.client_id)
        slot = _Slot()
        conn.slots.append(slot)
        try:
            result = handler.fn(ctx, request)
        except Exception:
            log.exception("%s v%d from %s failed; closing the connection", handler.name, version, conn.peer)
            self.close_connection(conn, "internal error")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            conn.tasks.add(task)
            task.add_done_callback(lambda t: self._on_delayed_done(conn, slot, ctx, flexible, t))
        else:
            self._complete(conn, slot, ctx, result, flexible)

    def _on_sasl_token(self, conn: Connection, token: bytes) -> None:
        """A bare SASL token after SaslHandshake v0: the challenge goes back framed
        by its size only; a refusal closes the connection (there is no error
        response in this flow)."""
        from fluxmq.security.sasl import SaslAuthenticationFailed
        sasl = conn.sasl
        try:
            challenge, _lifetime_ms = sasl.authenticate(token)
        except SaslAuthenticationFailed:
            self.close_connection(conn, sasl.close_reason)
            return
        if sasl.principal is not None:
            conn.principal = sasl.principal
        self._respond_now(conn, _SIZE.pack(len(challenge)) + challenge)

    def _on_delayed_done(self, conn, slot, ctx, flexible, task: asyncio.Task) -> None:
        """A delayed operation (acks=all produce, long-poll fetch) finished."""
        conn.tasks.discard(task)
        if task.cancelled() or conn.id not in self.conns:
            return
        if task.exception() is not None:
            log.error("delayed %s v%d from %s failed; closing the connection",
                      self.handlers[ctx.api_key].name, ctx.api_version, conn.peer, exc_info=task.exception())
            self.close_connection(conn, "internal error")
            return
        self._complete(conn, slot, ctx, task.result(), flexible)
        self._flush_soon()

    def _flush_soon(self) -> None:
        """One fmq_net_flush after every delayed response that finishes in this loop
        iteration: a group commit completes many acks=all produce requests at once, and
        their responses to one connection then leave in one writev."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        self.net.flush()

    def _complete(self, conn, slot, ctx, result, flexible) -> None:
        if result is NO_RESPONSE:
            slot.data = None
        elif isinstance(result, RawResponse):
            head = response_header(ctx.api_key, ctx.correlation_id, flexible)
            # File ranges stay valid while the response waits behind earlier ones: a
            # removed segment keeps its fd for file.delete.delay.ms (SegmentDeleter).
            slot.data = [_SIZE.pack(len(head) + result.length) + head, *result.parts]
        else:
            body = result if isinstance(result, (bytes, bytearray)) else \
                codec.encode_response(ctx.api_key, ctx.api_version, result)
            slot.data = frame(response_header(ctx.api_key, ctx.correlation_id, flexible), body)
        slot.done = True
        self._release(conn)
        if conn.sasl is not None and conn.sasl.close_reason is not None:  # a refused SASL handshake or authentication
            self.close_after_response(conn, conn.sasl.close_reason)

    def _respond_now(self, conn, data: bytes) -> None:
        slot = _Slot()
        slot.data, slot.done = data, True
        conn.slots.append(slot)
        self._release(conn)

    def _release(self, conn: Connection) -> None:
        """Sends every finished response at the head of the connection's order."""
        slots = conn.slots
        net = self.net
        try:
            while slots and slots[0].done:
                data = slots.popleft().data
                if data is None:
                    continue
                if isinstance(data, list):
                    for part in data:
                        if isinstance(part, FileRange):
                            net.send_file(conn.id, part.fd, part.offset, part.length)
                        else:
                            net.send(conn.id, part)
                else:
                    net.send(conn.id, data)
        except MemoryError as e:
            # Part of a response could not be queued: what follows would be out of order.
            self.close_connection(conn, str(e))

    def _reject_old_version(self, conn, handler, data, version, correlation_id) -> None:
        from fluxmq.handlers.produce import legacy_unsupported_response
        body = legacy_unsupported_response(data, version)
        if body is None:
            self.close_connection(conn, f"malformed {handler.name} v{version} request")
            return
        log.info("rejected %s v%d from %s with UNSUPPORTED_VERSION (served from v%d)",
                 handler.name, version, conn.peer, handler.min_served)
        self._respond_now(conn, frame(response_header(handler.api_key, correlation_id, False), body))

    # ------------------------------------------------------------ maintenance
    async def _maintenance_loop(self) -> None:
        retention_every = self.config["log.retention.check.interval.ms"]
        last_retention = self.clock.monotonic_ms()
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL_S)
            try:
                now = self.clock.monotonic_ms()
                self.logs.flush_by_policy()
                if now - last_retention >= retention_every:
                    last_retention = now
                    self.logs.apply_retention()
                self.logs.cleaner.maybe_clean()  # log compaction: a pass every log.cleaner.backoff.ms (log/cleaner.py)
                self.logs.deleter.delete_due()  # segments removed file.delete.delay.ms ago
                if now - self._last_checkpoint_ms >= CHECKPOINT_INTERVAL_MS:
                    self._last_checkpoint_ms = now
                    self.node.checkpoint()
                expiration = self.config["producer.id.expiration.ms"]
                for lg in self.logs.all_logs():
                    lg.producer_state.expire(self.clock.milliseconds(), expiration)
            except Exception:
                log.exception("log maintenance failed")


def run(config: BrokerConfig, data_dir: str, listeners: list[Listener], recovery_mode: str = "auto",
        initial_acls=()) -> None:
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    try:
        broker = Broker(config, data_dir, listeners, recovery_mode, initial_acls=initial_acls)
        runner(broker.serve_forever())
    except (OSError, ValueError, RuntimeError) as e:
        log.error("FluxMQ could not start: %s", e)
        raise SystemExit(1) from None
