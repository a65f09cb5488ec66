"""billing-admin's adapters: Stripe's catalog (products, prices) and CloudFormation."""
