"""Transformer encoder over SMILES tokens, regressing the target from the sequence alone.

Tokens come from the regular expression of the Molecular Transformer (Schwaller et al. 2019). A SMILES
whose tokens do not join back to it is refused, never silently cut. The vocabulary is built from the
training part and travels with the model; unseen tokens map to UNK. Random atom orders of each molecule
(SMILES enumeration) augment training and are averaged at prediction time.

torch is imported inside functions only, so reading a config or skipping a run never pays for it.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from trainer.chem import canonical_smiles, molecule
from trainer.errors import BadInput
from trainer.strict import Strict

if TYPE_CHECKING:
    from trainer.data import Part, SplitData
    from trainer.models import StepLogger

TOKEN_PATTERN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
PAD, UNK, CLS = "<pad>", "<unk>", "<cls>"
SPECIAL_TOKENS = (PAD, UNK, CLS)
SAMPLE_ROWS = 4


class Params(Strict):
    """Hyperparameters of the `model:` section when `family: transformer`."""

    d_model: int = Field(128, ge=64, le=256, description="Width of token embeddings and encoder layers.")
    heads: int = Field(4, ge=1, le=16, description="Attention heads; must divide d_model.")
    layers: int = Field(3, ge=2, le=4)
    feedforward: int = Field(256, ge=16, le=4096, description="Width of each layer's feed-forward block.")
    dropout: float = Field(0.1, ge=0, lt=1)
    pooling: Literal["mean", "cls"] = Field("mean", description="Mean over tokens, or a leading CLS token.")
    epochs: int = Field(100, ge=1, le=10000, description="Most epochs; early stopping may end sooner.")
    patience: int = Field(20, ge=1, description="Epochs without a better validation RMSE before stopping.")
    batch_size: int = Field(64, ge=1, le=4096)
    learning_rate: float = Field(0.0005, gt=0, le=1, description="Peak AdamW rate, after the warm-up.")
    weight_decay: float = Field(0.01, ge=0, le=1)
    warmup_epochs: int = Field(5, ge=0, description="Linear warm-up; then cosine decay to zero at `epochs`.")
    augment: int = Field(
        10,
        ge=0,
        le=200,
        description="Random SMILES per training molecule; each epoch draws one form of each.",
    )
    tta: int = Field(10, ge=0, le=200, description="Random SMILES averaged with the canonical one at prediction.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available, else CPU.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Params:
        if self.d_model % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide d_model ({self.d_model})")
        return self


def tokenize(smiles: str) -> list[str] | None:
    """The tokens of `smiles`, or None when they do not join back to it (a character the pattern misses)."""
    tokens = TOKEN_PATTERN.findall(smiles)
    return tokens if "".join(tokens) == smiles else None


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id, special tokens first; built from training SMILES only."""

    tokens: tuple[str, ...]

    @classmethod
    def build(cls, tokenized: Sequence[Sequence[str]]) -> Vocabulary:
        seen = sorted({token for tokens in tokenized for token in tokens})
        return cls(tokens=SPECIAL_TOKENS + tuple(seen))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str], with_cls: bool) -> np.ndarray:
        index = self._index
        unknown = index[UNK]
        ids = [index.get(token, unknown) for token in tokens]
        return np.array([index[CLS], *ids] if with_cls else ids, dtype=np.int64)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {token: position for position, token in enumerate(self.tokens)}


def random_forms(smiles: str, count: int, seed: int) -> list[str]:
    """`smiles` (which must parse), then `count` seeded random-atom-order SMILES of the same molecule."""
    from rdkit import Chem

    if count == 0:
        return [smiles]
    return [smiles, *Chem.MolToRandomSmilesVect(molecule(smiles), count, randomSeed=int(seed))]


