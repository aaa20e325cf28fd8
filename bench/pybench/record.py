"""Where measurements go: one row per (section, workload, target, round, metric), plus the
details of every failed measurement and the warnings the poolers logged."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

CSV_FIELDS = ["section", "workload", "target", "round", "metric", "value", "unit", "status",
              "detail"]


@dataclass
class Failure:
    section: str
    workload: str
    target: str
    round: int
    command: str
    problem: str
    log_excerpt: str


@dataclass
class Recorder:
    rows: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    pooler_warnings: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, workload: str, target: str, round_: int, metric: str,
            value: float | None, unit: str, ok: bool = True, detail: str = "") -> None:
        self.rows.append(dict(section=section, workload=workload, target=target,
                              round=round_, metric=metric,
                              value="" if value is None else f"{value:.6g}", unit=unit,
                              status="ok" if ok else "FAIL", detail=detail))

    def fail(self, section: str, workload: str, target: str, round_: int, metric: str,
             unit: str, command: str, problem: str, log_excerpt: str) -> None:
        self.add(section, workload, target, round_, metric, None, unit, ok=False,
                 detail=problem[:300])
        self.failures.append(Failure(section, workload, target, round_, command, problem,
                                     log_excerpt))

    def warn_lines(self, target: str, lines: list[str]) -> None:
        """Counts warning lines by message (the timestamp and thread prefix cut off)."""
        seen = self.pooler_warnings.setdefault(target, {})
        for line in lines:
            key = line.split("] ", 1)[-1] if "] " in line else line
            key = key[:200]
            seen[key] = seen.get(key, 0) + 1

    def write_csv(self, path: str) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
