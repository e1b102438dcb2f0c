"""Record types and their wire codecs (APEL text, CAR/StAR XML, accelerator JSON)."""
