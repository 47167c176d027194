"""Exporters: the only place that knows how bytes leave the process."""
