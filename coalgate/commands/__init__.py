"""Command groups of the ``coalgate`` CLI, one module per noun (singular: key, record, sim…)."""
