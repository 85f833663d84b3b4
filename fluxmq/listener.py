"""Listeners: where the broker accepts connections and what it tells clients
to connect to, parsed once from Kafka's keys.

    listeners                       NAME://host:port,...   (default PLAINTEXT://0.0.0.0:9092)
    advertised.listeners            NAME://host:port,...   per listener name; defaults to the
                                                           listener's own address
    listener.security.protocol.map  NAME:PROTOCOL,...      (default: each protocol maps to itself)

A listener name must be in the protocol map, names and bind addresses are
unique, and every advertised name is a listener, as Kafka's KafkaConfig
validates them. Every security protocol is served: PLAINTEXT, SSL (TLS:
security/tls.py, csrc/tls.c), SASL_PLAINTEXT and SASL_SSL (SASL:
security/sasl.py). The `serve` command's --host/--port set the first
listener's address. A wildcard bind
address (0.0.0.0, ::) is advertised as 127.0.0.1 unless advertised.listeners
says otherwise, and a bound port 0 is advertised as the port the system picked.

Metadata, DescribeCluster and FindCoordinator answer with the advertised
endpoint of the listener the request came in on, as Kafka does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SERVED_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Listener:
    name: str
    security_protocol: str
    host: str                # the bind address
    port: int                # the bind port (0 until bound: then the port the system picked)
    advertised_host: str
    advertised_port: int

    def bound(self, port: int) -> "Listener":
        """This listener once bound to `port` (an advertised port 0 follows it)."""
        return replace(self, port=port, advertised_port=self.advertised_port or port)

    def render(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"


def listener_value(config, listener: str, key: str, default=None):
    """Kafka's listener override: listener.name.<listener>.<key>, else <key>."""
    values = config.values
    prefixed = f"listener.name.{listener.lower()}.{key}"
    if prefixed in values and values[prefixed] is not None:
        return values[prefixed]
    return values.get(key, default)


def listener_entries(value: str, what: str) -> list[tuple[str, str, int]]:
    """(name, host, port) of each NAME://host:port of a listeners value."""
    out = []
    for entry in (e.strip() for e in str(value).split(",")):
        if not entry:
            continue
        name, sep, hostport = entry.partition("://")
        host, _, port = hostport.rpartition(":")
        if not sep or not name or not port.isdigit():
            raise ValueError(f"{what} entry {entry!r} is not of the form NAME://host:port")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # IPv6 literal
        out.append((name.upper(), host, int(port)))
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def protocol_map(value: str) -> dict[str, str]:
    out = {}
    for entry in (e.strip() for e in str(value).split(",") if e.strip()):
        name, sep, protocol = entry.partition(":")
        if not sep:
            raise ValueError(f"listener.security.protocol.map entry {entry!r} is not of the form NAME:PROTOCOL")
        out[name.strip().upper()] = protocol.strip().upper()
    return out


def parse_listeners(config, host: str | None = None, port: int | None = None) -> list[Listener]:
    """The broker's listeners; raises ValueError with what is wrong."""
    protocols = protocol_map(config["listener.security.protocol.map"])
    entries = listener_entries(config["listeners"], "listeners")
    if host is not None or port is not None:
        name, h, p = entries[0]
        entries[0] = (name, host if host is not None else h, port if port is not None else p)
    names = [name for name, _h, _p in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"listeners {config['listeners']!r}: each listener must have a different name")
    addresses = [(h, p) for _n, h, p in entries if p != 0]
    if len(set(addresses)) != len(addresses):
        raise ValueError(f"listeners {config['listeners']!r}: each listener must have a different address")
    advertised = {}
    if config.values.get("advertised.listeners"):
        for name, h, p in listener_entries(config["advertised.listeners"], "advertised.listeners"):
            if name not in names:
                raise ValueError(f"advertised.listeners names {name}, which is not in listeners")
            if h in WILDCARDS:
                raise ValueError(f"advertised.listeners cannot use the nonroutable meta-address {h or '(empty)'}")
            advertised[name] = (h, p)
    out = []
    for name, h, p in entries:
        protocol = protocols.get(name)
        if protocol is None:
            raise ValueError(f"listener {name} is not in listener.security.protocol.map")
        if protocol not in SERVED_PROTOCOLS:
            raise ValueError(f"listener {name}: unknown security protocol {protocol} "
                             f"(one of {', '.join(SERVED_PROTOCOLS)})")
        ah, ap = advertised.get(name, ("127.0.0.1" if h in WILDCARDS else h, p))
        out.append(Listener(name, protocol, h or "0.0.0.0", p, ah, ap))
    return out


def render(listeners: list[Listener]) -> str:
    """The `listeners` value the broker actually serves (DescribeConfigs shows it)."""
    return ",".join(lst.render() for lst in listeners)
