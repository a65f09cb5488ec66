"""DynamoDB access through PynamoDB models bound to the tables named in the settings."""
