"""``billing-admin``: set up projects, apps (API keys) and prices from the command line."""
