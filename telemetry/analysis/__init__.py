"""Reading telemetry file sets into flat tables, and the reports over them."""
