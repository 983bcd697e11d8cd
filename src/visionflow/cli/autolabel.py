"""`visionflow autolabel` (being built)."""
