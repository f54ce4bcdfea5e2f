"""The device CA: X.509 TLS client certificates for devices' own Ed25519 keys, the broker's
server certificate, the CRL, and the broker's ACL rendered from the registry
(docs/operations.md). ``certs`` and ``acl`` are pure; ``directory`` keeps the CA's files."""
