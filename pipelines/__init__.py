"""backbone: shared-measurement pipeline for collective impact initiatives."""
