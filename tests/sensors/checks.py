"""Response checks importable by dotted path, as a trigger needs them."""

from __future__ import annotations

from typing import Any


def job_done(response: Any) -> bool:
    return response.json()["status"] == "done"


async def job_done_async(response: Any) -> bool:
    return response.json()["status"] == "done"


NOT_CALLABLE = "job_done"
