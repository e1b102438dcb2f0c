"""What an import did: counts per table, the rows it refused, and the monthly comparison."""

from dataclasses import dataclass, field


@dataclass
class TableCount:
    """What happened to one source table's rows."""

    source_rows: int = 0
    read: int = 0
    imported: int = 0
    marked: int = 0  # imported as they were, though our checks refuse them
    held: int = 0
    target_rows: int | None = None


@dataclass
class ImportReport:
    """The outcome of an import: counts per table, refused rows, and the verification."""

    layout: str
    dry_run: bool
    tables: dict = field(default_factory=dict)
    issues: list = field(default_factory=list)  # (table, key text, field, reason, action)
    differences: list = field(default_factory=list)  # (site, year, month, what, source, ours)
    months_compared: int = 0
    files: object = None  # a site's logs: FileCount
    published: str | None = None  # a site's publishing state: what was done
    seconds: float = 0.0

    @property
    def rows(self):
        return sum(t.read for t in self.tables.values())

    def summary(self):
        rate = self.rows / max(self.seconds, 1e-9)
        counts = ", ".join(f"{name} {t.imported}" + (f" (+{t.held} held)" if t.held else "")
                           for name, t in self.tables.items())
        verb = "would import" if self.dry_run else "imported"
        return f"{verb} {self.layout}: {counts}; {len(self.issues)} refused rows in {self.seconds:.1f} s ({rate:,.0f} rows/s)"


FIGURES = ("NumberOfJobs", "WallDuration", "CpuDuration", "NormalisedWallDuration")


def compare_months(theirs: dict, ours: dict) -> list:
    """[(site, year, month, figure, source value, our value)] where monthly sums differ."""
    differences = []
    for month in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(month), ours.get(month)
        for i, figure in enumerate(FIGURES):
            x = a[i] if a else 0
            y = b[i] if b else 0
            if x is None or y is None:
                continue
            if x != y:
                differences.append((*month, figure, x, y))
    return differences
