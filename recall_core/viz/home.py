"""The home page's pictures: two towers vs a deep model (Graphviz DOT), and the constructed world's curve."""
from __future__ import annotations

import plotly.graph_objects as go

from ..claims import NAMES, world_table
from .common import base_layout
from .compare import METHOD_COLOURS


def architecture_dot(lang: str = "zh") -> str:
    zh = lang == "zh"
    L = {
        "hist": "用户历史" if zh else "user history", "item": "候选物品" if zh else "candidate item",
        "utower": "用户塔 MLP" if zh else "user tower MLP", "itower": "物品塔 MLP" if zh else "item tower MLP",
        "dot": "内积 ⟨u, v⟩" if zh else "inner product ⟨u, v⟩",
        "att": "目标注意力\\n(历史 × 候选)" if zh else "target attention\\n(history × candidate)",
        "deep": "深度网络 MLP" if zh else "deep MLP", "score": "得分" if zh else "score",
        "left": "双塔：后期交互" if zh else "two towers: late interaction",
        "right": "深度模型：充分交叉" if zh else "deep model: full interaction",
    }
    return f"""
digraph G {{
  rankdir=BT; nodesep=0.25; ranksep=0.3; size="7,3.2";
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eef3fb", color="#5b7db1"];
  subgraph cluster_tt {{ label="{L['left']}"; fontname="Helvetica"; color="#bbbbbb";
    h1 [label="{L['hist']}"]; i1 [label="{L['item']}"];
    u1 [label="{L['utower']}"]; v1 [label="{L['itower']}"];
    d1 [label="{L['dot']}", fillcolor="#fde0c5", color="#e08a3c"];
    h1 -> u1 -> d1; i1 -> v1 -> d1; }}
  subgraph cluster_deep {{ label="{L['right']}"; fontname="Helvetica"; color="#bbbbbb";
    h2 [label="{L['hist']}"]; i2 [label="{L['item']}"];
    a2 [label="{L['att']}", fillcolor="#d9f0d3", color="#4d9a4d"];
    m2 [label="{L['deep']}", fillcolor="#d9f0d3", color="#4d9a4d"]; s2 [label="{L['score']}"];
    h2 -> a2; i2 -> a2; a2 -> m2; i2 -> m2; m2 -> s2; }}
}}"""


def world_figure(rows: list[dict], lang: str = "zh") -> go.Figure:
    """recall@50 against the constructed world's knob, one line per method, ± std over seeds as error bars."""
    zh = lang == "zh"
    fig = go.Figure()
    for method, by_knob in world_table(rows).items():
        knobs = sorted(by_knob)
        fig.add_trace(go.Scatter(
            x=knobs, y=[by_knob[k][0] for k in knobs], error_y=dict(array=[by_knob[k][1] for k in knobs]),
            mode="lines+markers", name=NAMES.get(method, method),
            line=dict(color=METHOD_COLOURS.get(method, "#ff7f0e" if method == "two_tower" else "#888888"),
                      dash="dot" if method == "item_cf" else "solid")))
    fig.update_xaxes(title="旋钮：0 = 内积足够 … 1 = 内积表达不了" if zh else
                     "knob: 0 = an inner product suffices … 1 = it cannot express the taste")
    fig.update_yaxes(title="recall@50", rangemode="tozero")
    title = "构造的数据（合成）：兴趣越多越分散，双塔越吃力" if zh else \
        "A constructed (synthetic) world: more, more unrelated interests"
    return base_layout(fig, title, height=420)
