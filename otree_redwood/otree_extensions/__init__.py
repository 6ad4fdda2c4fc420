"""oTree's extension hooks (routing, urls, admin) and nothing else."""
