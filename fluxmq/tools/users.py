"""`fluxmq users ...`: SCRAM users, as `kafka-configs --entity-type users` manages
them, without Java.

Against a running broker (--bootstrap-server; --command-config takes Kafka's
client properties, security.protocol, sasl.mechanism and sasl.jaas.config,
to log in to a SASL listener) it sends AlterUserScramCredentials and
DescribeUserScramCredentials. With --data-dir it writes the credentials of a
stopped broker directly, which is how the first user of a SASL-only broker
is made (Kafka's `kafka-storage format --add-scram`).
"""

from __future__ import annotations

import contextlib
import os

import click

from fluxmq.config import read_properties
from fluxmq.errors import ErrorCode
from fluxmq.security import jaas, scram
from fluxmq.tools.client import KafkaWireClient, SaslFailed, sasl_authenticate

DESCRIBE, ALTER = 50, 51


class Target:
    """Where the users live: a broker over the wire, or a stopped broker's data dir."""

    def __init__(self, bootstrap: str, command_config: str | None, data_dir: str | None):
        self.bootstrap = bootstrap
        self.command_config = command_config
        self.data_dir = data_dir

    # ---------------------------------------------------------------- wire
    def _client(self) -> KafkaWireClient:
        try:
            client = KafkaWireClient(self.bootstrap)
        except OSError as e:
            raise click.ClickException(f"cannot reach the broker at {self.bootstrap}: {e}") from None
        if self.command_config:
            props = read_properties(self.command_config)
            protocol = props.get("security.protocol", "PLAINTEXT").upper()
            if protocol == "SASL_PLAINTEXT":
                try:
                    entry = jaas.parse(props.get("sasl.jaas.config", ""), f"{self.command_config}: sasl.jaas.config")
                except ValueError as e:
                    client.close()
                    raise click.ClickException(str(e)) from None
                try:
                    sasl_authenticate(client, props.get("sasl.mechanism", "GSSAPI").upper(),
                                      entry.options.get("username", ""), entry.options.get("password", ""))
                except SaslFailed as e:
                    client.close()
                    raise click.ClickException(f"authentication failed: {e}") from None
            elif protocol != "PLAINTEXT":
                client.close()
                raise click.ClickException(f"security.protocol {protocol} is not supported by this command yet")
        return client

    # --------------------------------------------------------------- offline
    def _offline(self):
        """(the data dir's store, an image holding its SCRAM credentials)."""
        from fluxmq.log.manager import CLEAN_SHUTDOWN_FILE
        from fluxmq.metadata.image import MetadataImage
        from fluxmq.metadata.store import META_FILE, LocalMetadataStore
        # A broker removes the clean-shutdown marker while it runs.
        if os.path.exists(os.path.join(self.data_dir, META_FILE)) and \
                not os.path.exists(os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE)):
            raise click.ClickException(f"{self.data_dir} is in use by a running broker (or it did not shut down "
                                       "cleanly): use --bootstrap-server, or start and stop the broker first")
        os.makedirs(self.data_dir, exist_ok=True)
        store = LocalMetadataStore(self.data_dir, node_id=None)
        image = MetadataImage(cluster_id="", controller_id=-1)
        image.scram_credentials = store.read_scram_credentials()
        return store, image

    # ------------------------------------------------------------ operations
    def alter(self, deletions, upsertions) -> list[tuple[str, int, str | None]]:
        """deletions (user, mechanism); upsertions (user, mechanism, password, iterations)."""
        creds = [(u, m, scram.from_password(m, pw, it)) for u, m, pw, it in upsertions]
        if self.data_dir:
            return self._alter_offline(deletions, creds)
        with self._client() as client, _answered(self.bootstrap):
            r = client.request(ALTER, 0, {
                "deletions": [{"name": u, "mechanism": scram.MECHANISMS[m][1]} for u, m in deletions],
                "upsertions": [{"name": u, "mechanism": scram.MECHANISMS[m][1], "iterations": c.iterations,
                                "salt": c.salt, "salted_password": c.salted_password} for u, m, c in creds]})
        return [(x.user, int(x.error_code), x.error_message) for x in r.results]

    def _alter_offline(self, deletions, creds):
        from fluxmq.metadata.controller import MetadataController
        store, image = self._offline()
        controller = MetadataController(image, store, None, -1)
        return [(u, int(code), msg) for u, code, msg in controller.alter_user_scram_credentials(
            [(u, scram.MECHANISMS[m][1]) for u, m in deletions],
            [(u, scram.MECHANISMS[m][1], c.iterations, c.salt, c.salted_password) for u, m, c in creds])]

    def describe(self, users) -> list[tuple[str, int, str | None, list[tuple[str, int]]]]:
        """(user, error, message, [(mechanism, iterations)]) per user."""
        if self.data_dir:
            _store, image = self._offline()
            results = [(u, int(code), msg, infos) for u, code, msg, infos in image.describe_scram_credentials(users)]
        else:
            with self._client() as client, _answered(self.bootstrap):
                r = client.request(DESCRIBE, 0, {"users": [{"name": u} for u in users] if users else None})
            results = [(x.user, int(x.error_code), x.error_message,
                        [(int(i.mechanism), int(i.iterations)) for i in x.credential_infos]) for x in r.results]
        return [(u, code, msg, [(scram.MECHANISM_BY_TYPE.get(m, str(m)), i) for m, i in infos])
                for u, code, msg, infos in results]


@contextlib.contextmanager
def _answered(bootstrap: str):
    try:
        yield
    except ConnectionError as e:
        raise click.ClickException(f"{bootstrap} closed the connection ({e}): a SASL listener needs "
                                   "--command-config with the client's SASL properties") from None


def report(results) -> None:
    """One line per user: `done` (alter) or its mechanisms (describe), or its error; exit 1 on any error."""
    failed = False
    for user, code, message, *infos in results:
        if code:
            failed = True
            click.echo(f"{user}: {ErrorCode(code).name}" + (f" ({message})" if message else ""), err=True)
        elif infos:
            click.echo(f"{user}: " + ", ".join(f"{m} (iterations={i})" for m, i in infos[0]))
        else:
            click.echo(f"{user}: done")
    if failed:
        raise click.exceptions.Exit(1)
