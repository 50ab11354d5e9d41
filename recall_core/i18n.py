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
    "world_constructed": {"zh": "构造的数据", "en": "constructed"},
    "world_ready": {"zh": "🧪 {name}（构造的数据）：{items} 个物品，{users} 个用户（测试用户 {test}），生成于本机，无需下载",
                    "en": "🧪 {name} (constructed): {items} items, {users} users ({test} test users), generated here, "
                          "nothing to download"},
    "world_note_multi": {
        "zh": "构造的世界：每个用户的兴趣覆盖 80 个物品，旋钮 {knob} 把它们分成 {m} 个互不相关的主题。"
              "旋钮 0 时内积足以表达；旋钮 1 时（8 个兴趣，维度 16 的双塔）单个用户向量无法同时指向 8 个相距很远的簇。",
        "en": "A constructed world: each user's taste covers 80 items, which knob {knob} splits into {m} unrelated "
              "topics. At knob 0 an inner product suffices; at knob 1 (8 interests, a two-tower of dimension 16) one "
              "user vector cannot point at 8 far-apart clusters at once.",
    },
    "world_note_catalogue": {
        "zh": "构造的稀疏目录：{items:,} 个物品，长尾流行度（Zipf），主题与用户口味混合，每个用户约 100 次评分。",
        "en": "A constructed sparse catalogue: {items:,} items, long-tailed (Zipf) popularity, topics and user taste "
              "mixtures, about 100 ratings per user.",
    },
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
    "model_not_ready": {"zh": "{method} 模型还没准备好：它正在后台训练，好了之后本页会自动刷新。其他模型已就绪的页面现在就能用。",
                        "en": "The {method} model is not ready yet: it trains in the background and this page refreshes itself when it is. Pages whose models are ready work now."},
    "bg_running": {"zh": "{method} 训练中（{seconds:.0f} 秒）{message}", "en": "{method} training ({seconds:.0f} s) {message}"},
    "bg_queued": {"zh": "{method} 排队中（前面还有 {ahead} 个）", "en": "{method} queued ({ahead} ahead)"},
    "bg_done": {"zh": "✅ {method}（{seconds:.0f} 秒）", "en": "✅ {method} ({seconds:.0f} s)"},
    "bg_failed": {"zh": "❌ {method} 训练失败：{error}", "en": "❌ {method} failed to train: {error}"},
    "data_needed": {"zh": "请先在左侧栏准备数据集。", "en": "Prepare the dataset in the sidebar first."},
    "error_generic": {
        "zh": "出错了：{error}。详细信息已写入服务器日志。",
        "en": "Something went wrong: {error}. Details are in the server log.",
    },
    # ------------------------------------------------------------------ common widgets
    "pick_user": {"zh": "选择一个测试用户", "en": "Pick a test user"},
    "user_label": {"zh": "用户 {raw} · {n} 部已看 · {profile}", "en": "user {raw} · {n} watched · {profile}"},
    "unknown_dataset": {"zh": "链接里的数据集 “{name}” 不存在；可选：{options}。",
                        "en": "The link's dataset \"{name}\" does not exist; the choices are: {options}."},
    "unknown_user": {"zh": "“{user}” 不是测试用户的编号；请从下面 {n} 个测试用户里选一个。",
                     "en": "\"{user}\" is not the id of a test user; pick one of the {n} test users below."},
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
              "这里的三种方法各自为打破这个限制而设计（它们在哪里真的做到了、哪里没有，见下面的证据）：**TDM** 用一棵树做索引、任意深度模型逐层打分；**Deep Retrieval** "
              "把索引本身变成可学习的离散路径；**NANN（二向箔）** 训练完任意神经网络后，再在 HNSW 图上用模型本身"
              "搜索。**语义 ID**（TIGER）是这条线的下一步：每部电影是一串由量化器给出的码，Transformer 在只含真实 ID 的前缀树上把下一部电影逐码生成出来。"
              "每一页都可以一步一步看它们怎样搜索，旁边是同一协议下的双塔基线。",
        "en": "Retrieval must pick a few hundred candidates out of a huge catalogue in milliseconds. A two-tower "
              "model encodes the user and the item separately and lets them meet only in one inner product. That "
              "is what makes it servable (item vectors are precomputed and indexed for nearest-neighbour search) "
              "and also its limit: there is no interaction between user and item, so the model cannot ask which "
              "movies in this user's history matter for this candidate.\n\n"
              "The three methods here are each built to break that limit (where they do and where they do not, see the evidence below): **TDM** indexes items in a tree and lets any deep "
              "model score it level by level; **Deep Retrieval** makes the index itself a learned set of discrete "
              "paths; **NANN (二向箔)** trains any neural scorer first and then searches an HNSW graph with the "
              "model itself. **Semantic IDs** (TIGER) are the next step of the lineage: each movie is a tuple of codes "
              "from a quantiser, and a Transformer generates the next movie code by code over the trie of IDs that "
              "exist. Every page lets you step through a search, next to the two-tower baseline under the "
              "same protocol.",
    },
    "home_picture_caption": {
        "zh": "左：双塔只在内积处相遇（后期交互）。右：深度模型让用户历史与目标物品充分交叉（如目标注意力）。",
        "en": "Left: two towers meet only in an inner product (late interaction). Right: a deep model lets the "
              "user's history interact with the target item (e.g. target attention).",
    },
    "home_evidence_header": {"zh": "证据：哪些说法在什么数据上成立", "en": "The evidence: what holds, and where"},
    "home_evidence_source": {"zh": "数字来自基准报告 {path}（设置在验证用户上选定，测试用户只用一次）。",
                             "en": "Figures from the benchmark report {path} (settings chosen on validation users; "
                                   "test users used once)."},
    "home_real_header": {"zh": "**真实数据（MovieLens）上：**", "en": "**On real data (MovieLens):**"},
    "home_world_header": {"zh": "**构造的数据上（合成，不是真实数据）：**",
                          "en": "**In a constructed world (synthetic, not real data):**"},
    "home_world_intro": {
        "zh": "我们造了一个世界：每个用户有若干个互不相关的兴趣，下一部电影随机来自其中一个。旋钮从 0 到 1，兴趣越来越多、越来越分散，"
              "而双塔的向量维度保持很小。一个用户向量只能指向一个方向，夹在几个相距很远的兴趣簇中间；目标注意力、树和多路径格子则不必如此。",
        "en": "We built a world where each user has several unrelated interests and the next movie comes from one of "
              "them at random. The knob moves from 0 to 1: more interests, further apart, while the two-tower's "
              "dimension stays small. One user vector can point in one direction only, between far-apart clusters; "
              "target attention, a tree or a multi-path lattice need not.",
    },
    "home_evidence_missing": {"zh": "还没有基准报告：运行 `python -m recall_core.bench --dataset ml-100k --out bench/latest`。",
                              "en": "No benchmark report yet: run `python -m recall_core.bench --dataset ml-100k "
                                    "--out bench/latest`."},
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
    "home_results_caption": {"zh": "测试用户、种子 0；每个索引用在验证用户上选出的搜索设置（最省的、与该模型暴力打分相差不超过 0.005 的设置），"
                                   "测试用户只用这一次。多种子和配对区间见对比页的基准报告。",
                             "en": "Test users, seed 0; each index searched at the setting chosen on validation users (the "
                                   "cheapest within 0.005 of the model's own brute force there); the test users are used "
                                   "once, at that setting. Several seeds and paired intervals: the benchmark report on "
                                   "the Compare page."},
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
    "budget_on_validation": {"zh": "在验证用户上计算（设置在验证集上选定；测试用户只用于最终报告的数字）。",
                             "en": "Computed on validation users (settings are chosen there; test users only give the "
                                   "reported figures)."},
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
    "tdm_round_learned_jtm": {"zh": "第 {r} 轮：JTM 重新分配的树", "en": "round {r}: tree re-assigned by JTM"},
    "tdm_round_served": {"zh": "{name}（验证最佳，上线使用）", "en": "{name} (best on validation: served)"},
    "tdm_served_genre": {
        "zh": "在这个数据集和这个训练预算下，学出来的树在验证用户上都没有超过第 0 轮的按类型建的树，所以上线使用的是第 0 轮"
              "（对比页和评测都用它）。论文里树学习带来的提升，这里没有复现；学出来的树仍可在上面选来看。",
        "en": "On this dataset and training budget, no learned tree beat round 0's genre tree on validation users, so "
              "round 0 is the one served (the comparison page and the metrics use it). The paper's gain from tree "
              "learning is not reproduced here; the learned trees can still be picked above.",
    },
    "tdm_served_earlier": {
        "zh": "后面的轮次在验证用户上没有超过第 {r} 轮，所以上线使用的是第 {r} 轮（对比页和评测都用它）；其它轮次仍可在上面选来看。",
        "en": "The later rounds did not beat round {r} on validation users, so round {r} is the one served (the "
              "comparison page and the metrics use it); the other rounds can still be picked above.",
    },
    "tdm_col_tree_learning": {"zh": "树学习方法", "en": "tree learning"},
    "tdm_tree_kmeans": {"zh": "叶子向量的 k-means（TDM, KDD'18）", "en": "k-means on leaf embeddings (TDM, KDD'18)"},
    "tdm_tree_jtm": {"zh": "JTM 贪心分配（NeurIPS'19 算法 2，间隔 d = {d}）",
                     "en": "JTM greedy assignment (NeurIPS'19 Alg. 2, gap d = {d})"},
    "tdm_step_widened": {
        "zh": "（比 B 多保留 {extra} 个：排在第 B 个“未看过”节点之前、含已看电影的节点；全部已看的子树不打分，这样排除历史后仍是精确的）",
        "en": "({extra} more than B: nodes holding watched movies that rank above the B-th unwatched one; fully "
              "watched subtrees are not scored, so excluding the history keeps the search exact)",
    },
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
    # -- TDM tree and maps at scale (issue 13 §4): the beam's frontier, counted stubs, zoom, sampled maps
    "tdm_story_level": {"zh": "第 {level} 层：打分 {scored} 个，保留 {kept} 个，剪掉 {pruned} 棵子树（共 {movies:,} 部电影）。",
                        "en": "Level {level}: scored {scored}, kept {kept}, pruned {pruned} subtrees holding "
                              "{movies:,} movies."},
    "tdm_story_leaves": {"zh": "叶子层（第 {level} 层）：打分 {scored} 部电影，返回 {kept} 部，另 {pruned} 部没进前 K。",
                         "en": "Leaf level {level}: scored {scored} movies, returned {kept}, {pruned} did not make "
                               "the top K."},
    "tdm_story_pruned": {"zh": "这一层剪掉 {pruned} 棵子树（▸），其下共 {movies:,} 部电影不再搜索。",
                         "en": "{pruned} subtrees pruned here (grey triangles), {movies:,} movies below them never "
                               "searched."},
    "tdm_zoom": {"zh": "放大到一棵子树", "en": "Zoom into a subtree"},
    "tdm_zoom_whole": {"zh": "整棵树", "en": "the whole tree"},
    "tdm_zoom_option": {"zh": "第 {level} 层 · 节点 {code} · {label} · {n:,} 部电影",
                        "en": "level {level} · node {code} · {label} · {n:,} movies"},
    "tdm_zoom_note": {"zh": "［只画节点 {code}（第 {level} 层，{n:,} 部电影）这棵子树里的搜索］",
                      "en": "[Only the search inside node {code} (level {level}, {n:,} movies) is drawn.]"},
    "tdm_frontier_help": {
        "zh": "每层只画束搜索打过分的节点（和它们的祖先），按树的左右顺序排开、互不重叠；被剪掉的节点画成一个灰色 ▸，标出它下面有多少部电影，"
              "而不画整棵子树。图中共 {markers:,} 个标记，树有 {nodes:,} 个节点。选一个节点可以放大到它的子树。",
        "en": "Each level draws only the nodes the beam scored (and their ancestors), in the tree's left-to-right "
              "order and never on top of each other; "
              "a pruned node is one grey ▸ counting the movies below it, not its whole subtree. {markers:,} markers "
              "drawn for a tree of {nodes:,} nodes. Pick a node to zoom into its subtree.",
    },
    "tdm_hover_group": {"zh": "{nodes} 个节点合画为一个 · 第 {level} 层 · {n:,} 部电影",
                        "en": "{nodes} nodes drawn as one · level {level} · {n:,} movies"},
    "tdm_hover_stub": {"zh": "▸ 剪掉 {subtrees} 棵子树：{n:,} 部电影不再搜索",
                       "en": "▸ {subtrees} subtree(s) pruned: {n:,} movies never searched"},
    "tdm_hover_kept": {"zh": "其中 {kept} 个进入束", "en": "{kept} of them kept in the beam"},
    "tdm_legend_stub": {"zh": "▸ 剪掉的子树（数字 = 电影数）", "en": "▸ pruned subtree (number = movies)"},
    "col_pruned_subtrees": {"zh": "剪掉的子树", "en": "pruned subtrees"},
    "col_pruned_movies": {"zh": "其中电影", "en": "movies in them"},
    "map_sampled_title": {"zh": "画出 {shown:,} / {n:,} 部电影（固定抽样）；访问过、返回的和历史中的电影全部画出",
                          "en": "{shown:,} of {n:,} movies drawn (fixed sample); visited, returned and history "
                                "movies always drawn"},
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
              "“重聚类后”是刚换树、还没重训时的成绩。成绩都在验证用户上计算，波束召回最高的一轮上线使用。",
        "en": "Round 0 uses the tree built by genre; each later round clusters the learned leaf (movie) embeddings "
              "by balanced hierarchical k-means into a new tree, carries the embeddings over and trains on. \"Right "
              "after re-clustering\" is the score on the new tree before retraining. All on validation users; the round "
              "with the best beam recall is the one served.",
    },
    "tdm_rounds_help_jtm": {
        "zh": "第 0 轮用按类型建的树；之后每一轮用 JTM（NeurIPS'19 算法 2）：按当前模型对训练样本的打分，每次 d 层，"
              "把每个节点下的电影重新分给它 d 层以下的后代，使各电影祖先节点的对数概率之和 L(π) 最大（每个后代的电影数不变），"
              "内部节点和电影沿用学到的向量后继续训练。“重聚类后”是刚换树、还没重训时的成绩。成绩都在验证用户上计算，波束召回最高的一轮上线使用。",
        "en": "Round 0 uses the tree built by genre; each later round uses JTM (NeurIPS'19 Algorithm 2): d levels at a "
              "time, the movies below each node are re-assigned among its descendants d levels down to maximise the "
              "current model's summed log-probability of their ancestors, L(π), on training pairs (each descendant "
              "keeps its number of movies); nodes and movies keep their learned embeddings and training goes on. "
              "\"Right after re-clustering\" is the score on the new tree before retraining. All on validation users; "
              "the round with the best beam recall is the one served.",
    },
    "col_round": {"zh": "轮次", "en": "Round"},
    "col_beam_recall": {"zh": "束搜索 recall@50", "en": "beam recall@50"},
    "col_brute_recall": {"zh": "暴力 recall@50", "en": "brute-force recall@50"},
    "col_after_recluster": {"zh": "重聚类后（未重训）", "en": "right after re-clustering"},
    # ------------------------------------------------------------------ Deep Retrieval
    "nav_dr": {"zh": "DR 路径检索", "en": "Deep Retrieval paths"},
    "home_page_dr": {
        "zh": "Deep Retrieval：D×K 的离散路径格子，每部电影落在 J 条路径上；路径由 EM 学出，4 次方惩罚防止挤在少数路径上；束搜索找路径，再精排。",
        "en": "Deep Retrieval: a D×K lattice of discrete paths, each movie on J of them; paths are learned by EM with "
              "a 4th-power penalty against collapse; beam search finds paths, a rerank model orders their movies.",
    },
    "dr_title": {"zh": "Deep Retrieval：可学习的离散路径", "en": "Deep Retrieval: learnable discrete paths"},
    "dr_intro": {
        "zh": "索引是一个 {D} 层、每层 {K} 个节点的格子：一条路径 (c1, …, c{D}) 就是一个聚类，共 {n_paths} 条。每部电影放在 J={J} 条路径上。"
              "结构模型逐层用 softmax 给出 p(c_d | 用户, c1..c_(d-1))，路径概率是各层之积。训练交替进行：固定路径分配训练模型（θ 步），"
              "再用模型给每部电影重新挑路径（π 步），目标里减去 α·Σ|c|⁴/4，防止所有电影挤到同几条热门路径上。",
        "en": "The index is a lattice of {D} layers with {K} nodes each: a path (c1, …, c{D}) is a cluster, {n_paths} in "
              "all. Each movie sits on J={J} paths. The structure model gives p(c_d | user, c1..c_(d-1)) with a softmax "
              "per layer; a path's probability is the product. Training alternates: train the model with the paths "
              "fixed (θ step), then re-choose each movie's paths with the model (π step), minus α·Σ|c|⁴/4 so that the "
              "movies do not all pile onto a few popular paths.",
    },
    "dr_sankey_header": {"zh": "格子：电影怎样流过各层", "en": "The lattice: how movies flow through the layers"},
    "dr_sankey_help": {
        "zh": "每一列是一层的 {K} 个节点，连线宽度是经过它的（电影，路径）数。悬停连线可看到样例电影。选中的电影的 J 条路径用彩色标出。",
        "en": "Each column is a layer's {K} nodes; a link's width is the number of (movie, path) pairs through it. Hover "
              "a link for sample movies. The chosen movie's J paths are coloured.",
    },
    "dr_link_hover": {"zh": "第 {layer} 层 {a} → 下一层 {b}：{n} 个（电影，路径）<br>例如：{sample}",
                      "en": "layer {layer} node {a} → next layer node {b}: {n} (movie, path) pairs<br>e.g. {sample}"},
    "dr_pick_movie": {"zh": "选一部电影看它的 J 条路径", "en": "Pick a movie to see its J paths"},
    "dr_movie_header": {"zh": "一部电影、多条路径（“巧克力既是食物也是礼物”）",
                        "en": "One movie, several paths (\"chocolate is both food and a gift\")"},
    "dr_movie_help": {
        "zh": "下拉框里先列出的是路径上“邻居”类型差别最大的电影：同一部电影可以同时属于几个不同的簇。",
        "en": "The movies listed first are those whose paths hold the most different genre mixes: one movie can "
              "belong to several different clusters at once.",
    },
    "dr_path_label": {"zh": "路径 {j}：({code}) · {n} 部电影 · 主要类型：{genres}",
                      "en": "path {j}: ({code}) · {n} movies · main genres: {genres}"},
    "dr_alpha_header": {"zh": "没有惩罚会怎样：路径坍缩", "en": "Without the penalty: paths collapse"},
    "dr_alpha_help": {
        "zh": "用当前模型算出的候选分数 s[v,c]，按所选 α 现场重跑一次 π 步（贪心坐标下降，{sweeps} 轮）。α=0 时，电影都挤向少数概率大的路径；"
              "惩罚 f(|c|)=|c|⁴/4 让它们散开。训练用的 α = {alpha}。",
        "en": "With the candidate scores s[v,c] of the current model, the π step (greedy coordinate descent, {sweeps} "
              "sweeps) is re-run live with the chosen α. With α=0 the movies pile onto a few high-probability paths; "
              "the penalty f(|c|)=|c|⁴/4 spreads them. Training used α = {alpha}.",
    },
    "dr_alpha": {"zh": "惩罚权重 α", "en": "Penalty weight α"},
    "dr_axis_path_size": {"zh": "路径上的电影数 |c|", "en": "movies on a path |c|"},
    "dr_axis_paths": {"zh": "路径条数", "en": "number of paths"},
    "dr_stats_setting": {"zh": "设置", "en": "Setting"},
    "dr_stats_nonempty": {"zh": "非空路径", "en": "Non-empty paths"},
    "dr_stats_largest": {"zh": "最大路径", "en": "Largest path"},
    "dr_stats_gini": {"zh": "Gini 系数", "en": "Gini"},
    "dr_stats_entropy": {"zh": "熵（比特）", "en": "Entropy (bits)"},
    "dr_trained_alpha": {"zh": "训练时 α={alpha}", "en": "trained α={alpha}"},
    "dr_chosen_alpha": {"zh": "所选 α={alpha}", "en": "chosen α={alpha}"},
    "dr_beam_header": {"zh": "一个用户的束搜索", "en": "One user's beam search"},
    "dr_beam": {"zh": "束宽 B（保留的路径数）", "en": "Beam size B (paths kept)"},
    "dr_step_layer": {
        "zh": "第 {layer} 层：给 {n} 个候选前缀算概率（上一层保留的前缀 × K 个节点），保留概率最高的 {kept} 个（黑圈）。累计打分 {total}。",
        "en": "Layer {layer}: {n} candidate prefixes get a probability (kept prefixes × K nodes); the {kept} most "
              "probable are kept (ringed). Scored so far {total}.",
    },
    "dr_step_rerank": {
        "zh": "精排：从 {paths} 条路径上收集到 {n} 部电影，用精排模型排序，返回前 {k} 部（橙色），命中 {hits} 部（绿色）。累计打分 {total}（格子节点 + 精排电影）。",
        "en": "Rerank: the {paths} paths hold {n} movies; the rerank model orders them and the top {k} are returned "
              "(orange), {hits} hits (green). Scored so far {total} (lattice nodes + reranked movies).",
    },
    "dr_legend_earlier": {"zh": "之前各层的前缀", "en": "prefixes of earlier layers"},
    "dr_legend_candidates": {"zh": "本层候选前缀（颜色：log10 概率）", "en": "candidate prefixes (colour: log10 p)"},
    "dr_legend_items": {"zh": "收集到的电影（绿：命中）", "en": "collected movies (green: hit)"},
    "dr_column_layer": {"zh": "第 {d} 层", "en": "layer {d}"},
    "dr_column_items": {"zh": "精排", "en": "rerank"},
    "dr_em_header": {"zh": "EM 每一轮之后的路径分布", "en": "Path distribution after each EM round"},
    # ------------------------------------------------------------------ NANN
    "nav_nann": {"zh": "二向箔 / NANN 图检索", "en": "NANN (二向箔) graph search"},
    "home_page_nann": {
        "zh": "二向箔 / NANN：先自由地训练任意神经网络打分模型，训练完再在物品向量上建 HNSW 图，用模型本身逐跳打分搜索。",
        "en": "NANN / 二向箔: train any neural scorer freely, then build an HNSW graph on its item vectors and search "
              "it hop by hop, scoring with the model itself.",
    },
    "nann_title": {"zh": "二向箔 / NANN：用神经网络在 HNSW 图上搜索", "en": "NANN (二向箔): searching an HNSW graph with a neural scorer"},
    "nann_intro": {
        "zh": "打分模型不受索引约束：用户画像与历史统计经小型 Transformer 聚合，用户行为序列对目标物品做注意力，目标物品经物品网络得到 e_v，"
              "三者拼接后过 MLP。训练时加入对抗扰动（FGSM 扰动 e_v 后两种分布的 KL），让分数在 e_v 的邻域里平滑。训练完成后，"
              "才在 e_v 上建 HNSW 图（l2 距离，M={M}），检索时从顶层入口出发，每一步把候选集的邻居一起送进模型打分，保留最好的 ef 个，"
              "每层走 T 步后下到下一层。",
        "en": "The scorer is free of any index: profile and history statistics go through a small transformer, the "
              "behaviour sequence attends to the target, the target goes through the item network to e_v, and the "
              "three are concatenated into an MLP. Training adds an adversarial term (the KL between the distributions "
              "with clean and FGSM-perturbed e_v) so scores stay smooth around each e_v. Only after training is an "
              "HNSW graph built on e_v (l2, M={M}); search starts at the top layer's entry point, each step scores "
              "all neighbours of the candidate set in one batch and keeps the best ef, and after T steps moves down a layer.",
    },
    "nann_two_sided_note": {
        "zh": "这个打分模型还把“双边”项 ⟨u, e_v⟩ 加到 MLP 的输出上（u 来自历史的平均池化 + MLP，和双塔一样）："
              "论文里最简单的打分模型就是这个内积，NANN 在它之上再加交叉特征。是否加这一项由验证集用户决定。",
        "en": "This scorer also adds the two-sided term ⟨u, e_v⟩ to the MLP's output (u from the mean-pooled history "
              "through an MLP, as in the two-tower): the paper's simplest scorer is that inner product, and NANN adds "
              "interactions on top of it. Whether to add it was decided on validation users.",
    },
    "nann_why_header": {"zh": "为什么这打破了双塔的限制", "en": "Why this lifts the two-tower limit"},
    "nann_why": {
        "zh": "双塔必须把用户压成一个向量，才能用内积近邻索引。NANN 反过来：模型可以是任何网络（这里有目标注意力，用户和物品充分交叉），"
              "索引是训练之后才建的——图只用来“指路”（哪些物品彼此相近），真正的打分始终是模型本身。代价是每跳都要调用模型，"
              "所以要限制每层的步数 T 和宽度 ef。",
        "en": "A two-tower model must squeeze the user into one vector to use an inner-product ANN index. NANN turns "
              "this around: the model can be any network (here with target attention, so user and item interact), "
              "and the index is built after training. The graph only says which items are close to each other; the "
              "score is always the model's. The price is a model call at every hop, so the steps T and the width ef "
              "per layer are bounded.",
    },
    "nann_model": {"zh": "模型", "en": "Model"},
    "nann_model_adv": {"zh": "对抗训练（默认）", "en": "adversarial training (default)"},
    "nann_model_plain": {"zh": "无对抗项（消融）", "en": "without the adversarial term (ablation)"},
    "nann_ef0": {"zh": "第 0 层宽度 ef", "en": "Layer-0 width ef"},
    "nann_steps0": {"zh": "第 0 层步数 T", "en": "Layer-0 steps T"},
    "nann_compare": {"zh": "与同一模型的暴力排序对比", "en": "Compare with the same model's brute-force ranking"},
    "nann_hover_layer": {"zh": "第 {level} 层", "en": "layer {level}"},
    "nann_entry": {"zh": "入口点", "en": "entry point"},
    "nann_legend_edges": {"zh": "第 {level} 层的边", "en": "edges of layer {level}"},
    "nann_legend_items": {"zh": "全部电影（UMAP of e_v）", "en": "all movies (UMAP of e_v)"},
    "nann_legend_scored_before": {"zh": "之前已打分", "en": "scored earlier"},
    "nann_legend_followed": {"zh": "本步沿着走的边", "en": "edges followed this step"},
    "nann_legend_scored": {"zh": "本步打分（颜色：得分）", "en": "scored this step (colour: score)"},
    "nann_legend_w": {"zh": "保留集合 W", "en": "kept set W"},
    "nann_legend_result": {"zh": "返回结果 / 漏掉的", "en": "returned / missed"},
    "nann_step_start": {
        "zh": "开始：从最顶层（第 {level} 层）的入口点出发。整个目录有 {n} 部电影。",
        "en": "Start: the search begins at the entry point of the top layer (layer {level}). The catalogue has {n} movies.",
    },
    "nann_step": {
        "zh": "第 {level} 层：一次性给候选集的 {n} 个新邻居打分，保留最好的 {w} 个（橙圈），其中 {c} 个是新进入的，下一步从它们出发。"
              "累计打分 {total}/{items}（{frac:.0%}）。",
        "en": "Layer {level}: score the {n} new neighbours of the candidate set in one batch, keep the best {w} "
              "(orange rings); {c} of them are new and are expanded next. Scored so far {total}/{items} ({frac:.0%}).",
    },
    "nann_step_result": {
        "zh": "结果：返回 {k} 部电影（星形，绿色为命中 {hits}），共打分 {total}/{items} 次；红叉是暴力排序前 K 里图搜索漏掉的 {missed} 部。",
        "en": "Result: {k} movies returned (stars, {hits} hits in green) for {total}/{items} evaluations; red crosses "
              "are the {missed} brute-force top-K movies the graph search missed.",
    },
    "nann_counter": {"zh": "打分 {n} 部电影 · 目录共 {total} 部（{frac:.1%}）· 与暴力前 {k} 重合 {overlap}",
                     "en": "{n} movies scored · catalogue {total} ({frac:.1%}) · overlap with brute-force top-{k}: {overlap}"},
    "nann_missed_header": {"zh": "图搜索漏掉的（暴力排序里有、图搜索没返回）", "en": "Missed by the graph (in the brute-force top-K, not returned)"},
    "nann_col_where": {"zh": "在图里的位置", "en": "Where it sits in the graph"},
    "nann_where_scored": {"zh": "被打过分但没进前 K", "en": "scored but not in the top K"},
    "nann_where_unreached": {"zh": "没被走到（离访问过的点 {hops} 跳）", "en": "never reached ({hops} hops from a visited item)"},
    "nann_layers_header": {"zh": "HNSW 的各层", "en": "The HNSW layers"},
    "nann_layer": {"zh": "显示哪一层", "en": "Layer to show"},
    "nann_layers_help": {
        "zh": "第 0 层包含全部 {n} 部电影；越往上越稀疏（第 {top} 层只有入口点附近几个点），用来快速跨越。大点是该层的成员。",
        "en": "Layer 0 holds all {n} movies; higher layers get sparser (layer {top} only a few around the entry "
              "point) and serve as express lanes. Big dots are that layer's members.",
    },
    "nann_map_computing": {"zh": "计算 e_v 的 UMAP 投影（之后会缓存）…", "en": "Computing the UMAP of e_v (cached afterwards)…"},
    # ------------------------------------------------------------------ Semantic IDs (TIGER)
    "nav_sid": {"zh": "语义 ID 生成式检索", "en": "Semantic IDs (generative)"},
    "home_page_sid": {
        "zh": "语义 ID（TIGER）：量化器在训练前给每部电影一个码组（RQ-VAE / 残差 k-means，加一个冲突码）；Transformer 读入写成码的"
              "历史，逐个码生成下一部电影的 ID；束搜索限制在已有 ID 的前缀树里。",
        "en": "Semantic IDs (TIGER): a quantiser gives each movie a tuple of codes before training (RQ-VAE / residual "
              "k-means, plus a collision code); a Transformer reads the history as codes and generates the next movie's "
              "ID code by code; the beam search stays inside the trie of existing IDs.",
    },
    "sid_title": {"zh": "语义 ID——把物品生成出来", "en": "Semantic IDs — generating the item"},
    "sid_intro": {
        "zh": "这一页是 DR 的下一步（TIGER，Rajput 等，NeurIPS'23）。DR 的路径是学出来的；这里每部电影的路径就是它的**语义 ID**："
              "L = {L} 个码、每个码 K = {K} 种取值，由量化器（{quantiser}）从电影的内容与共现向量算出，在训练推荐模型**之前**就固定下来，"
              "再加一个冲突码，保证没有两部电影共用一个 ID。推荐模型是一个编码器-解码器 Transformer：读入写成语义 ID token 的用户历史，"
              "逐个 token **生成**下一部电影的 ID。",
        "en": "This page is the step after DR (TIGER, Rajput et al., NeurIPS'23). DR's paths are learned; here each "
              "movie's path is its **semantic ID**: L = {L} codes of K = {K} values each, computed by a quantiser "
              "({quantiser}) from the movie's content and co-occurrence vector and fixed **before** the recommender is "
              "trained, plus one collision code so that no two movies share an ID. The recommender is an "
              "encoder-decoder Transformer: it reads the user's history written as semantic-ID tokens and "
              "**generates** the next movie's ID token by token.",
    },
    "sid_vs_dr_table": {
        "zh": "| | Deep Retrieval | 语义 ID |\n|---|---|---|\n"
              "| 电影的路径 | J 条路径，EM 交替学习、反复重新分配 | 一个 ID，来自量化器，训练前固定 |\n"
              "| 防止坍缩 | π 步里的惩罚 α·Σ\\|c\\|⁴/4 | 量化器本身（逐层量化残差，RQ-VAE 重置死码）+ 冲突码 |\n"
              "| 模型 | 每层一个以用户为条件的 softmax | Transformer 读入写成 ID token 的历史，逐个 token 写出下一个 ID |\n"
              "| 检索 | 在格子节点上束搜索，再精排 | 在 token 上束搜索，只走已有 ID 的前缀树（trie）；不需要精排 |",
        "en": "| | Deep Retrieval | Semantic IDs |\n|---|---|---|\n"
              "| a movie's path | J paths, learned by EM, re-assigned every round | one ID from a quantiser, fixed "
              "before training |\n"
              "| against collapse | the penalty α·Σ\\|c\\|⁴/4 in the π step | the quantiser itself (residuals level by "
              "level, the RQ-VAE's dead-code resets) + a collision code |\n"
              "| the model | a softmax per layer, conditioned on the user | a Transformer that reads the history as "
              "ID tokens and writes the next ID token by token |\n"
              "| search | beam over lattice nodes, then a rerank | beam over tokens, kept inside the trie of existing "
              "IDs; no rerank |",
    },
    "sid_quantiser_rqvae": {"zh": "RQ-VAE，残差量化自编码器", "en": "RQ-VAE, a residual-quantising autoencoder"},
    "sid_quantiser_rkmeans": {"zh": "残差 k-means", "en": "residual k-means"},
    "sid_space_rqvae": {"zh": "RQ-VAE 编码器的隐向量 z", "en": "the RQ-VAE encoder's latent z"},
    "sid_space_rkmeans": {"zh": "电影的嵌入向量本身", "en": "the movie embedding itself"},
    "sid_map_header": {"zh": "码本地图：按第一个码着色", "en": "The codebooks as a map: coloured by the first code"},
    "sid_map_help": {
        "zh": "每个点是一部电影，位置是量化器所编码的向量（{space}）的二维 UMAP 投影，颜色是它的第一个码。第一个码相同的电影共享 ID 的第一个 "
              "token：解码器的第一步就是在这 {K} 个区域里挑。悬停可看片名和完整的 ID。",
        "en": "Each dot is a movie at a 2-D UMAP projection of the vector the quantiser coded ({space}); its colour is "
              "its first code. Movies with the same first code share the first token of their ID: the decoder's first "
              "step chooses among these {K} regions. Hover a dot for its title and its whole ID.",
    },
    "sid_map_computing": {"zh": "计算码本地图的 UMAP 投影（之后会缓存）…",
                          "en": "Computing the UMAP of the coded vectors (cached afterwards)…"},
    "sid_map_legend": {"zh": "第 {level} 个码", "en": "code {level} ="},
    "sid_level": {"zh": "第 {level} 层", "en": "level {level}"},
    "sid_axis_code": {"zh": "码", "en": "code"},
    "sid_axis_items": {"zh": "电影数", "en": "movies"},
    "sid_usage_header": {"zh": "每层码本的使用情况", "en": "Codebook usage per level"},
    "sid_usage_help": {
        "zh": "柱状图：每层每个码下有多少部电影（死码就是缺一根柱子，坍缩就是一根特别高）。表格：用了 K 个码中的几个、困惑度（等效码数）、"
              "量化到这一层后剩下的相对误差（在被编码的空间里；RQ-VAE 还给出解码回嵌入后的误差），以及训练中被重置的死码数。"
              "DR 靠 π 步里的 |c|⁴/4 惩罚防止坍缩；这里由量化器负责。",
        "en": "The bars: movies per code at each level (a dead code is a missing bar, collapse one very tall bar). The table: "
              "codes used of K, perplexity (the effective number of codes), the error left after each level relative "
              "to the coded vector (for the RQ-VAE also after decoding back to the embedding), and the dead codes "
              "reset during training. DR fights collapse with the |c|⁴/4 penalty in its π step; here the quantiser "
              "handles it.",
    },
    "sid_collisions": {
        "zh": "{n} 部电影共有 {unique} 种不同的 L 码组合：{colliding} 部电影与别的电影共用组合（{tuples} 个组合，最大的一个有 {largest} "
              "部），所以冲突码有 {codes} 种取值。",
        "en": "{n} movies have {unique} distinct L-code tuples: {colliding} movies share their tuple with another "
              "({tuples} tuples, the largest holds {largest}), so the collision code takes {codes} values.",
    },
    "sid_col_level": {"zh": "层", "en": "Level"},
    "sid_col_used": {"zh": "用到的码", "en": "Codes used"},
    "sid_col_perplexity": {"zh": "困惑度", "en": "Perplexity"},
    "sid_col_error": {"zh": "剩余误差（编码空间）", "en": "Error left (coded)"},
    "sid_col_decoder_error": {"zh": "剩余误差（解码后）", "en": "Error left (decoded)"},
    "sid_col_resets": {"zh": "重置死码", "en": "Codes reset"},
    "sid_col_possible": {"zh": "可能的路径数", "en": "Possible paths"},
    "sid_vs_dr_header": {"zh": "和 DR 的路径放在一起看", "en": "Beside DR's paths"},
    "sid_vs_dr_help": {
        "zh": "与 DR 页相同的统计量：把语义 ID 的前 L 个码看成 K^L 格子里的一条路径（冲突码之前）；DR 的路径是训练好的分配"
              "（每部电影 J 条路径，所以计数的是（电影，路径）对）。DR 模型训练好之后才会出现它那一行。",
        "en": "The statistics of the DR page: a semantic ID's first L codes as one path of the K^L lattice (before the "
              "collision code); DR's paths as trained (each movie on J paths, so it counts (movie, path) pairs). DR's "
              "row appears once its model is trained.",
    },
    "sid_row_sid": {"zh": "语义 ID 的码组（{quantiser}）", "en": "semantic-ID tuples ({quantiser})"},
    "sid_row_dr": {"zh": "DR 路径（训练时 α={alpha}，J={J}）", "en": "DR paths (trained α={alpha}, J={J})"},
    "sid_beam_header": {"zh": "一个用户的受约束束搜索", "en": "One user's constrained beam search"},
    "sid_beam_help": {
        "zh": "每一列是一个码的层级，每一行是一个码。每一步，解码器给束里每个前缀的每个下一个 token 打分，但只有前缀树里存在的（下面还有"
              "这个用户没看过的电影的）才算数；保留概率最高的 B 个。最后一步之后，每个束都是一部真实的电影。B 默认是在验证用户上选出的 {beam}。",
        "en": "Each column is a code level, each row a code. At every step the decoder scores every next token of every "
              "prefix in the beam, but only those in the trie (with a movie this user has not seen below) count; the B "
              "most probable are kept. After the last step every beam is a real movie. B starts at {beam}, chosen on "
              "validation users.",
    },
    "sid_beam": {"zh": "束宽 B（保留的前缀数）", "en": "Beam size B (prefixes kept)"},
    "sid_cost": {
        "zh": "代价：{steps} 个解码步，共打分 {n} 个（前缀，token）候选（暴力打分要算全部 {total} 个 ID）；这个用户的检索用时 {ms:.1f} ms"
              "（不含记录轨迹）。",
        "en": "Cost: {steps} decoder steps, {n} (prefix, token) candidates scored (brute force scores all {total} IDs); "
              "{ms:.1f} ms for this user's search (without recording the trace).",
    },
    "sid_col_beam_in": {"zh": "束中前缀", "en": "Prefixes in beam"},
    "sid_col_outputs": {"zh": "候选（前缀 × token）", "en": "Candidates (prefix × token)"},
    "sid_col_cut": {"zh": "不在 trie 中", "en": "Not in the trie"},
    "sid_col_history": {"zh": "只剩历史", "en": "Only history"},
    "sid_column_code": {"zh": "第 {level} 个码", "en": "code {level}"},
    "sid_column_collision": {"zh": "冲突码", "en": "collision code"},
    "sid_column_items": {"zh": "生成的电影", "en": "generated movies"},
    "sid_node_hover": {
        "zh": "{column} · 码 {code}<br>保留 {kept} · 剪掉 {pruned} · 下面只剩历史 {history} · 不在 trie 中 {cut}",
        "en": "{column} · code {code}<br>kept {kept} · pruned {pruned} · only history below {history} · not in the trie {cut}",
    },
    "sid_step_code": {
        "zh": "第 {level} 个码：束里 {beam_in} 个前缀 × {tokens} 个 token = {outputs} 个候选。{cut} 个不在前缀树里（没有电影的 ID 这样开头：叉），"
              "{history} 个下面只剩这个用户看过的电影（菱形）；其余 {scored} 个由解码器给出 p(前缀)，保留最高的 {kept} 个（黑圈；数字：该码保留/打分）。累计打分 {total}。",
        "en": "Code {level}: the beam's {beam_in} prefixes × {tokens} tokens = {outputs} candidates. {cut} are not in "
              "the trie (no movie's ID starts so: crosses) and {history} lead only to movies this user has seen "
              "(diamonds); the other {scored} get p(prefix) from the decoder and the {kept} most probable are kept "
              "(ringed; the numbers: kept / scored per code). Scored so far {total}.",
    },
    "sid_step_collision": {
        "zh": "冲突码：{beam_in} 个前缀 × {tokens} 个 token = {outputs}；{cut} 个不在前缀树里，{history} 个是看过的电影；{scored} 部电影得到 "
              "p(ID)，最高的 {kept} 个就是走完的束。返回前 {k} 部（橙色），命中 {hits} 部（绿色，它们的 ID 画成绿色路径）。累计打分 {total}。",
        "en": "Collision code: {beam_in} prefixes × {tokens} tokens = {outputs}; {cut} not in the trie, {history} "
              "already seen; {scored} movies get p(ID), the {kept} most probable are the finished beams. The top {k} are "
              "returned (orange), {hits} hits (green, their IDs drawn as green paths). Scored so far {total}.",
    },
    "sid_legend_lattice": {"zh": "所有码", "en": "all codes"},
    "sid_legend_edges": {"zh": "保留的前缀（最后两个码）", "en": "kept prefixes (last two codes)"},
    "sid_legend_earlier": {"zh": "之前保留的码", "en": "codes kept earlier"},
    "sid_legend_cut": {"zh": "不在 trie 中", "en": "not in the trie"},
    "sid_legend_history": {"zh": "下面只剩历史", "en": "only history below"},
    "sid_legend_pruned": {"zh": "打分后剪掉", "en": "scored, pruned"},
    "sid_legend_kept": {"zh": "保留（颜色：log10 p）", "en": "kept (colour: log10 p)"},
    "sid_legend_hit_path": {"zh": "命中电影的 ID", "en": "a hit's ID"},
    "sid_legend_items": {"zh": "生成的电影（绿：命中，橙：返回）", "en": "generated movies (green: hit, orange: returned)"},
    # ------------------------------------------------------------------ Compare
    "nav_compare": {"zh": "并排比较", "en": "Compare"},
    "home_page_compare": {
        "zh": "并排比较：五种方法与基线在同一数据、同一批用户、同一协议下的质量与代价，预算曲线，目录规模增长时的代价。",
        "en": "Compare: the five methods and the baselines on the same data, users and protocol: quality and cost, "
              "budget curves, and how cost grows with the catalogue.",
    },
    "cmp_title": {"zh": "并排比较：同一协议下的五种召回与基线",
                  "en": "Side by side: five retrievers and the baselines under one protocol"},
    "cmp_source_report": {"zh": "来自基准报告 {path}（{when}，{seeds} 个随机种子）",
                          "en": "From the benchmark report {path} ({when}, {seeds} seeds)"},
    "cmp_source_live": {"zh": "没有找到基准报告：下面是基线和当前已训练模型在测试用户上的评测（种子 0，每个模型训练完成时评测并保存）。"
                              "多种子的完整报告请运行 `python -m recall_core.bench`。",
                        "en": "No benchmark report found: below are the baselines and the trained models evaluated on the "
                              "test users (seed 0, each evaluated and stored when it was trained). For the full report "
                              "with several seeds run `python -m recall_core.bench`."},
    "cmp_compute_live": {"zh": "现场计算对比表", "en": "Compute the comparison live"},
    "results_computing": {"zh": "正在测试集上评测尚无记录的模型（每个模型只评测一次）…",
                          "en": "Evaluating the models without a stored test evaluation (once per model)…"},
    "cmp_table_header": {"zh": "质量与代价", "en": "Quality and cost"},
    "cmp_budget_header": {"zh": "预算曲线：花多少次模型调用，换多少召回", "en": "Budget curves: how much recall for how many model calls"},
    "cmp_growth_header": {"zh": "目录越大，代价怎样增长（构造的合成数据，所有索引服务同一个打分函数）",
                          "en": "How cost grows with the catalogue (constructed synthetic data, one scorer for every index)"},
    "cmp_scale_caption": {"zh": "来源：{path}（{cmd}）。构造的世界：{sizes} 个物品，打分函数 s(q,v) = ⟨q,v⟩ + λ·MLP([q, v, q⊙v]) 在建任何索引之前就固定，每个索引都为它而建（TDM 的树和 DR 的格子由它的 top-50 训练）。每个索引扫遍自己的旋钮，统一逐条查询、单线程计时；种子 {seeds}，测试查询 {queries} 条。",
                          "en": "Source: {path} ({cmd}). A constructed world: {sizes} items; the scorer s(q,v) = ⟨q,v⟩ + λ·MLP([q, v, q⊙v]) is fixed before any index is built, and every index is built for it (TDM's tree and DR's lattice are trained on its top-50). Every index sweeps its own knob; all are timed the same way, one query at a time on one thread; seeds {seeds}, {queries} test queries."},
    "cmp_scale_lam": {"zh": "打分函数的非线性 λ", "en": "Non-linearity of the scorer λ"},
    "cmp_scale_lam_value": {"zh": "λ = {lam:g}（{kind}）", "en": "λ = {lam:g} ({kind})"},
    "cmp_scale_linear": {"zh": "纯内积", "en": "pure inner product"},
    "cmp_scale_nonlinear": {"zh": "非线性，top-50 与内积只重合 {share:.0%}", "en": "non-linear: top-50 shares {share:.0%} with the inner product"},
    "cmp_scale_threshold": {"zh": "要达到精确 top-50 的多少", "en": "Share of the exact top-50 to reach"},
    "cmp_scale_measure": {"zh": "代价", "en": "Cost"},
    "cmp_scale_evaluations": {"zh": "每条查询的打分次数", "en": "evaluations per query"},
    "cmp_scale_ms": {"zh": "每条查询的毫秒数", "en": "ms per query"},
    "cmp_scale_table_caption": {"zh": "每格：打分次数（占目录的比例）· 毫秒 · 比暴力计算快几倍；达不到则给出最好的召回。",
                                "en": "Each cell: evaluations (share of the catalogue) · ms · speed-up over brute force; when not reached, the best recall."},
    "cmp_scale_not_reached": {"zh": "达不到（最好 {best:.3f}）", "en": "not reached (best {best:.3f})"},
    "cmp_scale_frontier": {"zh": "{n:,} 个物品时：召回 vs 代价（各索引所有设置的帕累托前沿，种子平均）",
                           "en": "At {n:,} items: recall vs cost (each index's Pareto frontier over its settings, mean over seeds)"},
    "cmp_scale_finding": {"zh": "{n:,} 个物品时，{method} 打分 {share:.2%} 的目录就达到 {t:.2f}，比暴力计算快 {speed:.1f} 倍。",
                          "en": "At {n:,} items, {method} reaches {t:.2f} scoring {share:.2%} of the catalogue, {speed:.1f}× faster than brute force."},
    "cmp_scale_finding_slow": {"zh": "{n:,} 个物品时，{method} 打分 {share:.2%} 的目录就达到 {t:.2f}，但比暴力计算慢（×{speed:.2f}）。",
                               "en": "At {n:,} items, {method} reaches {t:.2f} scoring {share:.2%} of the catalogue, but is slower than brute force (×{speed:.2f})."},
    "cmp_scale_finding_miss": {"zh": "{n:,} 个物品时，{method} 达不到 {t:.2f}（最好 {best:.3f}）。",
                               "en": "At {n:,} items, {method} does not reach {t:.2f} (best {best:.3f})."},
    "cmp_scale_missing": {"zh": "还没有规模实验的报告。运行 `python -m recall_core.scale --max-items 100000 --out data/bench/scale` 生成它。",
                          "en": "No scale-study report yet. Run `python -m recall_core.scale --max-items 100000 --out data/bench/scale` to make one."},
    "cmp_user_header": {"zh": "同一个用户，五种方法", "en": "One user, five methods"},
    "cmp_overlap_header": {"zh": "结果重合度（Jaccard）", "en": "Overlap of the results (Jaccard)"},
    "cmp_spent": {"zh": "打分 {n} 次 · 命中 {hits}", "en": "{n} evaluations · {hits} hits"},
    "cmp_missing_models": {"zh": "这些方法还没训练：{methods}。用左侧栏按钮训练后再来。",
                           "en": "Not trained yet: {methods}. Train them with the sidebar button and come back."},
    "cmp_paired_header": {
        "zh": "**与双塔逐用户配对比较**（每个用户先在各随机种子上取平均，再对测试用户做 bootstrap 95% 区间；区间不含 0 才算更好/更差）。"
              "最后一列是在验证用户上为每个种子选定的检索设置。",
        "en": "**Paired against the two-tower, user by user** (each user's recall averaged over the seeds, then a "
              "bootstrap 95% interval over test users; better / worse only when it excludes 0). The last column is the "
              "search setting chosen on validation users for each seed.",
    },
    "cmp_segments_header": {"zh": "谁更适合谁：按用户分组比较", "en": "Who wins for whom: methods by user segment"},
    "cmp_segments_intro": {
        "zh": "把测试用户按历史长度、兴趣的类型分散度（类型熵）和口味的大众程度各分成三等份。每根柱子是该组用户的 recall@50"
              "及其 95% 区间；柱上写着与双塔逐用户配对的差值——只有区间不含 0 才说“更好/更差”（better/worse）。",
        "en": "Test users cut into thirds by history length, how spread their genres are (entropy) and how mainstream "
              "their taste is. Each bar is the segment's recall@50 with its 95% interval; the number on it is the "
              "per-user paired difference to the two-tower, called better / worse only when its interval excludes 0.",
    },
    "cmp_segment_feature": {"zh": "按什么分组", "en": "Segment users by"},
    "cmp_segment_level": {"zh": "哪一组", "en": "Which third"},
    "cmp_segment_caption": {"zh": "这一组有 {n} 个测试用户，取值范围 {low:.2f} – {high:.2f}。",
                            "en": "{n} test users in this segment, values {low:.2f} – {high:.2f}."},
    "cmp_segment_users": {"zh": "这一组的用户（MovieLens 编号 · 取值，最典型的在前）",
                          "en": "Users of this segment (MovieLens id · value, most typical first)"},
    "cmp_segment_jump": {"zh": "在 {method} 页查看此用户", "en": "See this user on {method}"},
    "cmp_segments_missing": {"zh": "需要双塔和至少一个其他方法的模型才能分组比较。",
                             "en": "The segment view needs the two-tower and at least one other trained model."},
    "seg_history_length": {"zh": "历史长度（看过几部）", "en": "History length (movies liked)"},
    "seg_genre_entropy": {"zh": "兴趣分散度（类型熵，比特）", "en": "Spread of interests (genre entropy, bits)"},
    "seg_mainstream": {"zh": "口味的大众程度（平均 log 热度）", "en": "How mainstream (mean log popularity)"},
    "seg_level_low": {"zh": "低", "en": "low"},
    "seg_level_middle": {"zh": "中", "en": "middle"},
    "seg_level_high": {"zh": "高", "en": "high"},
    "claim_baseline": {
        "zh": "在 {dataset} 上（{users} 个测试用户，{seeds} 个随机种子）：双塔 recall@50 = {tt:.3f}，item-CF = {cf:.3f}。",
        "en": "On {dataset} ({users} test users, {seeds} seeds): two-tower recall@50 = {tt:.3f}, item-CF = {cf:.3f}.",
    },
    "claim_method": {
        "zh": "{method}：recall@50 = {r:.3f}（其模型遍历全部物品的上限 {ceiling:.3f}，索引达到上限的 {ratio:.1%}）。"
              "与双塔逐用户配对之差 {diff:+.3f}，95% 区间 [{low:+.3f}, {high:+.3f}]：{verdict}；"
              "上限与双塔之差 {cdiff:+.3f} [{clow:+.3f}, {chigh:+.3f}]：{cverdict}。",
        "en": "{method}: recall@50 = {r:.3f} (its model scoring every item reaches {ceiling:.3f}; the index keeps "
              "{ratio:.1%} of that). Paired per-user difference to the two-tower {diff:+.3f}, 95% interval "
              "[{low:+.3f}, {high:+.3f}]: {verdict}; ceiling minus two-tower {cdiff:+.3f} [{clow:+.3f}, {chigh:+.3f}]: "
              "{cverdict}.",
    },
    "claim_world": {
        "zh": "{method}：旋钮 {near_knob:g} 时 recall@50 = {near:.3f} ± {near_sd:.3f}，旋钮 {far_knob:g} 时 {far:.3f} ± {far_sd:.3f}"
              "（变化 {change:+.3f}）。",
        "en": "{method}: recall@50 {near:.3f} ± {near_sd:.3f} at knob {near_knob:g}, {far:.3f} ± {far_sd:.3f} at knob "
              "{far_knob:g} (change {change:+.3f}).",
    },
    "verdict_better": {"zh": "更好（区间不含 0）", "en": "better (the interval excludes 0)"},
    "verdict_worse": {"zh": "更差（区间不含 0）", "en": "worse (the interval excludes 0)"},
    "verdict_within_noise": {"zh": "在噪声之内（区间含 0）", "en": "within noise (the interval contains 0)"},
    "cmp_reading_header": {"zh": "怎么读这些结果", "en": "How to read these results"},
    "cmp_reading": {
        "zh": "- **质量**：“更好”由上面的配对表决定：每个测试用户上与双塔的差，再做 bootstrap 95% 区间；区间含 0 就是噪声之内。"
              "在 ml-100k 这么小、口味比较集中的数据上，双塔很强：内积模型数据少时最好训练。按用户分组看（上面的“谁更适合谁”），"
              "兴趣分散的用户才是交叉模型该赢的地方；首页的构造数据把这一点推到极端，并如实给出哪些方法在那里守住了召回、哪些没有。\n"
              "- **代价**：暴力打分要把每个物品都算一遍。TDM 每层只算 2B 个节点，总数约 2·B·树深；DR 先算格子里的 K + (D−1)·B·K 个节点再精排路径上的物品；"
              "NANN 每一跳只算邻居。目录只有 1,447 部电影时，这些索引省下的并不多；目录变大后它们各自要算多少、比暴力快多少，看上面“代价如何增长”的实测（有的方法在那里并没有达到目标，表里照实写出）。语义 ID 的生成器每步为 B 个前缀各算 K 个下一个码，共 L 步：代价由 K、L、B 决定，不直接随目录大小增长，但每个物品要先有一个码元组。\n"
              "- **什么时候选哪个**：模型能写成内积、要最简单的系统 → 双塔 + ANN；想用带注意力的复杂模型、能接受索引与模型一起训练 → TDM（树）或 DR（路径，一个物品可属于多个簇）；"
              "已经有一个训练好的复杂模型、不想改训练流程 → NANN（训练后建图，用模型本身搜索）。",
        "en": "- **Quality**: \"better\" is decided by the paired table above: each test user's difference to the "
              "two-tower, with a bootstrap 95% interval; an interval that contains 0 is within noise. On a small "
              "catalogue with focused tastes like ml-100k the two-tower is strong: an inner-product model is the "
              "easiest to train on little data. By segment (\"who wins for whom\" above), users with spread-out "
              "interests are where models that cross history and candidate should win; the Home page's constructed "
              "world pushes that to the extreme and says which methods keep their recall there and which do not.\n"
              "- **Cost**: brute force scores every item. TDM scores 2B nodes per level, about 2·B·depth in all; DR "
              "scores K + (D−1)·B·K lattice nodes, then reranks the movies on the paths; NANN scores only neighbours "
              "at each hop; the semantic-ID generator scores K next codes for each of B prefixes per step, L steps: a "
              "cost set by K, L and B, not directly by the catalogue's size. With 1,447 movies these indexes save little; how their cost grows with the catalogue, "
              "and which of them do not reach their targets, is measured in \"how cost grows\" above.\n"
              "- **When to choose which**: the model can be an inner product and you want the simplest system → "
              "two towers + ANN; you want an attention model and can train the index with it → TDM (a tree) or DR "
              "(paths; an item may belong to several clusters); you already have a trained complex model and do not "
              "want to touch training → NANN (graph built after training, searched with the model itself).",
    },
}


def translate(key: str, lang: str = DEFAULT_LANGUAGE, **fields) -> str:
    entry = STRINGS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**fields) if fields else text
