"""FAQ content and matching. Pure domain code: never imports telegram."""
