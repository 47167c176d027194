"""Sending one OTLP export request per file line, over gRPC or HTTP.

A file line is OTLP/JSON with trace and span ids in lowercase hex, as the OTLP
spec and the collector's ``file`` exporter write them. The protobuf JSON mapping
that ``google.protobuf.json_format`` implements expects ``bytes`` fields in
base64 instead, so the ids are converted before parsing. ``http/json`` posts the
line unchanged. Every failure is classified so the caller knows whether to
retry (endpoint down or busy), skip the request (the endpoint refused it), or
stop (the endpoint will refuse everything).
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from telemetry.replay.files import Signal

WireProtocol = Literal["grpc", "http/protobuf", "http/json"]
PROTOCOLS: tuple[WireProtocol, ...] = ("grpc", "http/protobuf", "http/json")

_REQUEST_TYPES: dict[Signal, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
}
_RESPONSE_TYPES: dict[Signal, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_STUBS: dict[Signal, Any] = {
    "traces": trace_service_pb2_grpc.TraceServiceStub,
    "logs": logs_service_pb2_grpc.LogsServiceStub,
    "metrics": metrics_service_pb2_grpc.MetricsServiceStub,
}
_REJECTED_FIELD: dict[Signal, str] = {
    "traces": "rejected_spans",
    "logs": "rejected_log_records",
    "metrics": "rejected_data_points",
}
_REJECTED_JSON_KEY: dict[Signal, str] = {
    "traces": "rejectedSpans",
    "logs": "rejectedLogRecords",
    "metrics": "rejectedDataPoints",
}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})

# OTLP spec: these mean "try again later"; anything else will fail the same way again
_RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_FATAL_GRPC = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
_FATAL_HTTP = frozenset({401, 403})
_NOT_ACCEPTED_GRPC = frozenset({grpc.StatusCode.UNIMPLEMENTED})
_NOT_ACCEPTED_HTTP = frozenset({404, 405, 501})


class DeliveryError(Exception):
    """A request was not delivered."""


class TransientError(DeliveryError):
    """The endpoint is down or busy: the same request may succeed later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RejectedError(DeliveryError):
    """The endpoint refused this request; sending it again would fail the same way."""


class FatalError(DeliveryError):
    """The endpoint will refuse every request (of this signal, if ``signal_only``)."""

    def __init__(self, message: str, *, signal_only: bool = False) -> None:
        super().__init__(message)
        self.signal_only = signal_only


@dataclass(frozen=True)
class ExportRequest:
    """One file line: as written (for http/json) and parsed (for the protobuf protocols)."""

    signal: Signal
    line: bytes
    message: Message


class Sender(Protocol):
    """Delivers one export request; returns how many of its items the endpoint rejected."""

    def send(self, request: ExportRequest) -> int: ...

    def close(self) -> None: ...


