import base64
import io

import pandas as pd
from PIL import Image

from tvs_pipeline.allocation.chart import MAX_BARS, weights_chart_markdown, weights_png


def test_a_png_with_a_bar_per_held_listing():
    physical = pd.DataFrame({"symbol": ["A", "B", "C"], "net_weight": [0.5, -0.25, 0.0]})
    png = weights_png(physical, "title")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    # Two bars (C holds nothing): the figure is 0.9 + 0.22 * 2 inches tall at 100 dpi.
    assert image.size == (600, 134)


def test_the_chart_keeps_the_largest_weights_only():
    physical = pd.DataFrame(
        {"symbol": [f"S{i}" for i in range(60)], "net_weight": [0.01 * (i + 1) for i in range(60)]}
    )
    image = Image.open(io.BytesIO(weights_png(physical)))
    assert image.size[1] == round(100 * (0.9 + 0.22 * MAX_BARS))


def test_markdown_embeds_the_png():
    physical = pd.DataFrame({"symbol": ["A"], "net_weight": [1.0]})
    text = weights_chart_markdown(physical, "book")
    assert text.startswith("![book](data:image/png;base64,")
    assert base64.b64decode(text.split(",", 1)[1][:-1])[:4] == b"\x89PNG"
