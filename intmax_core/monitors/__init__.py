"""Operational monitors that alert the operators: the validity prover's block sync and the wallets' ETH."""
