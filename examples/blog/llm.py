"""The blog's LLM clients: a deterministic local generator, or any OpenAI-compatible API.

Both implement :class:`LLMClient`, whose ``complete()`` / ``acomplete()`` wrap
every request in ``telemetry.llm_call(...)`` and record the token usage, so the
workflow code never touches telemetry for LLM calls. Provider failures surface
as :class:`LLMError` subclasses, which the workflow retries.

- :class:`LocalGenerator` (the default) needs no network: its text, token
  counts, latency and failures are derived from a seed and the request, so a run
  is reproducible whatever order the threads or tasks happen to run in.
- :class:`OpenAICompatibleClient` speaks ``POST {base_url}/chat/completions``
  with the standard library's ``urllib`` (no extra dependency); it is chosen when
  ``BLOG_LLM_BASE_URL`` is set (``BLOG_LLM_API_KEY``, ``BLOG_LLM_MODEL``).
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import telemetry


class LLMError(Exception):
    """The provider did not produce a completion; worth retrying."""


class LLMRateLimitError(LLMError):
    """The provider refused the request for now (HTTP 429 or its local imitation)."""


class LLMTimeoutError(LLMError):
    """The provider did not answer in time."""


class LLMServerError(LLMError):
    """The provider failed (HTTP 5xx) or answered something unreadable."""


@dataclass(frozen=True)
class Completion:
    """What a provider answered, with the usage figures telemetry records."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str = "stop"
    response_id: str | None = None


