"""What each workflow stage asks the LLM and what its answer changes.

Pure content, no I/O: the topics posts are written about, the prompt of each
stage, and how a completion turns into the post's next state. The sync and
asyncio workflows in ``app.py`` share it, so both write the same posts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from examples.blog.database import PostUpdate

STAGES: tuple[str, ...] = ("research", "outline", "draft", "edit", "publish")

# The post's status once each stage has succeeded.
STATUS_AFTER: dict[str, str] = {
    "research": "researched",
    "outline": "outlined",
    "draft": "drafted",
    "edit": "edited",
    "publish": "published",
}

# Completion budgets: notes, an outline, a full draft, an edited draft, a headline.
MAX_TOKENS: dict[str, int] = {
    "research": 320,
    "outline": 160,
    "draft": 900,
    "edit": 850,
    "publish": 24,
}

# Fewer topics than a typical run has posts, so research notes get reused from the cache.
TOPICS: tuple[str, ...] = (
    "tracing a slow PostgreSQL query",
    "structured logging that scales",
    "budgeting LLM tokens",
    "cache hit ratios that matter",
    "retries without retry storms",
)

_ANGLES = ("A practical guide to", "Lessons from", "What we learned about", "Notes on")


@dataclass(frozen=True)
class PostPlan:
    """What a run decides about post ``index`` before it exists: the same seed, the same plan."""

    index: int
    topic: str
    title: str
    slow_lookup: bool
    """Whether its related-posts lookup meets a slow database (see ``--slow-query-rate``)."""


@dataclass
class Article:
    """A post as it moves through the stages (kept in memory between them)."""

    post_id: int
    plan: PostPlan
    title: str
    notes: str = ""
    outline: str = ""
    body: str = ""
    related: list[str] = field(default_factory=list)

    def prompt(self, stage_id: str) -> str:
        """The prompt for ``stage_id``, built from what earlier stages produced."""
        if stage_id == "research":
            return (
                f"Collect facts, figures and sources for a technical blog post on "
                f"{self.plan.topic}. Audience: backend engineers. Return terse notes."
            )
        if stage_id == "outline":
            related = "; ".join(self.related) or "none"
            return (
                f"Outline a post titled '{self.title}'. Related posts to link: {related}.\n"
                f"Research notes:\n{self.notes}"
            )
        if stage_id == "draft":
            return f"Write the post '{self.title}' following this outline:\n{self.outline}"
        if stage_id == "edit":
            return f"Edit for clarity and concision, keep the structure:\n{self.body}"
        if stage_id == "publish":
            return f"Write a headline of at most ten words for this post:\n{self.body[:2000]}"
        raise ValueError(f"unknown stage {stage_id!r}")

    def apply(self, stage_id: str, text: str) -> PostUpdate:
        """Take the stage's output into the article; return what to save on the post."""
        status = STATUS_AFTER[stage_id]
        if stage_id == "research":
            self.notes = text
        elif stage_id == "outline":
            self.outline = text
        elif stage_id in ("draft", "edit"):
            self.body = text
            return PostUpdate(status, body=text)
        elif stage_id == "publish":
            self.title = headline(text)
            return PostUpdate(status, title=self.title)
        return PostUpdate(status)


def plan_post(seed: int, index: int, slow_query_rate: float) -> PostPlan:
    """Draw post ``index``'s topic, working title and database luck from the run's seed."""
    rng = random.Random(f"{seed}:{index}")
    topic = rng.choice(TOPICS)
    return PostPlan(
        index=index,
        topic=topic,
        title=f"{rng.choice(_ANGLES)} {topic}",
        slow_lookup=rng.random() < slow_query_rate,
    )


def research_cache_key(topic: str) -> str:
    return f"research:{topic}"


def headline(text: str, max_words: int = 10) -> str:
    """The first ``max_words`` words of ``text``, as a title."""
    words = text.replace("\n", " ").split()[:max_words]
    return " ".join(words).rstrip(".,;:") or "Untitled"
