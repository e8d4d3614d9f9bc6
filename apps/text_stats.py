"""Word, character and sentence counts plus the most frequent words of a text.

    serve run apps.text_stats:app
    curl -d '{"text": "the cat sat on the mat"}' localhost:8000/   # {"words": 6, ..., "top_words": [...]}
"""
from __future__ import annotations

import re
from collections import Counter

from ray import serve

from apps import call_with_text, words

# Runs of terminal punctuation end a sentence; pieces without a word in them
# (the empty tail after a final ".", or "...") are not sentences.
_SENTENCE_END = re.compile(r"[.!?]+")
_HAS_WORD = re.compile(r"\w")


def text_stats(text: str, top_k: int) -> dict:
    tokens = words(text)
    counts = Counter(tokens)
    # Ties sort alphabetically so the answer does not depend on word order.
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    return {
        "chars": len(text),
        "words": len(tokens),
        "unique_words": len(counts),
        "sentences": sum(1 for part in _SENTENCE_END.split(text) if _HAS_WORD.search(part)),
        "top_words": [{"word": word, "count": count} for word, count in top],
    }


def parse_top_k(config: dict) -> int:
    top_k = config.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"TextStats user_config top_k must be a positive integer, got {top_k!r}")
    return top_k


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, user_config={"top_k": 5})
class TextStats:
    def __init__(self):
        self.top_k = 5

    def reconfigure(self, config: dict):
        self.top_k = parse_top_k(config)

    def analyze(self, text: str) -> dict:
        return text_stats(text, self.top_k)

    async def __call__(self, request):
        return await call_with_text(request, self.analyze)


app = TextStats.bind()
