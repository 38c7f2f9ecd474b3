"""Mutation analysis of the grader: mutants of reference/models.py, each graded by the real grader.

Why stdlib ``ast`` + ``ast.unparse`` and not mutmut or cosmic-ray: the subject is one ~95-line file
and the operators that matter are lab-specific (torch idioms: activations, pools, ``view`` dims,
``bias=``, ``batch_first``, ``.detach()``, the residual). mutmut and cosmic-ray mutate whole projects,
drive a test runner themselves and ship generic operators (numbers, comparisons, strings) that know
nothing of torch; plugging the sandboxed grader in as their "test runner" would cost more than the
~300 lines of ``operators``. Modules: ``operators`` (what a mutant is), ``equivalence`` (the differential
check), ``grading`` (verdicts with the real grader, in parallel), ``report`` (mutants.json / mutants.md),
``campaign`` (``python -m grader mutants``: choose, grade, check survivors, report).
"""
