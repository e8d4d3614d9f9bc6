"""Ray Serve applications shaped like an Aana app: small CPU deployments plus a gateway.

    serve run apps.text_stats:app                  # one app on its own, POST {"text": ...} to /
    curl -d '{"text": "the cat sat"}' localhost:8000/
"""
from __future__ import annotations

import re
from typing import Any, Callable

from starlette.responses import JSONResponse


_WORD = re.compile(r"\w+(?:'\w+)*")


def words(text: str) -> list[str]:
    """Lower-cased words, keeping contractions ("don't") and letters of every script."""
    return _WORD.findall(text.lower())


class BadRequest(ValueError):
    """Input a client can fix; answered with HTTP 400 instead of a 500 and a traceback."""


async def call_with_text(request, fn: Callable[[str], Any]):
    """Answer an HTTP request by calling fn with the "text" of its JSON body."""
    try:
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest('body must be JSON like {"text": "..."}') from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise BadRequest('body must be a JSON object with a string "text" field')
        return fn(text)
    except BadRequest as err:
        return JSONResponse({"error": str(err)}, status_code=400)
