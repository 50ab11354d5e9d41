import string

from recall_core.i18n import LANGUAGES, STRINGS, translate


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_string_has_both_languages_with_same_fields():
    for key, entry in STRINGS.items():
        assert set(entry) == set(LANGUAGES), key
        assert placeholders(entry["zh"]) == placeholders(entry["en"]), key
        assert entry["zh"] != entry["en"] or not any(c.isalpha() for c in entry["en"] if c.isascii()) or \
            "{" in entry["en"], key


def test_translate_formats_and_falls_back():
    assert translate("hits_summary", "en", hits=2, k=10, recall=0.5) == "2/10 hits, recall 50.0%"
    assert translate("no-such-key", "en") == "no-such-key"
