"""Guess a text's language by counting its stopwords in each candidate language.

    serve run apps.language:app
    curl -d '{"text": "der Hund und die Katze"}' localhost:8000/   # {"language": "de", ...}
"""
from __future__ import annotations

from ray import serve

from apps import call_with_text, words

# The most frequent function words: short texts are mostly made of them, and they
# overlap little between languages, so counting them beats any model at this size.
STOPWORDS: dict[str, frozenset[str]] = {
    "de": frozenset(
        "der die das und ist nicht ich du er sie es wir ihr ein eine einen dem den des "
        "mit von zu auf für sind war auch sich noch nur wie aber oder hier".split()
    ),
    "en": frozenset(
        "the and is are was were not i you he she it we they a an of to in on for with "
        "that this have has but or at by from be".split()
    ),
    "es": frozenset(
        "el la los las y es son no yo tú él ella nosotros un una unos de del en con por "
        "para que pero o muy está están se lo".split()
    ),
    "fr": frozenset(
        "le la les et est sont ne pas je tu il elle nous vous ils un une des du de dans "
        "avec pour que qui mais ou sur au aux ce".split()
    ),
    "it": frozenset(
        "il lo la gli le e è sono non io tu lui lei noi voi un una uno di del della in "
        "con per che ma o anche questo".split()
    ),
    "nl": frozenset(
        "de het een en is zijn niet ik jij hij zij wij van in op met voor dat die maar "
        "of ook er naar bij".split()
    ),
}
DEFAULT_LANGUAGES = ["en", "de", "fr", "es"]


def guess_language(text: str, languages: list[str]) -> dict:
    tokens = words(text)
    scores = {lang: sum(token in STOPWORDS[lang] for token in tokens) for lang in languages}
    best = max(scores.values(), default=0)
    winners = [lang for lang in languages if scores[lang] == best]
    # A tie is no evidence for either side, so it is reported rather than broken.
    language = winners[0] if best > 0 and len(winners) == 1 else "unknown"
    return {
        "language": language,
        "confidence": round(best / len(tokens), 3) if language != "unknown" else 0.0,
        "scores": scores,
    }


def parse_languages(config: dict) -> list[str]:
    languages = config.get("languages", DEFAULT_LANGUAGES)
    if not isinstance(languages, list) or not languages:
        raise ValueError(f"LanguageGuesser user_config languages must be a non-empty list, got {languages!r}")
    unknown = [lang for lang in languages if lang not in STOPWORDS]
    if unknown:
        raise ValueError(
            f"LanguageGuesser user_config languages has unknown {unknown}; "
            f"use some of {sorted(STOPWORDS)}"
        )
    return list(languages)


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, user_config={"languages": DEFAULT_LANGUAGES})
class LanguageGuesser:
    def __init__(self):
        self.languages = list(DEFAULT_LANGUAGES)

    def reconfigure(self, config: dict):
        self.languages = parse_languages(config)

    def analyze(self, text: str) -> dict:
        return guess_language(text, self.languages)

    async def __call__(self, request):
        return await call_with_text(request, self.analyze)


app = LanguageGuesser.bind()
