"""The retail notification listener: receives the wholesaler's signed events, verifies,
de-duplicates and stores them, keeps a mirror of each ticket and test, and heals gaps and
outages by reading the API (docs/retail-listener.md)."""
