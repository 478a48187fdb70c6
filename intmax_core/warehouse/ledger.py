"""The transaction ledger table (filled in by the transaction-sender work)."""
