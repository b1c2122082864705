"""The `apel` command: one module per area."""
