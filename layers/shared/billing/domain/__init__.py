"""Pure domain rules: no I/O, no AWS, no Stripe; time comes in as an argument."""
