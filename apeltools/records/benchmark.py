"""Benchmark (ServiceLevel) types, the v0.4 dict syntax, and normalisation factors."""

from __future__ import annotations

from collections.abc import Callable

from apeltools.quoting import quote

# Preferred first: a v0.4 dict with several benchmarks keeps only the best one.
BENCHMARK_TYPES = ("HEPscore23", "HEPSPEC", "si2k")
_CANONICAL = {name.lower(): name for name in BENCHMARK_TYPES}


def canonical_type(name: str) -> str:
    """The canonical spelling of a benchmark type name (case-insensitive), or ValueError."""
    try:
        return _CANONICAL[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown benchmark type {quote(name)} (expected one of {', '.join(BENCHMARK_TYPES)})"
        ) from None


def parse_dict(text: str, parse_value: Callable[[str], float]) -> tuple[dict[str, float], set[str]]:
    """Entries of a v0.4 benchmark dict ``{hepspec: 11.4, HEPscore23: 15.3}``.

    Returns ``{canonical type: value}`` for the known types and the set of
    unknown type names; a duplicate type (in any case) is an error.
    """
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not a benchmark dict {{type: value, ...}}: {quote(text)}")
    known: dict[str, float] = {}
    unknown: set[str] = set()
    seen: set[str] = set()
    body = text[1:-1].strip()
    for entry in body.split(",") if body else ():
        name, sep, value = entry.partition(":")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"not a 'type: value' entry: {quote(entry.strip())}")
        if name.lower() in seen:
            raise ValueError(f"duplicate benchmark type {quote(name)}")
        seen.add(name.lower())
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            unknown.add(name)
        else:
            known[canonical] = parse_value(value.strip())
    return known, unknown


def preferred(known: dict[str, float]) -> tuple[str, float]:
    """(type, value) of the most preferred benchmark in a parsed dict, or ValueError."""
    for name in BENCHMARK_TYPES:
        if name in known:
            return name, known[name]
    raise ValueError("No valid benchmark type found")


def write_dict(benchmark_type: str, value: float) -> str:
    """v0.4 dict text of one benchmark."""
    return "{%s: %s}" % (benchmark_type, value)


def factor(benchmark_type: str, value: float) -> float:
    """Normalisation factor: si2k counts 1/250 (HEPSPEC-equivalent), the others 1:1."""
    if benchmark_type.lower() == "si2k":
        return value / 250
    return value


def normalise(duration: float | None, benchmark_type: str, value: float) -> float:
    """Normalised duration of one job: negative durations count as zero."""
    if duration is None or duration <= 0:
        return 0
    return duration * factor(benchmark_type, value)
