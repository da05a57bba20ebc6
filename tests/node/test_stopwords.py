"""Stop-word lists by language (node/stopwords/): the data files and their loading.

The files are Qdrant's lists transcribed; the counts below are the entries of each Rust array
(duplicates included, as Qdrant ships them) and the distinct words, with a digest of the file,
so that a damaged, re-sorted or trimmed file fails here.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

from node.errors import FormatError
from node.stopwords import ALIASES, LANGUAGES, canonical, entries, words_for

# language: (entries in Qdrant's array, distinct words, sha256 of the file, first 16 hex digits)
COUNTS = {
    "arabic": (754, 701, "d57c6e59d41cdd75"),
    "azerbaijani": (165, 165, "98cd88182cdaca89"),
    "basque": (326, 258, "6285e4424de3fd27"),
    "bengali": (398, 398, "a137280568f4d3e1"),
    "catalan": (279, 279, "7c95ea6ac6aef791"),
    "chinese": (841, 841, "1d4460e24f29b274"),
    "danish": (94, 94, "1bedc9cf5a8830da"),
    "dutch": (101, 101, "e5a2a7c390fe3ad0"),
    "english": (179, 179, "019f104ba2ed0743"),
    "finnish": (235, 229, "952af766edc9b8e7"),
    "french": (157, 157, "58ac7f7c074b70dc"),
    "german": (232, 232, "f0c25acd7ec02a31"),
    "greek": (265, 265, "7a97c6dc81144f7e"),
    "hebrew": (221, 193, "f8614c07e75711fc"),
    "hinglish": (1036, 1036, "0c88c0952998450c"),
    "hungarian": (199, 198, "64a68b5ebaa616b2"),
    "indonesian": (758, 757, "1677a81930c38f52"),
    "italian": (279, 279, "293d7841f198e401"),
    "japanese": (149, 149, "24cdb70a8e7075f5"),
    "kazakh": (324, 276, "2fec4b85ccf2a578"),
    "nepali": (255, 254, "a1f802049f550c3d"),
    "norwegian": (176, 172, "f7e5b42208ccf1b1"),
    "portuguese": (207, 207, "6e7b98378c6b7282"),
    "romanian": (356, 356, "b7920f3b091c63e5"),
    "russian": (151, 151, "1743191192b4a4f7"),
    "slovene": (1784, 1784, "65d95c97bdddaf5c"),
    "spanish": (313, 313, "6125eadf28ba664a"),
    "swedish": (114, 114, "2a9d9d756bc4257d"),
    "tajik": (163, 163, "fe7239fa6dd8706b"),
    "turkish": (53, 53, "f2c7f0c2bd3dba42"),
}

# A few words of each list: a common one (mostly the one Qdrant's own test names), then the
# list's first and last entries.
KNOWN = {
    "arabic": ["في", "إذ", "هبّ"],
    "azerbaijani": ["və", "a", "zaman"],
    "basque": ["eta", "ahala", "zuzen"],
    "bengali": ["এবং", "অতএব", "\u09b9\u09df"],
    "catalan": ["i", "a", "ús"],
    "chinese": ["的", "一", "是不是"],
    "danish": ["i", "og", "sådan"],
    "dutch": ["en", "de", "andere"],
    "english": ["and", "i", "wouldn't"],
    "finnish": ["ja", "olla", "itse"],
    "french": ["et", "au", "eussent"],
    "german": ["und", "aber", "zwischen"],
    "greek": ["και", "αλλα", "ᾧ"],
    "hebrew": ["את", "אני", "או"],
    "hinglish": ["aur", "a", "yup"],
    "hungarian": ["és", "a", "volna"],
    "indonesian": ["dan", "ada", "yang"],
    "italian": ["e", "ad", "stando"],
    "japanese": ["の", "あそこ", "関する"],
    "kazakh": ["жоқ", "ах", "әншейін"],
    "nepali": ["र", "छ", "हरेक"],
    "norwegian": ["ikkje", "og", "vart"],
    "portuguese": ["e", "a", "vos"],
    "romanian": ["ar", "a", "ţie"],
    "russian": ["в", "и", "между"],
    "slovene": ["in", "ali", "zmogl"],
    "spanish": ["y", "de", "tened"],
    "swedish": ["det", "och", "vilkas"],
    "tajik": ["ва", "аз", "рӯ"],
    "turkish": ["ve", "acaba", "yani"],
}


def test_every_language_of_qdrants_enum_has_a_list():
    assert sorted(COUNTS) == sorted(LANGUAGES) == sorted(KNOWN)
    assert len(LANGUAGES) == 30
    assert set(ALIASES.values()) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_list_counts_and_digest(language):
    n_entries, n_distinct, digest = COUNTS[language]
    raw = resources.files("node.stopwords").joinpath(f"{language}.txt").read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw and b"\n\n" not in raw
    assert len(entries(language)) == n_entries
    assert len(words_for(language)) == n_distinct
    assert hashlib.sha256(raw).hexdigest()[:16] == digest


@pytest.mark.parametrize("language", LANGUAGES)
def test_known_words(language):
    words = words_for(language)
    for word in KNOWN[language]:
        assert word in words, (language, word)
    assert "qdrant" not in words
    assert (entries(language)[0], entries(language)[-1]) == tuple(KNOWN[language][1:])


def test_words_are_kept_as_qdrant_wrote_them():
    # a trailing space or tab, a multi-word entry, a precomposed Bengali letter: all kept
    assert "ala " in words_for("basque") and "ala" not in words_for("basque")
    assert "gainera \t" in words_for("basque")
    assert "сенен\tонан" in words_for("kazakh")
    assert "ё ин ки  " in words_for("tajik")
    assert "ما أفعله" in words_for("arabic") and "des de" in words_for("catalan")
    assert "कम से कम" in words_for("nepali") and "במקום שבו" in words_for("hebrew")
    assert "হয়" in words_for("bengali") and "হয়" in words_for("bengali")  # U+09DF and য+়


def test_lists_are_read_once():
    assert words_for("german") is words_for("de") is words_for("german")


def test_aliases_and_case():
    assert canonical("en") == "english" and canonical("hi-en") == "hinglish"
    assert canonical("English") is None and canonical(None) is None
    assert words_for("fr") == words_for("french")


def test_unknown_language_names_it():
    with pytest.raises(FormatError, match=r"unknown variant `klingon`, expected one of `arabic`"):
        words_for("klingon")
    with pytest.raises(FormatError, match="unknown variant `English`"):
        words_for("English")


def test_the_lists_travel_with_the_package():
    """`pip install .` and the image carry the files: they are package data of node.stopwords."""
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads(Path(__file__).parents[2].joinpath("pyproject.toml").read_text())
    assert "*.txt" in pyproject["tool"]["setuptools"]["package-data"]["node.stopwords"]
    names = {p.name for p in resources.files("node.stopwords").iterdir()}
    assert {f"{language}.txt" for language in LANGUAGES} <= names
