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
}


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **fields) -> str:
    entry = STRINGS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**fields) if fields else text
