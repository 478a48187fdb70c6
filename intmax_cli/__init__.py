"""The `intmax` command: the one place that wires every layer together (core, assets, API, devnet)."""
