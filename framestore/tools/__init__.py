"""One-store checks and rewrites: recover, verify, convert, qc, info."""
