import numpy as np
import pandas as pd

from tvs_pipeline.synthesis import atom_matrix, build_atoms, composition, periods_per_year


def test_short_atom_is_a_capped_synthetic_long():
    selection = pd.DataFrame(
        {
            "symbol": ["A", "B", "C"],
            "logic": "trend",
            "direction": ["LONG", "SHORT", "LONG"],
            "sleeve": "s",
            "calendar": "24/7",
            "selected": [True, True, False],
        }
    )
    days = pd.to_datetime(["2025-01-01", "2025-01-02"])
    panel = pd.DataFrame(
        {
            "symbol": ["A", "A", "B", "B", "C", "C"],
            "market_date": list(days) * 3,
            "ret": [0.1, -0.2, 0.05, 1.5, 0.3, 0.3],
        }
    )
    atoms = build_atoms(selection, panel)
    assert set(atoms["atom_id"]) == {"A|trend|LONG", "B|trend|SHORT"}
    short = atoms.loc[atoms["atom_id"] == "B|trend|SHORT", "ret"].to_numpy()
    np.testing.assert_allclose(short, [-0.05, -1.0])  # -150 % capped at -100 %
    comp = composition(atoms).set_index("atom_id")
    assert comp.loc["B|trend|SHORT", "sign"] == -1
    wide = atom_matrix(atoms)
    assert wide.shape == (2, 2)
    assert periods_per_year(atoms) == 365
