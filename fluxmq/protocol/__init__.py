"""Sans-I/O Kafka protocol layer: request/response headers and body codecs.

Bodies are decoded and encoded with kio, generated from Kafka's own message
specs; this package adds the header rules real clients depend on and a
version-independent way for handlers to build responses.
"""
