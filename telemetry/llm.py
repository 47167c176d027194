"""LLM calls as GenAI client spans and metrics.

``with llm_call(action="draft", model="gpt-4o", prompt=text) as call:`` opens a
CLIENT span ``chat gpt-4o`` with the GenAI semantic-convention attributes plus
``blog.llm.action`` and ``blog.llm.prompt_chars``; ``call.record(...)`` adds the
token usage, response model and finish reason. Metrics:
``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``, and
``blog.llm.requests`` by outcome. Prompt and completion text are recorded only
when capture is on (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` or
``capture_content=True``), scrubbed and cut to ``max_content_chars``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from telemetry import _diagnostics, pipeline
from telemetry._scope import Scope, argument, decorate
from telemetry.scrub import scrub_text, truncate
from telemetry.stages import record_failure

F = TypeVar("F", bound=Callable[..., Any])

# The semantic conventions' advisory buckets for token counts.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


class _Instruments:
    def __init__(self) -> None:
        meter = pipeline.meter()
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.requests = meter.create_counter(
            "blog.llm.requests", unit="{request}", description="LLM requests by outcome."
        )


_instruments = pipeline.PerSetup(_Instruments)


def _capture_settings() -> tuple[bool, int]:
    handle = pipeline.active()
    if handle is None:
        return False, 4096
    return handle.settings.capture_message_content, handle.settings.max_content_chars


class llm_call(Scope):
    """One LLM request: context manager (sync and async) and decorator.

    ``provider`` is ``gen_ai.provider.name`` (e.g. ``openai``, ``local``);
    ``operation`` is ``gen_ai.operation.name`` (``chat`` by default).
    """

    def __init__(
        self,
        action: str,
        model: str,
        prompt: str | None = None,
        *,
        provider: str = "openai",
        operation: str = "chat",
        capture_content: bool | None = None,
        **request_attributes: Any,
    ) -> None:
        self.action = action
        self.model = model
        self.prompt = prompt
        self.provider = provider
        self.operation = operation
        self._capture = capture_content
        self._request_attributes = request_attributes
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.response_model: str | None = None
        self.finish_reason: str | None = None
        self._span: Span | None = None
        self._scope: Any = None
        self._started = 0.0

    # -- recording ---------------------------------------------------------

    def record(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        response_model: str | None = None,
        finish_reason: str | None = None,
        completion: str | None = None,
        response_id: str | None = None,
    ) -> None:
        """Record what the provider answered; call once the response is in."""
        try:
            self._record(
                input_tokens, output_tokens, response_model, finish_reason, completion, response_id
            )
        except Exception as exc:
            _diagnostics.warn("llm-record", f"could not record an LLM response: {exc!r}")

    def _record(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        response_model: str | None,
        finish_reason: str | None,
        completion: str | None,
        response_id: str | None,
    ) -> None:
        span = self._span
        if input_tokens is not None:
            self.input_tokens = int(input_tokens)
        if output_tokens is not None:
            self.output_tokens = int(output_tokens)
        if response_model is not None:
            self.response_model = response_model
        if finish_reason is not None:
            self.finish_reason = finish_reason
        if span is None:
            return
        attributes: dict[str, Any] = {}
        if self.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = self.input_tokens
        if self.output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = self.output_tokens
        if self.response_model:
            attributes["gen_ai.response.model"] = self.response_model
        if self.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [self.finish_reason]
        if response_id:
            attributes["gen_ai.response.id"] = response_id
        if completion is not None and self._capturing():
            attributes["gen_ai.output.messages"] = self._messages("assistant", completion)
            attributes["blog.llm.completion_chars"] = len(completion)
        span.set_attributes(attributes)

    def _capturing(self) -> bool:
        return self._capture if self._capture is not None else _capture_settings()[0]

    def _messages(self, role: str, text: str) -> str:
        limit = _capture_settings()[1]
        content = truncate(scrub_text(text), limit)
        return json.dumps([{"role": role, "parts": [{"type": "text", "content": content}]}])

    # -- context manager ---------------------------------------------------

    def _start_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
            "blog.llm.action": self.action,
        }
        if self.prompt is not None:
            attributes["blog.llm.prompt_chars"] = len(self.prompt)
            if self._capturing():
                attributes["gen_ai.input.messages"] = self._messages("user", self.prompt)
        for key, value in self._request_attributes.items():
            name = key if "." in key else f"gen_ai.request.{key}"
            attributes[name] = value
        return attributes

    def __enter__(self) -> llm_call:
        try:
            self._span = pipeline.tracer().start_span(
                f"{self.operation} {self.model}",
                kind=SpanKind.CLIENT,
                attributes=self._start_attributes(),
            )
            self._scope = trace.use_span(self._span, end_on_exit=False)
            self._scope.__enter__()
        except Exception as exc:
            _diagnostics.warn("llm-enter", f"could not start an LLM span: {exc!r}")
        self._started = time.perf_counter()
        return self

    def _close(self) -> None:
        if self._scope is not None:
            self._scope.__exit__(None, None, None)
        if self._span is not None:
            self._span.end()

    def _finish(self, exc: BaseException | None) -> None:
        duration = time.perf_counter() - self._started
        instruments = _instruments.get()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
            "blog.llm.action": self.action,
        }
        if self.response_model:
            attributes["gen_ai.response.model"] = self.response_model
        if exc is not None:
            error_type = type(exc).__qualname__
            if self._span is not None:
                error_type = record_failure(self._span, exc)
            attributes["error.type"] = error_type
        instruments.duration.record(duration, attributes)
        instruments.requests.add(
            1,
            {
                "blog.llm.action": self.action,
                "gen_ai.request.model": self.model,
                "outcome": "ok" if exc is None else "error",
            },
        )
        for token_type, count in (("input", self.input_tokens), ("output", self.output_tokens)):
            if count is not None:
                instruments.tokens.record(count, {**attributes, "gen_ai.token.type": token_type})

    # -- decorator ---------------------------------------------------------

    def __call__(self, func: F) -> F:
        """Use as a decorator: each call of ``func`` is one LLM request.

        When ``func`` returns a mapping with ``input_tokens`` / ``output_tokens`` /
        ``finish_reason`` / ``response_model`` keys (or an object with such
        attributes), they are recorded.
        """
        settings = dict(
            action=self.action,
            model=self.model,
            provider=self.provider,
            operation=self.operation,
            capture_content=self._capture,
            **self._request_attributes,
        )
        prompt_of = argument(func, "prompt")

        def fresh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> llm_call:
            prompt = self.prompt if self.prompt is not None else prompt_of(args, kwargs)
            return llm_call(prompt=prompt, **settings)

        return decorate(
            func, fresh, on_result=lambda call, result: call.record(**_usage_from(result))
        )


_USAGE_KEYS: Sequence[str] = ("input_tokens", "output_tokens", "response_model", "finish_reason")


def _usage_from(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return {k: result[k] for k in _USAGE_KEYS if result.get(k) is not None}
    return {k: getattr(result, k) for k in _USAGE_KEYS if getattr(result, k, None) is not None}
