"""Code only the submitting machine runs: the embedded cluster, progress, collecting."""
