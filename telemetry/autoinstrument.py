"""Placeholder; replaced by the auto-instrumentation entry points."""