class LLMClient(abc.ABC):
    """An LLM provider; subclasses implement the request, this class instruments it."""

    provider: str
    model: str

    def complete(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        """Ask for a completion of ``prompt`` for workflow step ``action``.

        ``key`` names the request within the workflow (post, stage, attempt); the
        local generator derives its randomness from it, real providers ignore it.
        """
        with telemetry.llm_call(
            action, self.model, prompt=prompt, provider=self.provider, max_tokens=max_tokens
        ) as call:
            completion = self._request(action, prompt, key=key, max_tokens=max_tokens)
            _record(call, completion)
        return completion

    async def acomplete(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        """``complete()`` for asyncio code."""
        async with telemetry.llm_call(
            action, self.model, prompt=prompt, provider=self.provider, max_tokens=max_tokens
        ) as call:
            completion = await self._arequest(action, prompt, key=key, max_tokens=max_tokens)
            _record(call, completion)
        return completion

    @abc.abstractmethod
    def _request(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        """Perform one request, blocking; raise an :class:`LLMError` on failure."""

    @abc.abstractmethod
    async def _arequest(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        """Perform one request without blocking the event loop."""

    def probe(self) -> Mapping[str, Any]:
        """Details for the health report; raises when the provider cannot be reached."""
        return {"provider": self.provider, "model": self.model}


def _record(call: telemetry.llm_call, completion: Completion) -> None:
    call.record(
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        response_model=completion.model,
        finish_reason=completion.finish_reason,
        completion=completion.text,
        response_id=completion.response_id,
    )


# --- the local generator ---------------------------------------------------------------

_WORDS: tuple[str, ...] = tuple(
    " ".join(
        (
            "observability pipeline latency trace span metric cache database query index",
            "schema workflow stage draft outline research editor reader article publish",
            "context baggage exporter collector sampling histogram bucket throughput",
            "retry timeout backoff budget error incident dashboard alert signal",
            "postgres connection pool transaction lock vacuum replica partition token",
            "model prompt completion review headline summary audience example insight",
        )
    ).split()
)


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` the way English BPE tokenisers average out: ~4 characters each."""
    return max(1, round(len(text) / 4))


class LocalGenerator(LLMClient):
    """A seeded stand-in for a hosted model: plausible text, usage, latency and failures.

    Every figure but the input token count comes from a random generator seeded
    by ``seed`` and the request ``key``: the same run produces the same
    completions and the same failures, whatever order its threads run in.
    Latency is 20 ms plus up to 100 ms scaled by the output length; with
    probability ``failure_rate`` a request fails instead, as a rate limit (quickly)
    or a timeout (after the full latency).
    """

    provider = "local"

    def __init__(
        self, *, seed: int, failure_rate: float = 0.0, model: str = "local-writer-1"
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be between 0 and 1, got {failure_rate!r}")
        self.seed = seed
        self.failure_rate = failure_rate
        self.model = model

    def _plan(
        self, prompt: str, key: str, max_tokens: int
    ) -> tuple[float, LLMError | None, Completion]:
        """Decide latency, failure and completion for one request, without side effects."""
        # keyed by the request's place in the workflow, not by its prompt (which holds
        # earlier output that may come from the cache): the same run fails the same way
        digest = hashlib.sha256(f"{self.seed}\x00{key}".encode()).digest()
        rng = random.Random(digest)
        output_tokens = rng.randint(max(1, max_tokens // 2), max_tokens)
        latency = 0.020 + 0.100 * min(1.0, output_tokens / 1000) + rng.uniform(0.0, 0.010)
        error: LLMError | None = None
        if rng.random() < self.failure_rate:
            if rng.random() < 0.5:
                error = LLMRateLimitError(f"{self.model}: rate limit reached, retry later")
                latency = 0.005
            else:
                error = LLMTimeoutError(f"{self.model}: no answer within {latency:.3f}s")
        # ~0.75 words per token, as English text averages out
        words = [rng.choice(_WORDS) for _ in range(max(1, round(output_tokens * 0.75)))]
        sentences = [
            " ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)
        ]
        completion = Completion(
            text=" ".join(sentences),
            input_tokens=estimate_tokens(prompt),
            output_tokens=output_tokens,
            model=self.model,
            finish_reason="length" if output_tokens == max_tokens else "stop",
            response_id=f"local-{digest.hex()[:16]}",
        )
        return latency, error, completion

    def _request(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        latency, error, completion = self._plan(prompt, key, max_tokens)
        time.sleep(latency)
        if error is not None:
            raise error
        return completion

    async def _arequest(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        latency, error, completion = self._plan(prompt, key, max_tokens)
        await asyncio.sleep(latency)
        if error is not None:
            raise error
        return completion


# --- an OpenAI-compatible endpoint --------------------------------------------------------


class OpenAICompatibleClient(LLMClient):
    """Chat completions from any server speaking the OpenAI API (vLLM, Ollama, OpenAI...)."""

    provider = "openai"

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"BLOG_LLM_BASE_URL must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def _request(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
        }
        answer = self._post("/chat/completions", body)
        try:
            choice = answer["choices"][0]
            usage = answer.get("usage") or {}
            text = str(choice["message"]["content"] or "")
            return Completion(
                text=text,
                input_tokens=int(usage.get("prompt_tokens", estimate_tokens(prompt))),
                output_tokens=int(usage.get("completion_tokens", estimate_tokens(text))),
                model=str(answer.get("model") or self.model),
                finish_reason=str(choice.get("finish_reason") or "stop"),
                response_id=answer.get("id"),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMServerError(f"unexpected chat completion shape: {exc!r}") from exc

    async def _arequest(self, action: str, prompt: str, *, key: str, max_tokens: int) -> Completion:
        # urllib blocks: run it on a worker thread (which carries the context along)
        return await asyncio.to_thread(
            self._request, action, prompt, key=key, max_tokens=max_tokens
        )

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base_url + path, data=json.dumps(body).encode(), headers=self._headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise LLMRateLimitError(f"HTTP 429 from {self.base_url}") from exc
            if exc.code in (408, 504):
                raise LLMTimeoutError(f"HTTP {exc.code} from {self.base_url}") from exc
            raise LLMServerError(f"HTTP {exc.code} from {self.base_url}") from exc
        except TimeoutError as exc:
            raise LLMTimeoutError(f"no answer from {self.base_url} in {self.timeout_s}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise LLMTimeoutError(f"no answer from {self.base_url}: {exc.reason}") from exc
            raise LLMServerError(f"request to {self.base_url} failed: {exc.reason}") from exc
        except (OSError, ValueError) as exc:
            raise LLMServerError(f"request to {self.base_url} failed: {exc}") from exc
        if not isinstance(answer, dict):
            raise LLMServerError(f"{self.base_url} answered a JSON {type(answer).__name__}")
        return answer

    def models_url(self) -> str:
        """Where the health check lists models."""
        return f"{self.base_url}/models"

    def auth_headers(self) -> dict[str, str]:
        """Headers the health check must send (never reported)."""
        return {k: v for k, v in self._headers.items() if k == "Authorization"}


def client_from_env(environ: Mapping[str, str], *, seed: int, failure_rate: float) -> LLMClient:
    """The OpenAI-compatible client when ``BLOG_LLM_BASE_URL`` is set, else the local one."""
    base_url = environ.get("BLOG_LLM_BASE_URL", "").strip()
    if not base_url:
        return LocalGenerator(seed=seed, failure_rate=failure_rate)
    return OpenAICompatibleClient(
        base_url,
        environ.get("BLOG_LLM_MODEL", "").strip() or "gpt-4o-mini",
        api_key=environ.get("BLOG_LLM_API_KEY") or None,
    )
