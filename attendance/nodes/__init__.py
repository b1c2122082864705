"""Vision nodes: the leases that give each office feed of an open apel to exactly one node."""
