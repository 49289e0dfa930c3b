"""Check results and the three ways to show them: a readable table, JSON, and JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolmesh.protocols.conformance.manifest import Requirement, requirement

__all__ = ["CheckResult", "Outcome", "Report"]


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"  # a MUST is violated
    WARN = "warn"  # a SHOULD is violated
    SKIP = "skip"  # not applicable to this target (with the reason)
    ERROR = "error"  # the check itself could not run to the end (timeout, transport failure)


_STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.WARN: "yellow",
    Outcome.SKIP: "dim",
    Outcome.ERROR: "bold magenta",
}


@dataclass(slots=True)
class CheckResult:
    """The outcome of one check of one requirement (``variant`` names the binding or transport)."""

    requirement_id: str
    outcome: Outcome
    observed: str
    variant: str = ""
    seconds: float = 0.0

    @property
    def requirement(self) -> Requirement:
        return requirement(self.requirement_id)

    def to_dict(self) -> dict[str, Any]:
        req = self.requirement
        return {
            "id": self.requirement_id,
            "variant": self.variant,
            "outcome": self.outcome.value,
            "level": req.level,
            "title": req.title,
            "observed": self.observed,
            "seconds": round(self.seconds, 3),
            "spec": [{"spec": ref.spec, "section": ref.section, "url": ref.url} for ref in req.refs],
        }


@dataclass(slots=True)
class Report:
    """Everything one run of the kit found about one target."""

    protocol: str
    target: str
    results: list[CheckResult] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(result.outcome for result in self.results)

    @property
    def passed(self) -> bool:
        """The verdict: no MUST violated and no check that could not run."""
        counts = self.counts
        return counts[Outcome.FAIL] == 0 and counts[Outcome.ERROR] == 0

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def summary(self) -> str:
        counts = self.counts
        parts = ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])
        return f"{self.verdict}: {self.protocol} {self.target} ({parts or 'no checks'})"

    def by_id(self, rid: str) -> list[CheckResult]:
        return [result for result in self.results if result.requirement_id == rid]

    # --- renderers ---

    def to_json(self) -> str:
        return json.dumps(
            {
                "protocol": self.protocol,
                "target": self.target,
                "verdict": self.verdict,
                "counts": {o.value: self.counts[o] for o in Outcome},
                "details": self.details,
                "results": [result.to_dict() for result in self.results],
            },
            indent=2,
        )

    def to_junit(self) -> str:
        counts = self.counts
        suite = ET.Element(
            "testsuite",
            name=f"toolmesh-conformance-{self.protocol}",
            tests=str(len(self.results)),
            failures=str(counts[Outcome.FAIL]),
            errors=str(counts[Outcome.ERROR]),
            skipped=str(counts[Outcome.SKIP]),
            time=f"{sum(r.seconds for r in self.results):.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="target", value=self.target)
        for key, value in self.details.items():
            ET.SubElement(props, "property", name=key, value=value)
        for result in self.results:
            name = result.requirement_id + (f" [{result.variant}]" if result.variant else "")
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{self.protocol}.{result.requirement.level}",
                name=name,
                time=f"{result.seconds:.3f}",
            )
            text = f"{result.observed}\nspec: {result.requirement.link}"
            if result.outcome is Outcome.FAIL:
                ET.SubElement(case, "failure", message=result.observed[:500]).text = text
            elif result.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message=result.observed[:500]).text = text
            elif result.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=result.observed[:500])
            else:
                ET.SubElement(case, "system-out").text = f"{result.outcome.value}: {text}"
        suites = ET.Element("testsuites")
        suites.append(suite)
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True)

    def print_table(self, console: Console) -> None:
        table = Table(title=f"toolmesh check {self.protocol}: {self.target}", show_lines=False, expand=False)
        table.add_column("requirement", no_wrap=True)
        table.add_column("variant", no_wrap=True)
        table.add_column("result", no_wrap=True)
        table.add_column("observed / spec", overflow="fold")
        for result in self.results:
            style = _STYLE[result.outcome]
            table.add_row(
                f"{result.requirement_id}\n[dim]{result.requirement.level}[/]",
                result.variant,
                f"[{style}]{result.outcome.value}[/]",
                f"{escape(result.observed)}\n[dim]{result.requirement.link}[/]",
            )
        console.print(table)
        for key, value in self.details.items():
            console.print(f"[dim]{key}:[/] {value}")
        style = "bold green" if self.passed else "bold red"
        console.print(f"[{style}]{self.summary()}[/]")
