"""What the class got wrong: where submissions first depart from the reference, and the likely causes.

Read from each results.json's test outputs, where a failed equivalence check holds the localisation
sentence (grader/diagnosis.py) "<Class> first departs from the reference at <module>: ... — <hints>";
the hints are recognised by their texts in grader/hidden/hints.toml. A student counts once per
(class, module, causes), however many checks repeat it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from assignment.localise import PHRASE
from grader.config import CLASS_ORDER

HINT_SEPARATOR = " — "
_SENTENCE = re.compile(rf"^(?P<cls>{'|'.join(CLASS_ORDER)}) {re.escape(PHRASE)} (?P<module>[^\s:]+): (?P<rest>.*)$",
                       re.MULTILINE)


@dataclass(frozen=True, order=True)
class Mistake:
    class_name: str
    module: str
    causes: tuple[str, ...]  # hint texts that fired, as the students read them (empty: none)


def _causes(module: str, rest: str) -> tuple[str, ...]:
    from grader.diagnosis import hints

    if HINT_SEPARATOR not in rest:
        return ()
    tail = rest.rsplit(HINT_SEPARATOR, 1)[1]
    texts = [hint["text"].format(module=module) for hint in hints().values()]
    found = tuple(text for text in texts if text in tail)
    return found or (tail.strip(),)


def mistakes_of(doc: dict) -> set[Mistake]:
    """Every distinct localisation (with its causes) in one results.json document."""
    found = set()
    for test in doc.get("tests", []):
        for match in _SENTENCE.finditer(test.get("output", "")):
            module = match["module"]
            found.add(Mistake(match["cls"], module, _causes(module, match["rest"])))
    return found


def tally(docs: list[dict]) -> list[tuple[Mistake, int]]:
    """(mistake, number of students), most frequent first, then in the lab's class order."""
    counts = Counter(m for doc in docs for m in mistakes_of(doc))
    order = {c: i for i, c in enumerate(CLASS_ORDER)}
    return sorted(counts.items(), key=lambda item: (-item[1], order[item[0].class_name], item[0]))


def section(docs: list[dict]) -> list[str]:
    """The report.md section: one table row per (class, module, causes)."""
    lines = ["## What the class got wrong", "",
             "Where submissions first depart from the reference (the localisation of a failed equivalence "
             "check) and the likely causes that fired, with how many students each, most frequent first.", ""]
    rows = tally(docs)
    if not rows:
        return lines + ["No submission departs from the reference in a localised check.", ""]
    lines += ["| class | first departs at | likely cause | students |", "|---|---|---|---|"]
    for mistake, count in rows:
        cause = "; ".join(mistake.causes) if mistake.causes else "(no specific cause found)"
        cause = cause.replace("|", "\\|")  # a table cell
        lines.append(f"| {mistake.class_name} | {mistake.module} | {cause} | {count} |")
    return lines + [""]
