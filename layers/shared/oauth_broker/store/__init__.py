"""Data access: the single DynamoDB table (see docs/architecture.md for the key design)."""
