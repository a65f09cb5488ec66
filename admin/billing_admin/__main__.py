"""``python -m billing_admin`` is ``billing-admin``."""

from billing_admin.cli.main import main

main()
