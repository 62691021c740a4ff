"""Orders: the state machine, stock reservation, items and totals."""
