"""tx-map: short-lived entries shared between clients (store and cleaner)."""
