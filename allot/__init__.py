"""allot: fair, verifiable allocation of scarce goods to residents."""
