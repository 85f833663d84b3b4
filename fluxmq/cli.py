"""The fluxmq command: serve, topics, info."""

from __future__ import annotations

import logging
import sys

import click

from fluxmq import __version__

# Options for capabilities that come later: accepted by the parser so the
# command line is stable, refused at start-up until they work.
NOT_YET = {
    "enable_replication": "--enable-replication", "metrics_port": "--metrics-port",
}


@click.group()
@click.version_option(__version__, prog_name="fluxmq")
def main():
    """FluxMQ: a Kafka-wire-compatible broker."""


@main.command()
@click.option("--host", default=None, help="Address of the first listener [default: from listeners, 0.0.0.0].")
@click.option("-p", "--port", default=None, type=int, help="Port of the first listener [default: from listeners, 9092].")
@click.option("-l", "--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--broker-id", type=int, default=None, help="node.id / broker.id (default 1).")
@click.option("--data-dir", default=None, envvar="FLUXMQ_DATA_DIR",
              help="Log directory (default ./data, or $FLUXMQ_DATA_DIR).")
@click.option("--recovery-mode", type=click.Choice(["auto", "full"]), default="auto", show_default=True,
              help="auto: validate CRCs only after an unclean shutdown; full: always validate every segment.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A Kafka-style server.properties.")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Set a config with Kafka's key name; repeatable.")
@click.option("--enable-consumer-groups", is_flag=True, hidden=True,
              help="Accepted and ignored: consumer groups are always on (kept for older command lines).")
@click.option("--enable-tls", is_flag=True,
              help="Serve the first listener over TLS (PLAINTEXT becomes SSL) with --tls-cert and --tls-key.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM certificate chain of --enable-tls (the broker's certificate first).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM private key of --enable-tls (unencrypted, or ssl.key.password set).")
@click.option("--enable-acl", is_flag=True,
              help="Authorize every request with ACLs (authorizer.class.name=StandardAuthorizer).")
@click.option("--acl-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A JSON file of ACL bindings added at start (docs/security.md); needs --enable-acl.")
@click.option("--super-users", default=None, metavar="NAMES",
              help="Comma-separated principals allowed everything (admin or User:admin); needs --enable-acl.")
@click.option("--enable-replication", is_flag=True, help="(not available yet)")
@click.option("--metrics-port", type=int, default=None, help="(not available yet)")
def serve(host, port, log_level, broker_id, data_dir, recovery_mode, config_file, overrides,
          enable_consumer_groups, enable_tls, tls_cert, tls_key, enable_acl, acl_config, super_users, **later):
    """Run the broker."""
    given = [flag for name, flag in NOT_YET.items() if later.get(name)]
    if given:
        raise click.UsageError(f"{', '.join(given)}: not available in this version of FluxMQ yet "
                               "(see docs/skipped_features.md); the broker did not start")
    # --enable-consumer-groups: accepted for older FluxMQ command lines and
    # ignored; consumer groups are always on.
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fluxmq.config import BrokerConfig

    config = BrokerConfig()
    try:
        if config_file:
            config.load_properties(config_file)
        config.load_environment()
        for item in overrides:
            if "=" not in item:
                raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--override")
            key, value = item.split("=", 1)
            config.set(key.strip(), value.strip())
        if broker_id is not None:
            config.set("node.id", broker_id)
        _tls_options(config, enable_tls, tls_cert, tls_key)
        initial_acls = _acl_options(config, enable_acl, acl_config, super_users)
    except ValueError as e:
        raise click.UsageError(f"invalid configuration: {e}") from None
    if data_dir is None:
        data_dir = config.values.get("log.dirs") if "log.dirs" in config.sources else "./data"
        if "," in data_dir:  # several log dirs (JBOD) are not built: refused, never read as one odd path
            raise click.UsageError(f"invalid configuration: log.dirs {data_dir!r} names several directories; "
                                   "FluxMQ keeps its logs in one (see docs/skipped_features.md)")
    from fluxmq.listener import SASL_PROTOCOLS, TLS_PROTOCOLS, parse_listeners, render

    try:
        listeners = parse_listeners(config, host, port)
        # A SASL or TLS listener without what it needs: refused before start.
        if any(lst.security_protocol in SASL_PROTOCOLS for lst in listeners):
            from fluxmq.security.sasl import listener_configs
            listener_configs(config, listeners)
        if any(lst.security_protocol in TLS_PROTOCOLS for lst in listeners):
            from fluxmq.security import tls
            tls.listener_configs(config, listeners)
    except ValueError as e:
        raise click.UsageError(f"invalid configuration: {e}") from None
    if host is not None or port is not None:
        config.set("listeners", render(listeners))  # what DescribeConfigs reports: the served value
    from fluxmq.server import run

    run(config, data_dir, listeners, recovery_mode, initial_acls)


