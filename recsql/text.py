"""Text normalisation shared by the catalog cleaning (SQL) and the embedding cache key."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")  # Python's \s covers NBSP, U+3000 and the other spaces


def clean_text(text: str) -> str:
    """Unicode NFKC (full-width letters become ASCII), every run of whitespace one space,
    trimmed; case kept. For text people read (titles in tables)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def normalise_text(text: str) -> str:
    """clean_text, lower-cased: the form that is hashed and encoded. MiniLM is uncased, so two
    texts that differ only in case or width share one vector and one cache entry."""
    return clean_text(text).lower()
