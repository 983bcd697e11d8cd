"""`visionflow distill` (being built)."""
