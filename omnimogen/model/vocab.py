"""The unified vocabulary and the conversation renderer: the one module that does token-id arithmetic.

Ids, in order: special tokens, text tokens (a BPE trained on the instructions, or a pretrained
language model's own tokenizer), then motion code tokens, ``levels x codebook_size`` of them
(level-specific: code c of level l is ``motion_offset + l * K + c``).

A conversation renders as::

    <bos> <user> ...parts... <assistant> ...parts... <eoa> <user> ...

A text part is its text tokens; a motion part is ``<mo> CODES </mo>``, preceded by
``<name> NAME-TEXT`` when the part binds a placeholder (``<SourceMotion>``). ``CODES`` depends on
the layout:

- ``flat`` (the paper's): every latent step contributes its L codes in level order, 6 tokens per
  4 frames. ``ids`` holds the code tokens.
- ``grouped``: one position per latent step. ``ids`` holds ``<step>`` there and ``codes`` (T, L)
  holds the step's codes; the model embeds a step as the sum of its level embeddings and predicts
  the next step's codes with one head per level. Six times shorter.

The loss mask covers what the assistant says (its parts and its ``<eoa>``), not the prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError

SPECIALS = ("<pad>", "<bos>", "<eoa>", "<user>", "<assistant>", "<mo>", "</mo>", "<step>", "<name>")
LAYOUTS = ("flat", "grouped")


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True, eq=False)
class MotionCodes:
    """A motion as tokenizer codes (steps, levels), optionally bound to a placeholder name."""

    codes: np.ndarray  # (S, L) int
    name: str | None = None

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, MotionCodes)
            and self.name == other.name
            and np.array_equal(np.asarray(self.codes), np.asarray(other.codes))
        )


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    parts: tuple  # of TextPart | MotionCodes


@dataclass
class Rendered:
    ids: np.ndarray  # (T,) int64
    loss_mask: np.ndarray  # (T,) bool: predict this token
    codes: np.ndarray | None = None  # (T, L) int64, -1 off motion steps (grouped layout only)


class Vocab:
    """Token ids for text, structure and motion codes, for one text tokenizer and one layout."""

    def __init__(self, text_tokenizer, levels: int, codebook_size: int, layout: str = "grouped"):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
        self.text = text_tokenizer  # a tokenizers.Tokenizer that knows the SPECIALS
        missing = [s for s in SPECIALS if self.text.token_to_id(s) is None]
        if missing:
            raise FormatError(f"text tokenizer: special tokens {missing} are missing; use Vocab.extend() to add them.")
        self.levels, self.codebook_size, self.layout = levels, codebook_size, layout
        self.special = {s: self.text.token_to_id(s) for s in SPECIALS}
        self.special_ids = frozenset(self.special.values())
        self.text_size = self.text.get_vocab_size()
        self.motion_offset = self.text_size
        self.size = self.text_size + levels * codebook_size

    # ---- construction ----------------------------------------------------------------------------

    @classmethod
    def train_bpe(cls, texts, vocab_size: int, levels: int, codebook_size: int, layout: str = "grouped") -> Vocab:
        """Train a byte-level BPE on ``texts`` (the instruction corpus) with the special tokens first."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok, levels, codebook_size, layout)

    @classmethod
    def extend(cls, text_tokenizer, levels: int, codebook_size: int, layout: str = "grouped") -> Vocab:
        """The vocabulary of a pretrained language model's tokenizer (a ``tokenizers.Tokenizer``,
        e.g. ``AutoTokenizer.from_pretrained(...).backend_tokenizer``) plus our special tokens,
        which it appends after its own ids; the model's embeddings are resized to match."""
        from tokenizers import AddedToken

        text_tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
        return cls(text_tokenizer, levels, codebook_size, layout)

    def text_token_mask(self):
        """(text_size,) bool: ids that are ordinary text, not structure."""
        mask = np.ones(self.text_size, dtype=bool)
        mask[list(self.special_ids)] = False
        return mask

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.text.save(str(directory / "text_tokenizer.json"))
        meta = {"levels": self.levels, "codebook_size": self.codebook_size, "layout": self.layout}
        (directory / "vocab.json").write_text(json.dumps(meta))

    def fingerprint(self) -> str:
        """A short hash of the text tokenizer and the code layout: equal vocabularies give equal ids."""
        doc = json.dumps([self.text.to_str(), self.levels, self.codebook_size, self.layout])
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    @classmethod
    def load(cls, directory: str | Path) -> Vocab:
        from tokenizers import Tokenizer

        directory = Path(directory)
        try:
            meta = json.loads((directory / "vocab.json").read_text())
            tok = Tokenizer.from_file(str(directory / "text_tokenizer.json"))
        except FileNotFoundError as e:
            raise FormatError(f"{directory}: missing {Path(e.filename).name}.") from None
        return cls(tok, meta["levels"], meta["codebook_size"], meta["layout"])

    # ---- ids -------------------------------------------------------------------------------------

    def encode_text(self, text: str) -> list[int]:
        return self.text.encode(text, add_special_tokens=False).ids

    def decode_text(self, ids) -> str:
        return self.text.decode(list(ids), skip_special_tokens=False)

    def code_id(self, level: int, code):
        return self.motion_offset + level * self.codebook_size + code

    def is_motion(self, ids: np.ndarray) -> np.ndarray:
        return ids >= self.motion_offset

    def level_range(self, level: int) -> tuple[int, int]:
        start = self.code_id(level, 0)
        return start, start + self.codebook_size

    # ---- conversations ---------------------------------------------------------------------------

    def render(self, messages, *, generation_prompt: bool = False) -> Rendered:
        """Messages -> ids, loss mask (and codes for the grouped layout).

        With ``generation_prompt`` the result ends with ``<assistant>``, ready for the model to answer.
        """
        ids: list[int] = [self.special["<bos>"]]
        mask: list[bool] = [False]
        codes: list[np.ndarray] = [np.full(self.levels, -1)]
        blank = np.full(self.levels, -1)

        def emit(tokens, learn: bool, step_codes=None):
            ids.extend(tokens)
            mask.extend([learn] * len(tokens))
            codes.extend(step_codes if step_codes is not None else [blank] * len(tokens))

        for m in messages:
            if m.role not in ("user", "assistant"):
                raise ValueError(f"unknown role {m.role!r}")
            learn = m.role == "assistant"
            emit([self.special[f"<{m.role}>"]], False)
            for part in m.parts:
                if isinstance(part, TextPart):
                    emit(self.encode_text(part.text), learn)
                    continue
                c = self._check_codes(part.codes)
                if part.name:
                    emit([self.special["<name>"], *self.encode_text(part.name)], learn)
                emit([self.special["<mo>"]], learn)
                if self.layout == "flat":
                    emit([int(x) for x in self.code_id(np.arange(self.levels)[None], c).reshape(-1)], learn)
                else:
                    emit([self.special["<step>"]] * len(c), learn, list(c))
                emit([self.special["</mo>"]], learn)
            if learn:
                emit([self.special["<eoa>"]], True)
        if generation_prompt:
            emit([self.special["<assistant>"]], False)
        grouped = self.layout == "grouped"
        return Rendered(
            np.array(ids, dtype=np.int64),
            np.array(mask, dtype=bool),
            np.stack(codes).astype(np.int64) if grouped else None,
        )

    def parse(self, ids, codes=None) -> list[Message]:
        """The inverse of ``render`` (consecutive text parts come back merged into one)."""
        ids = [int(i) for i in ids]
        sp = self.special
        if not ids or ids[0] != sp["<bos>"]:
            raise ValueError("a rendered conversation starts with <bos>")
        messages: list[Message] = []
        role, parts, text_buf, k = None, [], [], 1

        def flush_text():
            if text_buf:
                parts.append(TextPart(self.decode_text(text_buf)))
                text_buf.clear()

        def close_message():
            flush_text()
            if role is not None:
                messages.append(Message(role, tuple(parts)))

        while k < len(ids):
            t = ids[k]
            if t in (sp["<user>"], sp["<assistant>"]):
                close_message()
                role, parts = ("user" if t == sp["<user>"] else "assistant"), []
                k += 1
            elif t == sp["<eoa>"]:
                k += 1
            elif t in (sp["<name>"], sp["<mo>"]):
                flush_text()
                name = None
                if t == sp["<name>"]:
                    end = _find(ids, sp["<mo>"], k, "a <name> without its <mo>")
                    name = self.decode_text(ids[k + 1 : end])
                    k = end
                end = _find(ids, sp["</mo>"], k, "a motion span without its </mo>")
                body = ids[k + 1 : end]
                if self.layout == "flat":
                    if len(body) % self.levels or not all(self.is_motion(np.array(body))):
                        raise ValueError(f"motion span at position {k} is not whole steps of {self.levels} codes")
                    c = (np.array(body, dtype=np.int64) - self.motion_offset).reshape(-1, self.levels)
                    c = c - np.arange(self.levels)[None] * self.codebook_size
                else:
                    c = np.asarray(codes)[k + 1 : end]
                parts.append(MotionCodes(c, name))
                k = end + 1
            elif t in self.special_ids:
                raise ValueError(f"unexpected {self.text.id_to_token(t)} at position {k}")
            else:
                text_buf.append(t)
                k += 1
        close_message()
        return messages

    def _check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes, dtype=np.int64)
        if c.ndim != 2 or c.shape[1] != self.levels or len(c) == 0:
            raise ValueError(f"motion codes must have shape (steps>0, {self.levels}), got {c.shape}")
        if c.min() < 0 or c.max() >= self.codebook_size:
            raise ValueError(f"motion codes must lie in [0, {self.codebook_size})")
        return c


def _find(ids: list[int], token: int, start: int, what: str) -> int:
    try:
        return ids.index(token, start)
    except ValueError:
        raise ValueError(f"{what} (from position {start})") from None
