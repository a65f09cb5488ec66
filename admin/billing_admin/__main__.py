"""``python -m billing.cli`` is ``billing-admin``."""

from billing.cli.main import main

main()
