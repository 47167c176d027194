"""blog-telemetry: OpenTelemetry for the blog's workflow."""
