"""Lambda entry points: thin layers over labkit.backup (importable with boto3 + powertools only)."""
