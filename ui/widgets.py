"""Widgets several pages share: the test-user picker and its history, translated choices, hit counts, the
ranked result list and the budget curve of a method page."""
from __future__ import annotations

import streamlit as st

from recall_core.data import Split
from recall_core.i18n import translate
from recall_core.protocol import count_hits
from recall_core.viz.curves import budget_curve_figure
from recall_core.viz.tables import history_frame, ranking_frame

from .state import alert, lang, t


def hits_summary(items, truth, k: int) -> str:
    """"n of the K returned are in the held-out half (recall r)" for one user."""
    hits = count_hits(items, truth)
    return t("hits_summary", hits=hits, k=k, recall=hits / max(len(truth), 1))


def localized_choice(widget, label: str, options: list, format_func, key: str, index: int = 0, **kwargs):
    """A selectbox / radio whose option labels are translated.

    One widget per language (``key_zh`` / ``key_en``): Streamlit keeps a widget's labels by key, so a
    language switch would otherwise show stale labels.  The chosen option survives the switch, and
    ``format_func(option, lang)`` gets the language explicitly, since Streamlit may call it outside
    the script run.
    """
    current = lang()
    remembered = st.session_state.get(f"{key}__value", options[index] if options else None)
    position = options.index(remembered) if remembered in options else index
    value = widget(label, options, index=position, format_func=lambda o: format_func(o, current),
                   key=f"{key}_{current}", **kwargs)
    st.session_state[f"{key}__value"] = value
    return value


def user_picker(split: Split, key: str = "user") -> int:
    """Select a test user; returns the row in ``split.test`` and shows the input history."""
    test = split.test

    def label(row: int, current: str) -> str:
        user = int(test.users[row])
        profile = " / ".join(split.user_profile(user).values()) or "—"
        return translate("user_label", current, raw=int(split.raw_users[user]), n=len(test.inputs[row]),
                         profile=profile)

    wanted = st.query_params.get("user")  # a deep link: ?user=<MovieLens user id>
    if wanted is not None and st.session_state.get(f"{key}__linked") != wanted:  # each new link once
        st.session_state[f"{key}__linked"] = wanted
        rows = {int(split.raw_users[u]): r for r, u in enumerate(test.users)}
        if wanted.strip().lstrip("-").isdigit() and int(wanted) in rows:
            st.session_state[f"{key}__value"] = rows[int(wanted)]
        else:
            alert("warning", t("unknown_user", user=wanted[:40], n=len(test)))
    row = localized_choice(st.selectbox, t("pick_user"), list(range(len(test))), label, key)
    with st.expander(t("history_header") + f" · {len(test.inputs[row])}", expanded=False):
        st.dataframe(history_frame(split.catalogue, test.inputs[row][::-1], lang()), hide_index=True,
                     width="stretch", height=240)
        st.caption(t("truth_header", n=len(test.truths[row])))
    return int(row)


def ranked_result(catalogue, items, scores, truth, k: int) -> None:
    """The returned movies, best first, with the hits marked, under "n of the K are in the held-out half"."""
    st.markdown(f"**{t('result_header')}** · " + hits_summary(items, truth, k))
    st.dataframe(ranking_frame(catalogue, items, scores, truth, lang()), hide_index=True, width="stretch", height=320)


def budget_section(name: str, curve: list[dict] | None, knob: str, ceiling: float, key: str) -> None:
    """A method page's budget curve (recall@50 against evaluations, validation users) under its header."""
    if not curve:
        return
    st.subheader(t("budget_header"))
    st.caption(t("budget_on_validation"))
    language = lang()
    figure = cached_figure(("budget", name, curve, knob, ceiling, language),
                           lambda: budget_curve_figure({name: curve}, {name: knob}, {name: ceiling}, language))
    st.plotly_chart(figure, width="stretch", key=key)


def cached_figure(key: tuple, build):
    """``build()``'s figure, made once per server for ``key``, which must name everything the figure shows (its
    data, or a file and its modification time, the widgets' values, the language).  Sessions share it read-only:
    ``st.plotly_chart`` copies a figure before sending it."""
    return _cached_figure(key, build)


@st.cache_resource(show_spinner=False, max_entries=128)
def _cached_figure(key: tuple, _build):
    return _build()



def html_download(fig, file_stem: str, key: str) -> None:
    """Save an animation as a standalone interactive HTML file (built only when the button is pressed)."""
    st.download_button(t("download_html"), lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                       file_name=f"{file_stem}.html", mime="text/html", key=key, on_click="ignore")
