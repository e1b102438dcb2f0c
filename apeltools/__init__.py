"""apeltools: grid accounting programs, wire-compatible with the deployed APEL infrastructure."""

__version__ = "0.1.0"
