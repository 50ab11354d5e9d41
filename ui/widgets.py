"""Widgets several pages share: the test-user picker and its history."""
from __future__ import annotations

import streamlit as st

from recall_core.data import Split
from recall_core.i18n import translate
from recall_core.viz.tables import history_frame

from .state import lang, t


def user_picker(split: Split, key: str = "user") -> int:
    """Select a test user; returns the row in ``split.test`` and shows the input history."""
    test = split.test
    current = lang()  # fixed now: format_func may be called outside this script run

    def label(row: int) -> str:
        user = int(test.users[row])
        profile = " / ".join(split.user_profile(user).values()) or "—"
        return translate("user_label", current, raw=int(split.raw_users[user]), n=len(test.inputs[row]),
                         profile=profile)

    # one widget per language (labels are translated); the chosen row survives a language switch
    remembered = min(st.session_state.get(f"{key}_row", 0), len(test) - 1)
    row = st.selectbox(t("pick_user"), range(len(test)), index=remembered, format_func=label, key=f"{key}_{current}")
    st.session_state[f"{key}_row"] = row
    with st.expander(t("history_header") + f" · {len(test.inputs[row])}", expanded=False):
        st.dataframe(history_frame(split.catalogue, test.inputs[row][::-1], lang()), hide_index=True,
                     width="stretch", height=240)
        st.caption(t("truth_header", n=len(test.truths[row])))
    return int(row)