def train(params: Params, split: SplitData, seed: int, log_step: StepLogger) -> SmilesTransformer:
    """Fit on the training part with early stopping on the validation part's RMSE.

    Every part is tokenised first, so an untokenisable SMILES is refused before any fitting, wherever it is.
    """
    from trainer.models import _transformer_net as net

    device = net.resolve_device(params.device)
    net.seed_everything(seed)
    train_tokens = _tokenize_part(split.train)
    _tokenize_part(split.test)
    vocabulary = Vocabulary.build(train_tokens)
    with_cls = params.pooling == "cls"
    seeds = np.random.default_rng([seed, 0]).integers(1, 2**31 - 1, size=len(split.train))
    train_forms = [
        [vocabulary.encode(tokens, with_cls) for tokens in _usable_tokens(random_forms(text, params.augment, s))]
        for text, s in zip(split.train.smiles, seeds, strict=True)
    ]
    valid_ids = [vocabulary.encode(tokens, with_cls) for tokens in _tokenize_part(split.valid)]
    network = net.SmilesEncoder(params, len(vocabulary), float(split.train.y.mean()), float(split.train.y.std()))
    started = time.perf_counter()
    fit = net.fit(
        network,
        params,
        train_forms,
        split.train.y,
        valid_ids,
        split.valid.y,
        device=device,
        seed=seed,
        log_step=log_step,
        progress=sys.stderr.isatty(),
    )
    return SmilesTransformer(
        params=params,
        vocabulary=vocabulary,
        network=network,
        device=device,
        seed=seed,
        facts={
            "device": str(device),
            "best_epoch": fit.best_epoch,
            "epochs_run": fit.epochs_run,
            "best_valid_rmse": round(fit.best_valid_rmse, 6),
            "vocabulary_size": len(vocabulary),
            "parameters": net.parameter_count(network),
            "torch_threads": net.thread_count(),
            "fit_seconds": round(time.perf_counter() - started, 1),
        },
    )


def _tokenize_part(part: Part) -> list[list[str]]:
    """Tokens of every SMILES of a part; the first one that does not tokenise is refused, with its line."""
    tokenized = []
    for text, line in zip(part.smiles, part.lines, strict=True):
        tokens = tokenize(text)
        if tokens is None:
            gap = _first_gap(text)
            raise BadInput(
                f"line {line}: SMILES {text!r} does not tokenise back to itself"
                f" (no token matches {text[gap]!r} at character {gap + 1})"
            )
        tokenized.append(tokens)
    return tokenized


def _first_gap(text: str) -> int:
    """Index of the first character that no token covers."""
    position = 0
    for match in TOKEN_PATTERN.finditer(text):
        if match.start() != position:
            break
        position = match.end()
    return position


def _usable_tokens(forms: Sequence[str]) -> list[list[str]]:
    """Tokens of the forms that tokenise; a random form the pattern misses (rare) is left out."""
    return [tokens for tokens in map(tokenize, forms) if tokens is not None]


class SmilesTransformer:
    """A fitted encoder with its vocabulary: canonicalise, enumerate, tokenise, predict and average."""

    def __init__(
        self,
        params: Params,
        vocabulary: Vocabulary,
        network: Any,
        device: Any,
        seed: int,
        facts: dict[str, Any],
    ) -> None:
        self.params = params
        self.vocabulary = vocabulary
        self.network = network
        self.device = device
        self.seed = seed
        self.facts = facts

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """Mean over the canonical SMILES and `tta` random forms; NaN where RDKit or the tokeniser refuse."""
        from trainer.models import _transformer_net as net

        owners, encoded = [], []
        for row, forms in enumerate(map(self._forms, smiles)):
            owners.extend([row] * len(forms))
            encoded.extend(self.vocabulary.encode(tokens, self.params.pooling == "cls") for tokens in forms)
        outputs = net.predict_ids(self.network, encoded, self.params.batch_size, self.device)
        totals = np.bincount(owners, weights=outputs, minlength=len(smiles))
        counts = np.bincount(owners, minlength=len(smiles))
        with np.errstate(invalid="ignore"):
            return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)

    def _forms(self, text: Any) -> list[list[str]]:
        canonical = canonical_smiles(text)
        if canonical is None or tokenize(canonical) is None:
            return []
        return _usable_tokens(random_forms(canonical, self.params.tta, self.seed + 1))

    def log_native(self, name: str, sample_smiles: Sequence[str]) -> None:
        from trainer.models import _transformer_net as net

        with_cls = self.params.pooling == "cls"
        sample = [self.vocabulary.encode(tokens, with_cls) for tokens in _usable_tokens(sample_smiles[:SAMPLE_ROWS])]
        net.log_pytorch_model(self.network, name, sample, self.vocabulary.tokens, TOKEN_PATTERN.pattern)

    def summary(self) -> dict[str, Any]:
        return dict(self.facts)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle with the network on the CPU, so a model fitted on a GPU loads anywhere."""
        from trainer.models import _transformer_net as net

        return {**self.__dict__, "network": net.cpu_copy(self.network), "device": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from trainer.models import _transformer_net as net

        self.__dict__.update(state)
        self.device = net.resolve_device(self.params.device, required=False)
        self.network.to(self.device)
