"""The figures' common look: matplotlib and seaborn with the project's theme, and the caption beneath a figure."""

from __future__ import annotations

import textwrap


def pyplot(style: str = "whitegrid", context: str = "paper", theme: bool = True):
    """matplotlib.pyplot on the Agg backend and seaborn with the project's theme: returns (plt, sns).

    ``theme=False`` leaves seaborn's theme as it is (for figures that never set one).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    if theme:
        sns.set_theme(style=style, context=context)
    return plt, sns


def add_caption(fig, caption: str, width: int = 150) -> None:
    """Print ``caption`` beneath the axes of ``fig`` so the PNG and PDF carry it."""
    wrapped = textwrap.fill(caption, width=width)
    n_lines = wrapped.count("\n") + 1
    height = fig.get_figheight()
    pad = 0.17 * n_lines + 0.2
    fig.set_figheight(height + pad)
    fig.subplots_adjust(bottom=(pad + 0.05 * height) / (height + pad))
    fig.text(0.01, 0.01, wrapped, ha="left", va="bottom", fontsize=8, wrap=False)
