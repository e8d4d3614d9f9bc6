"""A fixed-size, L2-normalised text vector built with the hashing trick (no model weights).

    serve run apps.embedding:app
    curl -d '{"text": "ray serve"}' localhost:8000/   # {"dim": 64, "vector": [...]}
"""
from __future__ import annotations

import hashlib
import math

from ray import serve

from apps import call_with_text, words

MAX_DIM = 4096


def _bucket(token: str, dim: int) -> tuple[int, float]:
    # hashlib rather than hash(): str hashes are salted per process, and every replica
    # (and every run) must map a word to the same bucket.
    digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
    # The top bit picks a sign so that colliding words tend to cancel instead of pile up.
    return digest % dim, -1.0 if digest >> 63 else 1.0


# Plain lists, not numpy: numpy is no dependency of ray[serve] or of this project, and
# at a few dozen dimensions it would buy nothing.
def embed(text: str, dim: int) -> list[float]:
    vector = [0.0] * dim
    for token in words(text):
        index, sign = _bucket(token, dim)
        vector[index] += sign
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def parse_dim(config: dict) -> int:
    dim = config.get("dim", 64)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"Embedder user_config dim must be an integer in 1..{MAX_DIM}, got {dim!r}")
    return dim


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, user_config={"dim": 64})
class Embedder:
    def __init__(self):
        self.dim = 64

    def reconfigure(self, config: dict):
        self.dim = parse_dim(config)

    def analyze(self, text: str) -> dict:
        return {"dim": self.dim, "vector": embed(text, self.dim)}

    async def __call__(self, request):
        return await call_with_text(request, self.analyze)


app = Embedder.bind()
