"""The transparency log: an RFC 9162 Merkle tree over records and events, and its signed heads."""
