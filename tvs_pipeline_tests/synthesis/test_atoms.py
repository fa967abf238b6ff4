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


def test_two_horizons_of_one_logic_on_one_listing_make_one_atom_at_the_shortest():
    from tvs_pipeline.synthesis.positions import positions

    days = pd.date_range("2025-01-01", periods=60, freq="D")
    r = 0.02 * np.sin(np.arange(60) / 3.0)
    panel = pd.DataFrame({"symbol": "A", "market_date": days, "ret": r})
    panel = pd.concat([panel, panel.assign(symbol="B")], ignore_index=True)
    rows = pd.DataFrame(
        {
            "symbol": ["B", "A", "A", "A", "B"],
            "logic": ["trend", "mean_reversion", "mean_reversion", "mean_reversion", "rating"],
            "direction": ["LONG", "LONG", "LONG", "SHORT", "SHORT"],
            "sleeve": "s",
            "calendar": "24/7",
            "selected": True,
            "timescale": [20, 10, 5, 7, 3],
        }
    )
    forward = build_atoms(rows, panel)
    backward = build_atoms(rows.iloc[[0, 2, 1, 3, 4]].reset_index(drop=True), panel)
    pd.testing.assert_frame_equal(forward, backward)  # the order of the rows does not matter
    first = forward.drop_duplicates("atom_id").set_index("atom_id")
    assert first["timescale"].to_dict() == {
        "A|mean_reversion|LONG": 5,
        "A|mean_reversion|SHORT": 7,
        "B|rating|SHORT": 3,
        "B|trend|LONG": 20,
    }
    # Every atom keeps its own row's listing, logic and side.
    assert (first.index == first["symbol"] + "|" + first["logic"] + "|" + first["direction"]).all()
    # The atom's stream is the 5-session rule's, not the 10-session one's (they differ here).
    held = forward.loc[forward["atom_id"] == "A|mean_reversion|LONG", "position"].to_numpy()
    assert (held == positions(r, "mean_reversion", "LONG", 5)[:-1]).all()
    assert (held != positions(r, "mean_reversion", "LONG", 10)[:-1]).any()
