"""The logged text model's input: reviews as a text column, records or a mapping; anything else a
ValueError that MLflow's scoring server answers with 400."""

from __future__ import annotations

import pandas as pd
import pytest

from imdb_sweep.serving.text_model import ReviewInputError, review_texts


def test_reviews_come_as_a_text_column_records_or_a_mapping():
    assert review_texts(pd.DataFrame({"text": ["a", "b"], "other": [1, 2]})) == ["a", "b"]
    assert review_texts([{"text": "a"}, {"text": "b"}]) == ["a", "b"]
    assert review_texts({"text": ["a", "b"]}) == ["a", "b"]
    assert review_texts({"text": "a"}) == ["a"]
    assert review_texts(["a", "b"]) == ["a", "b"]
    assert review_texts(pd.Series(["a"], name="text")) == ["a"]


@pytest.mark.parametrize(("bad", "message"), [
    (pd.DataFrame({"review": ["x"]}), "the input has no 'text' column \\(columns: review\\)"),
    (pd.DataFrame({"text": []}), "no reviews to score"),
    ([], "no reviews to score"),
    ([1], "'text' of row 0 is 1 \\(int\\), not a string"),
    (pd.DataFrame({"text": ["fine", 3.5]}), "'text' of row 1 is 3.5 \\(float\\), not a string"),
    (pd.DataFrame({"text": ["fine", None]}), "'text' of row 1 is missing"),
    ("just a string", "expected reviews as a table"),
])
def test_bad_input_is_a_value_error_that_says_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message) as raised:
        review_texts(bad)
    assert isinstance(raised.value, ReviewInputError)
    assert raised.value.get_http_status_code() == 400  # what MLflow's scoring server answers
