"""Colours and small helpers shared by the figure builders."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio

from ..i18n import translate

# Every figure here is drawn on plotly_white, set once as Plotly's default: passing ``template=`` to each figure
# validates and copies the whole template again (~7 ms a figure, a sixth of the server's busy time with thirty
# students on a 10k catalogue), while the default joins the figure when it is serialised (~1 ms), with the same JSON.
TEMPLATE = "plotly_white"
pio.templates.default = TEMPLATE

GENRE_PALETTE = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
HIT_COLOUR = "#1a9850"
MISS_COLOUR = "#d73027"
KEPT_COLOUR = "#f46d43"
MUTED = "#c8c8c8"


def genre_colour(index: int) -> str:
    return GENRE_PALETTE[index % len(GENRE_PALETTE)]


def base_layout(fig: go.Figure, title: str | None = None, height: int = 520) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(itemsizing="constant"))
    return fig


def shorten(text: str, n: int = 38) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def wrap(text: str, width: int = 120) -> str:
    """Line breaks for a Plotly annotation (which never wraps): by words for English, by characters
    (at half the width, as CJK glyphs are twice as wide) for Chinese."""
    if any("\u2e80" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in text):  # CJK (not merely non-ASCII)
        width //= 2
        return "<br>".join(text[i:i + width] for i in range(0, len(text), width))
    import textwrap

    return "<br>".join(textwrap.wrap(text, width))


def note_box(text: str) -> dict:
    return dict(text=wrap(text), xref="paper", yref="paper", x=0.0, y=1.12, xanchor="left", yanchor="bottom",
                showarrow=False, align="left", font=dict(size=13), bgcolor="rgba(255,255,255,0.9)",
                bordercolor="#cccccc", borderwidth=1, borderpad=6)


def animation_controls(fig: go.Figure, labels: list[str], lang: str, duration: int = 900) -> None:
    """Play / Pause buttons and a step slider (the frames are named 0..n-1)."""
    play = dict(label=translate("anim_play", lang), method="animate",
                args=[None, dict(frame=dict(duration=duration, redraw=True), fromcurrent=True,
                                 transition=dict(duration=0))])
    pause = dict(label=translate("anim_pause", lang), method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                          buttons=[play, pause], pad=dict(r=8, t=4))],
        sliders=[dict(active=0, x=0.16, y=-0.02, len=0.84, xanchor="left", yanchor="top", pad=dict(t=4),
                      currentvalue=dict(prefix=translate("anim_step", lang) + ": "),
                      steps=[dict(label=lab, method="animate",
                                  args=[[str(i)], dict(frame=dict(duration=0, redraw=True), mode="immediate")])
                             for i, lab in enumerate(labels)])],
    )
