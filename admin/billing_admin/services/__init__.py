"""billing-admin's use cases beyond the service's own: catalog as code."""