def to_message(signal: Signal, document: dict[str, Any]) -> Message:
    """Parse an OTLP/JSON export request into its protobuf message.

    Raises ``ValueError`` when the document is not a valid request of that signal.
    """
    message = _REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(_ids_to_base64(document), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise ValueError(f"not a valid {signal} export request: {exc}") from exc
    return message


def _ids_to_base64(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _hex_to_base64(item)
            if key in _ID_KEYS and isinstance(item, str)
            else _ids_to_base64(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_ids_to_base64(item) for item in value]
    return value


def _hex_to_base64(text: str) -> str:
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"id {text!r} is not hex") from exc
    return base64.b64encode(raw).decode("ascii")


def open_sender(
    protocol: WireProtocol,
    endpoint: str,
    *,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
) -> Sender:
    """A sender for ``endpoint`` (a URL such as ``http://localhost:4317``)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint {endpoint!r} is not an http(s) URL such as http://localhost:4317"
        )
    if protocol == "grpc":
        return GrpcSender(endpoint, timeout_s=timeout_s, headers=headers or {})
    if protocol in ("http/protobuf", "http/json"):
        return HttpSender(endpoint, protocol, timeout_s=timeout_s, headers=headers or {})
    raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")


class GrpcSender:
    """OTLP over gRPC: each line parsed into its protobuf request."""

    def __init__(self, endpoint: str, *, timeout_s: float, headers: Mapping[str, str]) -> None:
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 4317)
        target = f"{parts.hostname}:{port}"
        # gRPC's own reconnect back-off grows to minutes; keep it short so a
        # request retried after the endpoint came back finds the channel ready
        options = [
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if parts.scheme == "https":
            credentials = grpc.ssl_channel_credentials()
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stubs = {signal: stub(self._channel) for signal, stub in _STUBS.items()}
        self._timeout_s = timeout_s
        self._metadata = tuple((key.lower(), value) for key, value in headers.items())

    def send(self, request: ExportRequest) -> int:
        signal = request.signal
        try:
            response = self._stubs[signal].Export(
                request.message, timeout=self._timeout_s, metadata=self._metadata or None
            )
        except grpc.RpcError as exc:
            raise _grpc_error(signal, exc) from None
        return int(getattr(response.partial_success, _REJECTED_FIELD[signal]))

    def close(self) -> None:
        self._channel.close()


def _grpc_error(signal: Signal, exc: grpc.RpcError) -> DeliveryError:
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    message = f"gRPC {code.name}: {details}"
    if code in _RETRYABLE_GRPC:
        return TransientError(message)
    if code in _FATAL_GRPC:
        return FatalError(message)
    if code in _NOT_ACCEPTED_GRPC:
        return FatalError(f"the endpoint does not accept {signal} ({message})", signal_only=True)
    return RejectedError(message)


class HttpSender:
    """OTLP over HTTP: protobuf bodies, or the JSON line itself, to ``/v1/<signal>``."""

    def __init__(
        self,
        endpoint: str,
        protocol: WireProtocol,
        *,
        timeout_s: float,
        headers: Mapping[str, str],
    ) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 4318)
        self._base_path = parts.path.rstrip("/")
        self._json = protocol == "http/json"
        content_type = "application/json" if self._json else "application/x-protobuf"
        self._headers = {**headers, "Content-Type": content_type}
        self._timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def send(self, request: ExportRequest) -> int:
        signal = request.signal
        message = request.message
        body = request.line.rstrip(b"\r\n") if self._json else message.SerializeToString()
        path = f"{self._base_path}/v1/{signal}"
        try:
            connection = self._connect()
            connection.request("POST", path, body=body, headers=self._headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()  # a fresh connection next time
            raise TransientError(f"cannot reach {self._host}:{self._port}: {exc}") from None
        status = response.status
        if 200 <= status < 300:
            return self._rejected(signal, payload)
        message = f"HTTP {status} from POST {path}: {payload[:200].decode(errors='replace')}"
        if status in _RETRYABLE_HTTP:
            retry_after = _retry_after(response.getheader("Retry-After"))
            raise TransientError(message, retry_after_s=retry_after)
        if status in _FATAL_HTTP:
            raise FatalError(message)
        if status in _NOT_ACCEPTED_HTTP:
            raise FatalError(f"the endpoint does not accept {signal} ({message})", signal_only=True)
        raise RejectedError(message)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout_s)
        return self._connection

    def _rejected(self, signal: Signal, payload: bytes) -> int:
        if not payload:
            return 0
        try:
            if self._json:
                partial = json.loads(payload).get("partialSuccess") or {}
                return int(partial.get(_REJECTED_JSON_KEY[signal], 0))
            response = _RESPONSE_TYPES[signal].FromString(payload)
            return int(getattr(response.partial_success, _REJECTED_FIELD[signal]))
        except (ValueError, AttributeError, DecodeError):
            return 0  # a 2xx with a body we cannot read still means accepted


def _retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP date; the exponential back-off applies instead
