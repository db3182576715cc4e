"""Server signing keys (ed25519), JSON signatures, event hashes and event IDs."""
