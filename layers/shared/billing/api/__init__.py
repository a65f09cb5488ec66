"""HTTP edge: resolver factory, caller context, the one error → status mapping."""
