"""Shared table helpers (xsurvey.tables): long tables by band, CSV round trips."""

import numpy as np
import pandas as pd

from xsurvey.tables import band_rows, read_csv_table, write_csv


def test_band_rows_compares_bands_as_text_and_renumbers():
    df = pd.DataFrame({"band": ["3-24", "8-24", "3-24"], "x": [1.0, 2.0, 3.0]})
    rows = band_rows(df, "3-24")
    assert rows["x"].tolist() == [1.0, 3.0] and rows.index.tolist() == [0, 1]
    assert band_rows(df, "3-8").empty


def test_a_written_table_reads_back_with_nan_not_masked(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(pd.DataFrame({"id": [1, 2], "band": ["3-24", "3-24"],
                            "p_value": [np.nan, 0.25], "variable": [False, True]}), path)
    t = read_csv_table(path)
    assert t.colnames == ["id", "band", "p_value", "variable"]
    assert not t.has_masked_columns
    assert np.isnan(t["p_value"][0]) and t["p_value"][1] == 0.25
    assert t["variable"].dtype == bool and list(t["band"]) == ["3-24", "3-24"]
    assert list(np.argsort(t["p_value"])) == [1, 0]  # NaN last, as numpy sorts it
