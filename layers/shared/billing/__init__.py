"""The billing & entitlements service's shared package (shipped as the Lambda layer)."""
