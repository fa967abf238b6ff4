"""The book drawn for a person: one horizontal bar per listing's net weight."""

from __future__ import annotations

import base64
import io

import pandas as pd

__all__ = ["weights_chart_markdown", "weights_png"]

MAX_BARS = 40  # a taller chart stops being readable in the UI's metadata panel


def weights_png(physical: pd.DataFrame, title: str = "") -> bytes:
    """A PNG bar chart of ``physical``'s ``net_weight`` by ``symbol`` (shorts left, in red).

    The largest ``MAX_BARS`` absolute weights are drawn, sorted. matplotlib (Agg) is imported
    here: the chart is drawn for a run's last day, never at import.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = physical.loc[physical["net_weight"].abs() > 0, ["symbol", "net_weight"]]
    rows = rows.reindex(rows["net_weight"].abs().sort_values(ascending=False).index)
    rows = rows.head(MAX_BARS).sort_values("net_weight")
    fig, ax = plt.subplots(figsize=(6.0, 0.9 + 0.22 * max(len(rows), 1)), dpi=100)
    colors = ["#c0392b" if w < 0 else "#2471a3" for w in rows["net_weight"]]
    ax.barh(rows["symbol"], rows["net_weight"] * 100.0, color=colors)
    ax.axvline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("net weight (%)")
    ax.tick_params(axis="y", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def weights_chart_markdown(physical: pd.DataFrame, title: str = "") -> str:
    """``weights_png`` embedded in Markdown as a data URI (the Dagster UI renders it)."""
    encoded = base64.b64encode(weights_png(physical, title)).decode("ascii")
    return f"![{title or 'weights'}](data:image/png;base64,{encoded})"
