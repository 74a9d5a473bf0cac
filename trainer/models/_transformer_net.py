"""The torch side of the transformer family: the network, its training loop and batched inference.

Kept apart from `transformer.py` because a torch module class needs torch when it is defined; this module
is imported only once a transformer actually trains or predicts.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from trainer.errors import BadInput

if TYPE_CHECKING:
    from trainer.models.transformer import Params

PAD_ID = 0
GRADIENT_CLIP = 1.0
BUCKET_BATCHES = 8


class SmilesEncoder(nn.Module):
    """Token ids (0 pads) in, the target in its own units out.

    The training target's mean and spread are buffers, so the saved module alone gives predictions.
    """

    def __init__(self, params: Params, vocabulary_size: int, y_mean: float, y_std: float) -> None:
        super().__init__()
        self.pooling = params.pooling
        self.width = params.d_model
        self.embedding = nn.Embedding(vocabulary_size, params.d_model, padding_idx=PAD_ID)
        layer = nn.TransformerEncoderLayer(
            params.d_model,
            params.heads,
            params.feedforward,
            params.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, params.layers, norm=nn.LayerNorm(params.d_model), enable_nested_tensor=False
        )
        self.input_dropout = nn.Dropout(params.dropout)
        self.head = nn.Sequential(
            nn.Linear(params.d_model, params.d_model),
            nn.GELU(),
            nn.Dropout(params.dropout),
            nn.Linear(params.d_model, 1),
        )
        self.register_buffer("y_mean", torch.tensor(y_mean, dtype=torch.float32))
        self.register_buffer("y_std", torch.tensor(y_std if y_std > 0 else 1.0, dtype=torch.float32))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        padding = ids == PAD_ID
        tokens = self.embedding(ids) + _positions(ids.shape[1], self.width, ids.device)
        encoded = self.encoder(self.input_dropout(tokens), src_key_padding_mask=padding)
        if self.pooling == "cls":
            pooled = encoded[:, 0]
        else:
            keep = (~padding).unsqueeze(-1).to(encoded.dtype)
            pooled = (encoded * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1) * self.y_std + self.y_mean


def _positions(length: int, width: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal position encodings (Vaswani et al. 2017): any length, nothing to learn."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / width))
    table = torch.zeros(length, width, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def resolve_device(requested: str, required: bool = True) -> torch.device:
    """auto: CUDA when available, else CPU. An explicit `cuda` without one is bad input when `required`."""
    available = torch.cuda.is_available()
    if requested == "cuda" and not available and required:
        raise BadInput("model.device: cuda was asked for but torch sees no CUDA device (use auto or cpu)")
    if requested != "cpu" and available:
        # cuBLAS is deterministic only with a fixed workspace; it reads this before its first call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Deterministic kernels while training, then the caller's setting back."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def thread_count() -> int:
    return torch.get_num_threads()


def use_threads(count: int) -> None:
    torch.set_num_threads(count)


def cpu_copy(network: nn.Module) -> nn.Module:
    return copy.deepcopy(network).cpu()


def pad(sequences: Sequence[np.ndarray]) -> torch.Tensor:
    batch = np.full((len(sequences), max(map(len, sequences))), PAD_ID, dtype=np.int64)
    for row, ids in enumerate(sequences):
        batch[row, : len(ids)] = ids
    return torch.from_numpy(batch)


@dataclass(frozen=True)
class FitResult:
    best_epoch: int
    epochs_run: int
    best_valid_rmse: float


def fit(
    network: SmilesEncoder,
    params: Params,
    train_forms: Sequence[Sequence[np.ndarray]],
    train_y: np.ndarray,
    valid_ids: Sequence[np.ndarray],
    valid_y: np.ndarray,
    *,
    device: torch.device,
    seed: int,
    log_step: Callable[[dict[str, float], int], None],
    progress: bool,
) -> FitResult:
    """AdamW with linear warm-up and cosine decay; the weights of the best validation RMSE are restored.

    Each epoch draws one form (canonical or random) of every training molecule, in a seeded order.
    """
    from tqdm import tqdm

    rng = np.random.default_rng([seed, 1])
    network.to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    steps_per_epoch = math.ceil(len(train_forms) / params.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(params.warmup_epochs * steps_per_epoch, params.epochs * steps_per_epoch)
    )
    targets = torch.tensor(train_y, dtype=torch.float32)
    form_counts = np.array([len(forms) for forms in train_forms])
    best_rmse, best_epoch, best_state = math.inf, 0, copy.deepcopy(network.state_dict())
    epochs = tqdm(range(1, params.epochs + 1), desc="transformer", unit="epoch", disable=not progress)
    epoch = 0
    with deterministic_algorithms():
        for epoch in epochs:
            chosen = rng.integers(0, form_counts)
            sequences = [forms[form] for forms, form in zip(train_forms, chosen, strict=True)]
            network.train()
            total_loss = 0.0
            for rows in _similar_length_batches(sequences, params.batch_size, rng):
                ids = pad([sequences[row] for row in rows])
                error = (network(ids.to(device)) - targets[rows].to(device)) / network.y_std
                loss = (error**2).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), GRADIENT_CLIP)
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(rows)
            valid_error = predict_ids(network, valid_ids, params.batch_size, device) - valid_y
            valid_rmse = float(np.sqrt(np.mean(valid_error**2)))
            metrics = {
                "train_loss": total_loss / len(sequences),
                "valid_loss": float(np.mean(valid_error**2)) / float(network.y_std) ** 2,
                "valid_rmse": valid_rmse,
            }
            log_step({f"curve_{name}": value for name, value in metrics.items()}, epoch)
            if valid_rmse < best_rmse:
                best_rmse, best_epoch, best_state = valid_rmse, epoch, copy.deepcopy(network.state_dict())
            _report(epochs, epoch, params.epochs, metrics, best_rmse, best_epoch, progress)
            if epoch - best_epoch >= params.patience:
                break
    network.load_state_dict(best_state)
    network.eval()
    return FitResult(best_epoch=best_epoch, epochs_run=epoch, best_valid_rmse=best_rmse)


def _similar_length_batches(
    sequences: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches whose members have similar lengths, so little compute goes to padding.

    Molecules are shuffled, sorted by length within windows of a few batches, cut into batches, and the
    batches shuffled again.
    """
    lengths = np.array([len(ids) for ids in sequences])
    order = rng.permutation(len(sequences))
    window = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[first : first + batch_size] for first in range(0, len(chunk), batch_size))
    return [batches[index] for index in rng.permutation(len(batches))]


