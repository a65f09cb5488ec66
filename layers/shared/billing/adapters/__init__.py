"""The only modules that import pynamodb, boto3 or stripe."""
