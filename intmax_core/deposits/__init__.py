"""Deposits: the `deposits` table's lifecycle rows, derived from the indexed L1/L2 event tables."""
