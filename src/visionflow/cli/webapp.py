"""`visionflow webapp` (being built)."""
