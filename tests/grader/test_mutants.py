"""The mutation operators (grader/mutants/operators.py): every operator mutates the reference, ids are stable."""

import ast

from grader.mutants.operators import MODULE, OPERATORS, generate


def test_every_operator_mutates_the_reference_into_valid_different_code():
    mutants = generate()
    reference = ast.unparse(ast.parse(open("reference/models.py").read()))
    assert {m.operator for m in mutants} == set(OPERATORS)
    for m in mutants:
        ast.parse(m.source)
        assert m.source != reference and m.diff


def test_ids_are_deterministic_and_unique_and_classes_attributed():
    first, second = generate(), generate()
    assert [m.id for m in first] == [m.id for m in second]
    assert len({m.id for m in first}) == len(first)
    by_id = {m.id: m for m in first}
    assert by_id["reorder:15:0"].cls == MODULE
    assert all(m.cls == "SEBlock" for m in first if 41 <= m.line <= 54)
