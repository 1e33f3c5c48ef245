import numpy as np
import pytest

from mlrobust.errors import CorruptFileError, InputError
from mlrobust.portfolio import (
    Answer,
    Missing,
    ResultTable,
    concat_tables,
    parse_answer,
    parse_answers,
    to_matrix,
)
from mlrobust.verdicts import Verdict


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("holds", Answer.HOLDS),
        ("UNSAT", Answer.HOLDS),
        (" violated ", Answer.VIOLATED),
        ("SAT", Answer.VIOLATED),
        ("timeout", Answer.UNKNOWN),
        ("run_instance_timeout", Answer.UNKNOWN),
        ("outofmemory", Answer.UNKNOWN),
        ("unknown", Answer.UNKNOWN),
        ("error_exit_code_1", Answer.ERROR),
        ("prepare_instance_error_2", Answer.ERROR),
        ("no_result_in_file", Answer.ERROR),
        ("BabTranslatorError(Unsupported activation type: tanh)", Answer.ERROR),
        ("VerificationRunnerError(IndexError)", Answer.ERROR),
    ],
)
def test_known_verdict_words(text, answer) -> None:
    assert parse_answer(text) is answer


def test_unknown_verdicts_are_listed_with_counts() -> None:
    with pytest.raises(CorruptFileError, match=r"'unsat/sat' \(2x\).*'maybe' \(1x\)"):
        parse_answers(["holds", "unsat/sat", "maybe", "unsat/sat"], source="f.csv")
    # ...and can be mapped explicitly.
    codes = parse_answers(["unsat/sat", "holds"], extra={"unsat/sat": Answer.ERROR})
    assert codes.tolist() == [Answer.ERROR, Answer.HOLDS]
    assert parse_answer("") is None


def test_answer_verdict_round_trip() -> None:
    assert Answer.HOLDS.to_verdict() is Verdict.VERIFIED
    assert Answer.VIOLATED.to_verdict() is Verdict.FALSIFIED
    assert Answer.ERROR.to_verdict() is Verdict.UNKNOWN
    for v in Verdict:
        assert Answer.from_verdict(v).to_verdict() is v


def _table() -> ResultTable:
    return ResultTable.from_rows(
        [
            ("i2", "b", Answer.VIOLATED, 3.0),
            ("i1", "a", Answer.HOLDS, 1.0),
            ("i1", "b", Answer.HOLDS, 12.0),  # after the limit: not solved
            ("i2", "a", Answer.ERROR, float("nan")),
        ]
    )


def test_to_matrix_pivots_and_applies_the_limit() -> None:
    m = to_matrix(_table(), time_limit=10.0)
    assert m.instances.tolist() == ["i1", "i2"]
    assert m.verifiers.tolist() == ["a", "b"]
    assert m.answer.tolist() == [[Answer.HOLDS, Answer.HOLDS], [Answer.ERROR, Answer.VIOLATED]]
    assert m.solved.tolist() == [[True, False], [False, True]]
    assert m.decisive.tolist() == [[True, True], [False, True]]
    assert m.capped_time(2.0).tolist() == [[1.0, 20.0], [20.0, 3.0]]
    ordered = to_matrix(_table(), time_limit={"i1": 20.0, "i2": 2.0}, verifiers=["b", "a"])
    assert ordered.verifiers.tolist() == ["b", "a"]
    assert ordered.solved.tolist() == [[True, True], [False, False]]


def test_duplicates_and_missing_rows_are_errors() -> None:
    dup = concat_tables([_table(), _table().select(np.array([True, False, False, False]))])
    with pytest.raises(CorruptFileError, match=r"1 \(instance, verifier\) pairs .*\('i2', 'b'\)"):
        to_matrix(dup, time_limit=10.0)
    partial = _table().select(np.array([True, True, True, False]))
    with pytest.raises(CorruptFileError, match=r"missing per verifier: a: 1.*--missing unknown"):
        to_matrix(partial, time_limit=10.0)
    m = to_matrix(partial, time_limit=10.0, missing=Missing.UNKNOWN)
    assert m.answer[1, 0] == Answer.UNKNOWN and np.isnan(m.time[1, 0])


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="no rows"):
        to_matrix(_table(), time_limit=1.0, verifiers=["a", "zz"])
    with pytest.raises(InputError, match="No time limit"):
        to_matrix(_table(), time_limit={"i1": 1.0})
    with pytest.raises(InputError, match="positive"):
        to_matrix(_table(), time_limit=0.0)
    with pytest.raises(InputError, match="differ in length"):
        ResultTable(
            instance=np.array(["x"]), verifier=np.array([]), answer=np.array([]), time=np.array([])
        )
    with pytest.raises(InputError, match="Unknown verifier"):
        to_matrix(_table(), time_limit=1.0).subset(["nope"])