def _tls_options(config, enable_tls: bool, tls_cert: str | None, tls_key: str | None) -> None:
    """The seed's --enable-tls --tls-cert --tls-key as Kafka's keys: the first
    listener is served over TLS (a listener named PLAINTEXT is renamed SSL, any
    other is mapped to SSL) with the PEM files as its inline keystore."""
    if not enable_tls:
        if tls_cert or tls_key:
            raise ValueError("--tls-cert and --tls-key need --enable-tls")
        return
    if not (tls_cert and tls_key):
        raise ValueError("--enable-tls needs --tls-cert and --tls-key (PEM files)")
    from fluxmq.listener import listener_entries, protocol_map
    name = listener_entries(config["listeners"], "listeners")[0][0]
    protocols = protocol_map(config["listener.security.protocol.map"])
    if protocols.get(name) not in ("PLAINTEXT", "SSL"):
        raise ValueError(f"--enable-tls: the first listener {name} uses {protocols.get(name)}; "
                         "set its ssl.* keys instead")
    if name == "PLAINTEXT":
        name = "SSL"
        for key in ("listeners", "advertised.listeners"):
            if config.values.get(key):
                config.set(key, ",".join("SSL://" + e.strip()[len("PLAINTEXT://"):]
                                         if e.strip().upper().startswith("PLAINTEXT://") else e
                                         for e in str(config[key]).split(",")))
    if protocols.get(name) != "SSL":
        protocols[name] = "SSL"
        config.set("listener.security.protocol.map", ",".join(f"{n}:{p}" for n, p in protocols.items()))
    prefix = f"listener.name.{name.lower()}.ssl."
    with open(tls_cert, encoding="utf-8") as f:
        config.set(prefix + "keystore.certificate.chain", f.read())
    with open(tls_key, encoding="utf-8") as f:
        config.set(prefix + "keystore.key", f.read())
    config.set(prefix + "keystore.type", "PEM")


def _acl_options(config, enable_acl: bool, acl_config: str | None, super_users: str | None) -> list:
    """The seed's --enable-acl / --super-users / --acl-config as Kafka's keys, and the
    bindings of the --acl-config file. Authorizer settings without an authorizer are
    refused: they would change nothing."""
    from fluxmq.security.authorizer import AUTHORIZER_CLASS_NAMES
    keys = [k for k in ("super.users", "allow.everyone.if.no.acl.found") if k in config.sources]
    if enable_acl:
        config.set("authorizer.class.name", AUTHORIZER_CLASS_NAMES[0])
    if super_users is not None:
        names = [n.strip() for n in super_users.split(",") if n.strip()]
        config.set("super.users", ";".join(n if ":" in n else f"User:{n}" for n in names))
    if not config["authorizer.class.name"]:
        given = [flag for flag, value in (("--acl-config", acl_config), ("--super-users", super_users)) if value] + keys
        if given:
            raise ValueError(f"{', '.join(given)} given without an authorizer; add --enable-acl "
                             "(or authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer)")
        return []
    if acl_config is None:
        return []
    from fluxmq.security.acl import load_acl_file
    return load_acl_file(acl_config)


@main.command()
def info():
    """Version and the native code paths in use on this machine."""
    from fluxmq import native

    click.echo(f"fluxmq {__version__}")
    for key, value in native.info().items():
        click.echo(f"{key}: {value}")


@main.group()
@click.option("--bootstrap-server", "-b", default="127.0.0.1:9092", show_default=True)
@click.pass_context
def topics(ctx, bootstrap_server):
    """Manage topics on a running broker."""
    ctx.obj = bootstrap_server


@topics.command("create")
@click.argument("name")
@click.option("--partitions", type=int, default=-1, help="Default: the broker's num.partitions.")
@click.option("--replication-factor", type=int, default=-1)
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE")
@click.pass_obj
def topics_create(bootstrap, name, partitions, replication_factor, configs):
    from fluxmq.tools import admin
    admin.run(admin.create_topic, bootstrap, name, partitions, replication_factor, dict(c.split("=", 1) for c in configs))


@topics.command("list")
@click.pass_obj
def topics_list(bootstrap):
    from fluxmq.tools import admin
    admin.run(admin.list_topics, bootstrap)


@topics.command("describe")
@click.argument("name")
@click.pass_obj
def topics_describe(bootstrap, name):
    from fluxmq.tools import admin
    admin.run(admin.describe_topic, bootstrap, name)


@topics.command("delete")
@click.argument("name")
@click.pass_obj
def topics_delete(bootstrap, name):
    from fluxmq.tools import admin
    admin.run(admin.delete_topic, bootstrap, name)


@main.group()
@click.option("--bootstrap-server", "-b", default="127.0.0.1:9092", show_default=True)
@click.option("--command-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config) to log in with.")
@click.option("--data-dir", default=None, help="Change a stopped broker's data dir instead of a running broker.")
@click.pass_context
def users(ctx, bootstrap_server, command_config, data_dir):
    """Manage SCRAM users (what kafka-configs --entity-type users does)."""
    from fluxmq.tools.users import Target
    ctx.obj = Target(bootstrap_server, command_config, data_dir)


_MECHANISM = click.option("--mechanism", type=click.Choice(["SCRAM-SHA-256", "SCRAM-SHA-512"]),
                          default="SCRAM-SHA-256", show_default=True)


@users.command("add")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@_MECHANISM
@click.option("--iterations", type=int, default=4096, show_default=True)
@click.pass_obj
def users_add(target, name, password, mechanism, iterations):
    """Adds NAME's credential for MECHANISM, or replaces it."""
    from fluxmq.tools.users import report
    report(target.alter([], [(name, mechanism, password, iterations)]))


@users.command("delete")
@click.argument("name")
@_MECHANISM
@click.pass_obj
def users_delete(target, name, mechanism):
    """Deletes NAME's credential for MECHANISM."""
    from fluxmq.tools.users import report
    report(target.alter([(name, mechanism)], []))


@users.command("list")
@click.argument("names", nargs=-1)
@click.pass_obj
def users_list(target, names):
    """The users and their mechanisms (all users unless NAMES are given)."""
    from fluxmq.tools.users import report
    report(target.describe(list(names)))


if __name__ == "__main__":
    main()
