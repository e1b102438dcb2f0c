"""How counts are said to people: '1 month', '2 months', '1 summary'."""

# Plurals that are not the word with an s.
IRREGULAR = {"summary": "summaries"}


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, in the plural unless the count is one; thousands separated (1,071 jobs)."""
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {IRREGULAR.get(word, word + 's')}"