def _warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        done = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))

    return factor


def _report(
    epochs,
    epoch: int,
    most: int,
    metrics: dict[str, float],
    best_rmse: float,
    best_epoch: int,
    progress: bool,
) -> None:
    """A progress bar on a terminal, one plain line per epoch otherwise (container logs, CI)."""
    if progress:
        epochs.set_postfix(valid_rmse=f"{metrics['valid_rmse']:.3f}", best=f"{best_rmse:.3f}@{best_epoch}")
    else:
        print(
            f"transformer epoch {epoch}/{most}: train_loss {metrics['train_loss']:.4f}"
            f" valid_rmse {metrics['valid_rmse']:.4f} (best {best_rmse:.4f} at epoch {best_epoch})",
            file=sys.stderr,
            flush=True,
        )


def predict_ids(network: SmilesEncoder, sequences: Sequence[np.ndarray], batch_size: int, device) -> np.ndarray:
    """Predictions in the input's order; batches of similar length waste little on padding."""
    predictions = np.empty(len(sequences))
    order = np.argsort([len(ids) for ids in sequences], kind="stable")
    network.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            outputs = network(pad([sequences[row] for row in rows]).to(device))
            predictions[rows] = outputs.double().cpu().numpy()
    return predictions


def log_pytorch_model(
    network: SmilesEncoder, name: str, sample: Sequence[np.ndarray], vocabulary: Sequence[str], pattern: str
) -> None:
    """Log with mlflow.pytorch as an exported graph (pt2: loads without this code and without pickle).

    Input: int64 token ids, 0 for padding; output: predictions. The vocabulary file travels beside it.
    """
    import mlflow.pytorch
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, -1))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1,))]),
    )
    # The export traces one example; two rows of different lengths keep both dimensions dynamic.
    example = pad([*sample, np.array([PAD_ID + 1] * (max(map(len, sample), default=1) + 1))]).numpy()
    description = {
        "pattern": pattern,
        "tokens": list(vocabulary),
        "pad_id": PAD_ID,
        "pooling": network.pooling,
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vocabulary.json"
        path.write_text(json.dumps(description, indent=1))
        mlflow.pytorch.log_model(
            cpu_copy(network).eval(),
            name=name,
            signature=signature,
            input_example=example,
            serialization_format="pt2",
            extra_files=[str(path)],
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
