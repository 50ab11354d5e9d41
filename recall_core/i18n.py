"""All UI text, in Chinese (default) and English.  Pure: no Streamlit here.

``translate(key, lang, **fields)`` formats the string with ``str.format``.
A test checks that every key has both languages with the same placeholders.
"""
from __future__ import annotations

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"

STRINGS: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ app shell
    "app_title": {"zh": "召回实验室 · 超越双塔", "en": "Recall Lab · beyond two towers"},
    "nav_home": {"zh": "首页", "en": "Home"},
    "nav_two_tower": {"zh": "双塔基线", "en": "Two-tower baseline"},
    "sidebar_dataset": {"zh": "数据集", "en": "Dataset"},
    "sidebar_device": {"zh": "计算设备", "en": "Device"},
    "status_header": {"zh": "状态", "en": "Status"},
    "data_ready": {"zh": "✅ {name}：{items} 部电影，{users} 个用户（测试用户 {test}）",
                   "en": "✅ {name}: {items} movies, {users} users ({test} test users)"},
    "data_missing": {"zh": "数据集 {name} 还没有下载。", "en": "Dataset {name} is not downloaded yet."},
    "data_download": {"zh": "下载 {name}", "en": "Download {name}"},
    "data_downloading": {"zh": "正在下载 {name}…", "en": "Downloading {name}…"},
    "data_offline_help": {
        "zh": "离线使用：设置环境变量 `RECALL_LAB_MIRROR=file:///路径/含zip的文件夹`，或在下面上传 MovieLens zip，"
              "或填写本地文件夹路径。",
        "en": "Offline: set `RECALL_LAB_MIRROR=file:///path/to/folder-with-zip`, upload the MovieLens zip below, "
              "or give a local folder path.",
    },
    "data_upload": {"zh": "上传 MovieLens zip", "en": "Upload a MovieLens zip"},
    "data_local_path": {"zh": "或：本地文件夹 / zip 路径", "en": "Or: local folder / zip path"},
    "data_use_local": {"zh": "使用此路径", "en": "Use this path"},
    "data_loaded_ok": {"zh": "数据已就绪。", "en": "Data is ready."},
    "models_header": {"zh": "模型", "en": "Models"},
    "model_ready": {"zh": "✅ {method}", "en": "✅ {method}"},
    "model_missing": {"zh": "⬜ {method}（未训练）", "en": "⬜ {method} (not trained)"},
    "model_stale": {"zh": "🟧 {method}（配置或数据已变，需重训）", "en": "🟧 {method} (config or data changed: retrain)"},
    "profile_quick": {"zh": "快速配置（RECALL_LAB_PROFILE=quick）", "en": "quick profile (RECALL_LAB_PROFILE=quick)"},
    "train_missing": {"zh": "训练缺失的模型", "en": "Train missing models"},
    "train_one": {"zh": "现在训练 {method}", "en": "Train {method} now"},
    "training": {"zh": "正在训练 {method}…", "en": "Training {method}…"},
    "trained": {"zh": "{method} 训练完成（{seconds:.0f} 秒）。", "en": "{method} trained ({seconds:.0f} s)."},
    "model_needed": {"zh": "此页面需要已训练的 {method} 模型。", "en": "This page needs a trained {method} model."},
    "data_needed": {"zh": "请先在左侧栏准备数据集。", "en": "Prepare the dataset in the sidebar first."},
    "error_generic": {
        "zh": "出错了：{error}。详细信息已写入服务器日志。",
        "en": "Something went wrong: {error}. Details are in the server log.",
    },
    # ------------------------------------------------------------------ common widgets
    "pick_user": {"zh": "选择一个测试用户", "en": "Pick a test user"},
    "user_label": {"zh": "用户 {raw} · {n} 部已看 · {profile}", "en": "user {raw} · {n} watched · {profile}"},
    "history_header": {"zh": "输入历史（前一半，按时间）", "en": "Input history (first half, by time)"},
    "truth_header": {"zh": "真实答案（后一半）：{n} 部", "en": "Ground truth (second half): {n} movies"},
    "col_rank": {"zh": "名次", "en": "Rank"},
    "col_title": {"zh": "电影", "en": "Movie"},
    "col_genres": {"zh": "类型", "en": "Genres"},
    "col_score": {"zh": "得分", "en": "Score"},
    "col_hit": {"zh": "命中", "en": "Hit"},
    "top_k": {"zh": "返回条数 K", "en": "K (items returned)"},
    "hits_summary": {"zh": "命中 {hits}/{k}，召回率 {recall:.1%}", "en": "{hits}/{k} hits, recall {recall:.1%}"},
    "scored_summary": {"zh": "打分 {n} 个物品（共 {total} 个，{frac:.1%}）",
                       "en": "scored {n} of {total} items ({frac:.1%})"},
    "hover_score": {"zh": "得分", "en": "score"},
    "legend_user": {"zh": "用户向量", "en": "user vector"},
    "legend_topk": {"zh": "返回的 Top-K", "en": "returned top-K"},
    "legend_hit": {"zh": "命中（在后一半中）", "en": "hit (in second half)"},
    "legend_history": {"zh": "输入历史", "en": "input history"},
    # ------------------------------------------------------------------ home
    "home_intro": {
        "zh": "召回（retrieval）要在几毫秒内从海量物品里挑出几百个候选。双塔模型把用户和物品各自编码成向量，"
              "只在最后做一次内积——正因为如此才能预先算好物品向量、建近邻索引；也正因为如此，用户和物品之间"
              "没有任何“交叉”：模型看不到“这个用户的历史里哪几部电影和这个候选最相关”。\n\n"
              "这里的三种方法各自打破了这个限制：**TDM** 用一棵树做索引、任意深度模型逐层打分；**Deep Retrieval** "
              "把索引本身变成可学习的离散路径；**NANN（二向箔）** 训练完任意神经网络后，再在 HNSW 图上用模型本身"
              "搜索。每一页都可以一步一步看它们怎样搜索，旁边是同一协议下的双塔基线。",
        "en": "Retrieval must pick a few hundred candidates out of a huge catalogue in milliseconds. A two-tower "
              "model encodes the user and the item separately and lets them meet only in one inner product. That "
              "is what makes it servable (item vectors are precomputed and indexed for nearest-neighbour search) "
              "and also its limit: there is no interaction between user and item, so the model cannot ask which "
              "movies in this user's history matter for this candidate.\n\n"
              "The three methods here each break that limit: **TDM** indexes items in a tree and lets any deep "
              "model score it level by level; **Deep Retrieval** makes the index itself a learned set of discrete "
              "paths; **NANN (二向箔)** trains any neural scorer first and then searches an HNSW graph with the "
              "model itself. Every page lets you step through a search, next to the two-tower baseline under the "
              "same protocol.",
    },
    "home_picture_caption": {
        "zh": "左：双塔只在内积处相遇（后期交互）。右：深度模型让用户历史与目标物品充分交叉（如目标注意力）。",
        "en": "Left: two towers meet only in an inner product (late interaction). Right: a deep model lets the "
              "user's history interact with the target item (e.g. target attention).",
    },
    "home_pages_header": {"zh": "各页面内容", "en": "What each page shows"},
    "home_page_two_tower": {
        "zh": "双塔基线：用户向量与物品向量的 UMAP 地图，精确 Top-K 与 hnswlib 近邻搜索的对比。",
        "en": "Two-tower baseline: a UMAP map of user and item vectors, exact top-K next to hnswlib ANN search.",
    },
    "home_protocol_header": {"zh": "统一评测协议", "en": "One evaluation protocol"},
    "home_protocol": {
        "zh": "评分 ≥ {min_rating} 视为正反馈；保留至少 {min_pos} 个正反馈的用户；按时间排序；整用户留出做验证与测试"
              "（本数据集：训练 {train} / 验证 {valid} / 测试 {test} 个用户）；测试用户的前一半序列作为输入、后一半作为答案；"
              "输入中的物品不参与排名。指标：Precision / Recall / F1 @10、Recall / NDCG @50。",
        "en": "A rating >= {min_rating} is a positive; users with at least {min_pos} positives are kept; sequences "
              "are sorted by time; whole users are held out (here: {train} train / {valid} validation / {test} test "
              "users); a test user's first half is the input and the second half the answer; input items are never "
              "ranked. Metrics: Precision / Recall / F1 @10, Recall / NDCG @50.",
    },
    "home_results_header": {"zh": "当前已训练模型的测试结果", "en": "Test results of the trained models"},
    "home_no_results": {"zh": "还没有训练好的模型：用左侧栏的按钮训练。", "en": "No trained model yet: use the sidebar button."},
    # ------------------------------------------------------------------ two-tower page
    "tt_title": {"zh": "双塔基线：内积 + 近邻索引", "en": "Two-tower baseline: inner product + ANN index"},
    "tt_intro": {
        "zh": "用户塔把输入历史的物品向量取平均后过 MLP 得到用户向量 u；物品塔把电影 id 与类型过 MLP 得到物品向量 v；"
              "得分就是 ⟨u, v⟩。训练用批内负样本的 sampled softmax 并做 log-Q 纠偏。",
        "en": "The user tower mean-pools the input history's item embeddings and passes them through an MLP to get "
              "u; the item tower maps a movie's id and genres to v; the score is ⟨u, v⟩. Training uses an "
              "in-batch sampled softmax with the log-Q correction.",
    },
    "tt_map_header": {"zh": "物品向量地图（UMAP，按主类型着色）", "en": "Map of item vectors (UMAP, coloured by main genre)"},
    "tt_map_help": {
        "zh": "物品向量用 UMAP 投影到二维；星形是当前用户，放在与它内积最高的 15 个物品中间；× 是输入历史；"
              "圆圈是返回的 Top-K，绿色为命中。二维只是示意：真正的检索发生在 {dim} 维的内积空间里。",
        "en": "Item vectors are projected to 2-D with UMAP; the star is this user, placed among its 15 "
              "highest-scoring items; × marks the input history; circles are the returned top-K, green ones are "
              "hits. 2-D is only a sketch: retrieval happens in the {dim}-d inner-product space.",
    },
    "tt_map_computing": {"zh": "第一次计算 UMAP 投影（之后会缓存）…", "en": "Computing the UMAP projection (cached afterwards)…"},
    "tt_exact": {"zh": "精确 Top-K（对全部物品做内积）", "en": "Exact top-K (inner product with every item)"},
    "tt_ann": {"zh": "hnswlib 近邻搜索（ef = {ef}）", "en": "hnswlib ANN search (ef = {ef})"},
    "tt_ef": {"zh": "HNSW 搜索宽度 ef", "en": "HNSW search width ef"},
    "tt_agreement": {"zh": "ANN 与精确结果重合 {overlap}/{k}", "en": "ANN agrees with exact on {overlap}/{k}"},
    "tt_limit_header": {"zh": "后期交互的局限", "en": "The late-interaction limit"},
    "tt_limit": {
        "zh": "用户向量 u 在看到候选物品之前就已经算好了：无论候选是《星球大战》还是《泰坦尼克号》，用的都是同一个 u。"
              "模型无法让“历史中的科幻片”只在候选是科幻片时发挥作用。TDM、DR、NANN 的模型都能让历史与候选交叉（如目标注意力），"
              "代价是不能再用内积近邻索引——于是它们各自发明了新的索引与搜索方式。",
        "en": "The user vector u is computed before any candidate is seen: the same u serves Star Wars and "
              "Titanic alike. The model cannot let the sci-fi films in the history count only when the candidate "
              "is sci-fi. TDM, DR and NANN use models where history and candidate interact (e.g. target "
              "attention); the price is that an inner-product ANN index no longer applies, so each invents its "
              "own index and search.",
    },
    # ------------------------------------------------------------------ animations and curves (shared)
    "anim_play": {"zh": "▶ 播放", "en": "▶ Play"},
    "anim_pause": {"zh": "⏸ 暂停", "en": "⏸ Pause"},
    "anim_step": {"zh": "步骤", "en": "Step"},
    "download_html": {"zh": "下载动画（独立 HTML，可离线播放）", "en": "Download the animation (standalone HTML, plays offline)"},
    "brute_force_line": {"zh": "暴力打分（同一模型）", "en": "brute force (same model)"},
    "axis_scored": {"zh": "每个用户打分的节点/物品数", "en": "nodes / items scored per user"},
    "budget_header": {"zh": "预算曲线：召回率 vs 打分次数", "en": "Budget curve: recall vs model evaluations"},
    "steps_table_header": {"zh": "每一步", "en": "Step by step"},
    "col_step": {"zh": "步骤", "en": "Step"},
    "col_scored": {"zh": "本步打分", "en": "Scored"},
    "col_kept": {"zh": "保留", "en": "Kept"},
    "col_total": {"zh": "累计打分", "en": "Scored so far"},
    "result_header": {"zh": "返回结果", "en": "Result"},
    # ------------------------------------------------------------------ TDM
    "nav_tdm": {"zh": "TDM 树检索", "en": "TDM tree search"},
    "home_page_tdm": {
        "zh": "TDM：物品是树的叶子，带目标注意力的深度模型逐层打分，束搜索一层一层往下走；树由学到的物品向量重新聚类得到。",
        "en": "TDM: items are the leaves of a tree; a deep model with target attention scores nodes level by level "
              "in a beam search; the tree is rebuilt from learned item embeddings.",
    },
    "tdm_title": {"zh": "TDM：树上的逐层束搜索", "en": "TDM: layer-wise beam search over a tree"},
    "tdm_intro": {
        "zh": "每部电影是一棵 {b} 叉树的叶子（叶子在第 {depth} 层）。模型对（用户，节点）打分：用户历史按时间窗口切分，每个行为与节点做目标注意力，"
              "加权汇总后与节点向量一起送入 MLP。训练时，正样本物品的每个祖先都是该层的正样本，同层其它节点随机采作负样本"
              "（越靠近叶子采得越多）——于是父节点的得分近似其子节点得分的最大值（“类最大堆”）。检索时从第一个节点数不少于束宽 B 的层开始，"
              "每层只给上一层保留的 B 个节点的子节点打分。",
        "en": "Every movie is a leaf of a {b}-ary tree (leaves on level {depth}). The model scores (user, node) pairs: "
              "the history is cut into time windows, each behaviour attends to the node, and the weighted windows and "
              "the node embedding go through an MLP. In training, every ancestor of a positive item is a positive at "
              "its level and other nodes of that level are sampled as negatives (more toward the leaves), so a "
              "parent scores roughly like its best child (\"max-heap like\"). Search starts at the first level with "
              "at least B nodes and at each level scores only the children of the B nodes kept above.",
    },
    "tdm_beam": {"zh": "束宽 B", "en": "Beam size B"},
    "tdm_round": {"zh": "树学习轮次", "en": "Tree-learning round"},
    "tdm_round_genre": {"zh": "第 0 轮：按类型建的初始树", "en": "round 0: initial tree by genre"},
    "tdm_round_learned": {"zh": "第 {r} 轮：k-means 重建的树", "en": "round {r}: tree rebuilt by k-means"},
    "tdm_hover_node": {"zh": "节点 {code} · 第 {level} 层 · {n} 部电影", "en": "node {code} · level {level} · {n} movies"},
    "tdm_legend_nodes": {"zh": "树节点（灰：剪枝，橙：保留）", "en": "tree nodes (grey: pruned, orange: kept)"},
    "tdm_legend_scored": {"zh": "本层打分（黑圈：进入束）", "en": "scored at this level (ringed: kept)"},
    "tdm_legend_result": {"zh": "返回的叶子（绿：命中）", "en": "returned leaves (green: hit)"},
    "tdm_legend_positive": {"zh": "正样本路径", "en": "positive path"},
    "tdm_legend_negative": {"zh": "负样本", "en": "negatives"},
    "tdm_step_start": {
        "zh": "开始：叶子在第 {depth} 层。第 {level} 层是第一个节点数 ≥ B={beam} 的层，从这里开始。",
        "en": "Start: the leaves are on level {depth}. Level {level} is the first with at least B={beam} nodes; "
              "the search starts there.",
    },
    "tdm_step_first": {
        "zh": "第 {level} 层：给这一层全部 {n} 个节点打分，保留最高的 {kept} 个。累计打分 {total}（暴力需 {brute}，{frac:.0%}）。",
        "en": "Level {level}: score all {n} nodes of this level, keep the best {kept}. Scored so far {total} "
              "(brute force: {brute}, {frac:.0%}).",
    },
    "tdm_step_level": {
        "zh": "第 {level} 层：只给上一层保留节点的 {n} 个子节点打分，保留最高的 {kept} 个，其余子树被剪掉。累计打分 {total}（暴力需 {brute}，{frac:.0%}）。",
        "en": "Level {level}: score only the {n} children of the nodes kept above, keep the best {kept}; the other "
              "subtrees are pruned. Scored so far {total} (brute force: {brute}, {frac:.0%}).",
    },
    "tdm_step_leaves": {
        "zh": "叶子层（第 {level} 层）：给 {n} 部电影打分，取最高的 {kept} 部作为结果。累计打分 {total}（暴力需 {brute}，{frac:.0%}）。",
        "en": "Leaf level {level}: score {n} movies and return the best {kept}. Scored so far {total} "
              "(brute force: {brute}, {frac:.0%}).",
    },
    "tdm_step_result": {
        "zh": "结果：返回 {k} 部电影，命中 {hits} 部（星形，绿色为命中）。一共只打分 {total} 次，暴力打分要 {brute} 次。",
        "en": "Result: {k} movies returned, {hits} hits (stars, green = hit). {total} evaluations in all, "
              "against {brute} for brute force.",
    },
    "tdm_counter": {"zh": "打分 {n} 个节点 · 暴力打分需 {brute} 个叶子（{frac:.1%}）",
                    "en": "{n} nodes scored · brute force scores {brute} leaves ({frac:.1%})"},
    "tdm_samples_header": {"zh": "一个训练样本如何变成逐层样本", "en": "How one training example becomes per-level samples"},
    "tdm_samples_help": {
        "zh": "以该用户输入历史的最后一部电影《{title}》为目标、之前的电影为历史：目标叶子的每个祖先都是该层的正样本（绿色路径），"
              "每层再从其它节点里随机采负样本（红叉），越靠近叶子采得越多。",
        "en": "Take the last movie of this user's input, \"{title}\", as the target and the movies before it as the "
              "history: every ancestor of the target's leaf is that level's positive (green path) and negatives are "
              "drawn from the other nodes of each level (red crosses), more of them toward the leaves.",
    },
    "col_level": {"zh": "层", "en": "Level"},
    "col_positive": {"zh": "正样本节点", "en": "Positive node"},
    "col_negatives": {"zh": "负样本数", "en": "Negatives"},
    "tdm_rounds_header": {"zh": "树学习：每一轮的召回率", "en": "Tree learning: recall per round"},
    "tdm_rounds_help": {
        "zh": "第 0 轮用按类型建的树；之后每一轮把学到的叶子（电影）向量做平衡的层次 k-means 得到新树，沿用向量后继续训练。"
              "“重聚类后”是刚换树、还没重训时的成绩。",
        "en": "Round 0 uses the tree built by genre; each later round clusters the learned leaf (movie) embeddings "
              "by balanced hierarchical k-means into a new tree, carries the embeddings over and trains on. \"Right "
              "after re-clustering\" is the score on the new tree before retraining.",
    },
    "col_round": {"zh": "轮次", "en": "Round"},
    "col_beam_recall": {"zh": "束搜索 recall@50", "en": "beam recall@50"},
    "col_brute_recall": {"zh": "暴力 recall@50", "en": "brute-force recall@50"},
    "col_after_recluster": {"zh": "重聚类后（未重训）", "en": "right after re-clustering"},
}


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **fields) -> str:
    entry = STRINGS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**fields) if fields else text
