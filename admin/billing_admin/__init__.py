"""billing-admin: the operator's command line (projects, apps, prices, catalog as code, metrics,
reconciliation, dead letters) against the local stack or a deployed one.

Installed with pip (``make setup``; an operator: ``pip install . ./admin``), never shipped in
the Lambda layer: no function reaches it. It builds on the service's package, ``billing``.
"""
