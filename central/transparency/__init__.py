"""Central's transparency log: the stored tree, proofs, signed tree heads (docs/transparency.md)."""
