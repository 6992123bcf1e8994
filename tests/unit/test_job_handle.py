"""``Job.predictions``: a DataFrame where pandas is installed, a list of rows where it is not."""

import sys
from types import SimpleNamespace

import pandas  # requirements-dev.txt: the notebook user's environment

from catdog_queue.job import Job

CSV = "id,label\ncat.1,0.125\ndog.2,0.875\n"


def finished_predict_job(csv_path):
    record = SimpleNamespace(kind="predict", job_id="20261203-000000-abcdef")
    job = Job(None, record, collector=None, out=csv_path, timings={}, started=0.0)
    job.collected = {"rows": 2}  # waited for already: no cluster is asked
    return job


def test_without_pandas_predictions_are_a_list_of_rows(tmp_path, monkeypatch):
    (tmp_path / "p.csv").write_text(CSV)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    rows = finished_predict_job(tmp_path / "p.csv").predictions
    assert rows == [{"id": "cat.1", "label": 0.125}, {"id": "dog.2", "label": 0.875}]


def test_with_pandas_predictions_are_a_dataframe(tmp_path):
    (tmp_path / "p.csv").write_text(CSV)
    frame = finished_predict_job(tmp_path / "p.csv").predictions
    assert isinstance(frame, pandas.DataFrame)
    assert frame.to_dict("records") == [
        {"id": "cat.1", "label": 0.125},
        {"id": "dog.2", "label": 0.875},
    ]
