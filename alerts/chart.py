"""A small PNG: negative share per hour over the last 24 h against the baseline (matplotlib, Agg)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any


def render_chart(series: list[dict[str, Any]], baseline: float, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display, thread-safe enough for one figure at a time
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    hours = [datetime.fromisoformat(x["hour"]) for x in series]
    shares = [x["share"] if x["share"] is not None else float("nan") for x in series]
    fig = Figure(figsize=(6, 2.4), dpi=100)  # Figure, not pyplot: no global state across threads
    ax = fig.add_subplot()
    ax.plot(hours, shares,  # type: ignore[arg-type]  # matplotlib takes datetimes (its date converter)
            marker="o", markersize=3, color="#c0392b", label="negative share")
    ax.axhline(baseline, color="#7f8c8d", linestyle="--", label=f"baseline {baseline:.0%}")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
