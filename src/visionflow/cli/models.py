"""`visionflow models` (being built)."""
