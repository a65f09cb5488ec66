"""Set before anything imports the service: Powertools reads these when Logger/Metrics are
created (at import), as Lambda's environment would have them."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "billing")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Billing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
