"""The withdrawal aggregator: collector, processor, watcher (docs/protocol.md §3 for the statuses)."""
