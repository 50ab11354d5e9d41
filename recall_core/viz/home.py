"""The home page's picture: two towers vs a deep model with target attention (Graphviz DOT)."""
from __future__ import annotations


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
