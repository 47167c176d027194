"""A blog script with no telemetry code at all, for ``opentelemetry-instrument``.

It stores a post in PostgreSQL (``DATABASE_URL``) with psycopg and logs with
the standard library, as an uninstrumented application would.
"""

from __future__ import annotations

import logging
import os

import psycopg

log = logging.getLogger("zero_code_blog")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE TABLE posts (id int PRIMARY KEY, title text)")
        conn.execute("INSERT INTO posts (id, title) VALUES (%s, %s)", (1, "Zero-code telemetry"))
        row = conn.execute("SELECT count(*) FROM posts").fetchone()
    count = row[0] if row else 0
    log.warning("posts stored: %d", count)
    print(f"posts: {count}")


if __name__ == "__main__":
    main()
