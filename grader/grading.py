"""One grading's state, handed to every check: the configuration, the subject, notes, what was told.

A check receives the :class:`Grading` it runs in (``def test_x(grading, case)``): from the pytest
fixture ``grading`` of grader/hidden/conftest.py (which takes the one grader/runner.py hands in, or
makes one from its options when the suite is run by hand), or as ``run_check``'s argument (the otter
bridge, in-process gradings). Nothing about a grading lives in module globals, so two gradings in
one process (a test suite, a notebook) never see each other's configuration or feedback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from grader.config import Config


@dataclass(eq=False)
class Grading:
    config: Config
    subject: object = None  # the submission as the checks see it (a grader.layout.LayoutSubject)
    notes: list[str] = field(default_factory=list)  # feedback of the check that runs, shown if it passes
    told: dict = field(default_factory=dict)  # class -> (check key, module, check name) its feedback located

    @classmethod
    def of(cls, subject, config: Config) -> Grading:
        """A grading of ``subject`` (seen through grader/layout.py: weights exchanged by name, or through a
        correspondence) under ``config``."""
        from grader.layout import layout_subject

        return cls(config, layout_subject(subject, config))

    def note(self, message: str) -> None:
        """Feedback shown with a *passed* check (e.g. the accuracy reached), instead of just "Passed."."""
        self.notes.append(message)

    def take_notes(self) -> str:
        text = "\n".join(self.notes)
        self.notes.clear()
        return text

    @cached_property
    def hypothesis(self):
        """The Hypothesis settings of this grading's checks: derandomized (the same examples on every run,
        so a regrade gives the same score), ``max_examples`` from the config, no deadline (a slow machine
        never flakes), no example database, one reported failure: the shrunk one."""
        from hypothesis import HealthCheck, Phase, Verbosity, settings

        return settings(derandomize=True, deadline=None, database=None, max_examples=self.config.max_examples,
                        suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
                        phases=(Phase.explicit, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
