"""Which text-encoder tokens make up which words of a caption (pure Python, no tokenizer needed).

The model's `encode_text` returns the word pieces it scored (`tokens[b][l]`); evaluation and the
demo need them grouped into words with character spans, so that a phrase given as a character
range (`grounding.json` `span`) or a word ("left") can be found among the token rows of a
similarity map. WordPiece (`##` continues a word, BERT/DistilBERT/MiniLM) and byte-level BPE /
SentencePiece (`Ġ` / `▁` starts a word, RoBERTa) are both handled.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

SPECIAL_TOKENS = frozenset({
    "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<mask>", "<unk>",
})

# Words that carry no motion content: the pointing game scores only the rest (see
# docs/evaluation.md). "person"-like subjects are here because every caption has one.
STOP_WORDS = frozenset("""
a an the this that these those with his her their its then and or but while as of to in on at
by for from into onto is are was were be being been it he she they them him himself herself
themselves person someone somebody man woman human figure subject individual guy one
""".split())

_BPE_STARTS = ("Ġ", "▁")


@dataclass
class Word:
    """One word of the caption: its text, character span [start, end) and token positions."""

    text: str
    start: int
    end: int
    tokens: list[int] = field(default_factory=list)

    @property
    def is_content(self) -> bool:
        t = self.text.lower()
        return any(c.isalnum() for c in t) and t not in STOP_WORDS


def _fold(text: str) -> str:
    # BERT-uncased lower-cases and strips accents; fold the caption the same way, keeping one
    # output character per input character so that positions still index the original string.
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)
        base = "".join(c for c in base if unicodedata.category(c) != "Mn") or ch
        out.append(base[0].lower()[:1] or ch)
    return "".join(out)


def _piece_text(token: str) -> tuple[str, bool | None]:
    """(text to look for, starts_word): True/False when the token says so, None when unknown."""
    if token.startswith("##"):
        return token[2:], False
    if token.startswith(_BPE_STARTS):
        return token[1:], True
    return token, None


def word_token_groups(caption: str, tokens: list[str]) -> list[Word]:
    """Group the token positions of one caption into its words, with character spans.

    `tokens` is the model's list for this caption (positions index rows of its similarity map);
    special tokens and padding are skipped. Tokens that cannot be found in the caption ([UNK],
    normalisation the folding does not undo) are skipped, so a word may lack some pieces but
    never gets a wrong one.
    """
    folded = _fold(caption)
    bpe = any(t.startswith(_BPE_STARTS) for t in tokens)
    words: list[Word] = []
    cursor = 0
    for pos, token in enumerate(tokens):
        if token in SPECIAL_TOKENS or not token:
            continue
        piece, starts = _piece_text(token)
        if not piece:
            continue
        at = folded.find(piece.lower(), cursor)
        if at < 0:
            continue
        end = at + len(piece)
        if starts is None:
            # WordPiece without "##" starts a word; in BPE mode a token without the marker
            # continues one unless it is the very first or follows a gap.
            starts = not bpe or not words
        prev = words[-1] if words else None
        joins = (not starts and prev is not None and at == prev.end
                 and (piece[0].isalnum() == prev.text[-1].isalnum()))
        if joins:
            prev.end = end
            prev.text = caption[prev.start:end]
            prev.tokens.append(pos)
        else:
            words.append(Word(caption[at:end], at, end, [pos]))
        cursor = end
    return words


def words_in_span(words: list[Word], start: int, end: int) -> list[Word]:
    """The words overlapping the character range [start, end)."""
    return [w for w in words if w.start < end and w.end > start]


_WORD_RE = re.compile(r"[a-z]+")


def content_words(words: list[Word]) -> list[Word]:
    """The words the pointing game scores: not stop words, not punctuation."""
    return [w for w in words if w.is_content]


def normalise_word(text: str) -> str:
    """Lower-case letters only ("Left," -> "left"), for matching words against vocabularies."""
    return "".join(_WORD_RE.findall(text.lower()))
