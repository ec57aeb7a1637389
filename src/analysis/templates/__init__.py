"""Templates of the report stage (the offline ``dvc plots`` HTML template builder)."""
