"""`visionflow segment` (being built)."""
