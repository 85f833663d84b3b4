"""Security: SASL authentication of connections (sasl.py, with Kafka's JAAS syntax
in jaas.py and SCRAM credentials in scram.py). TLS and ACLs are not built yet
(issue 10); docs/security.md shows how to set up what is."""
