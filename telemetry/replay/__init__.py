"""``telemetry replay``: ship an existing file set to any OTLP endpoint.

The file set is this package's own data dir or a collector's ``file`` exporter
output (rotated and gzipped backups included). Each line goes out as one export
request over gRPC, HTTP/protobuf or HTTP/JSON; a checkpoint makes reruns send
only what was not yet acknowledged. The pieces: ``files`` (what to read),
``transport`` (how a line is sent), ``checkpoint`` (what was sent), ``runner``
(the loop with retries) and ``command`` (the CLI with progress and a summary).
"""

from telemetry.replay.command import add_parser

__all__ = ["add_parser"]
