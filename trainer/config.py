"""Training configs: YAML in, a validated typed config with defaults applied out.

The canonical form (sorted-key JSON of the validated config) is what the config hash covers, so YAML
formatting, key order, comments and spellings such as `1e-3` versus `0.001` never change a run's key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from trainer.errors import BadInput, utf8_text
from trainer.models import family_names, load_family
from trainer.strict import Strict

# Where a run comes from and is filed, not what it computes: left out of the config hash.
LOCATION_KEYS = (("experiment",), ("data", "path"))


class ColumnSplit(Strict):
    """Use the snapshot's own train/test assignment."""

    method: Literal["column"] = "column"
    column: str = "split"
    train_value: str = "train"
    test_value: str = "test"


class RandomSplit(Strict):
    """Random molecules to the test part."""

    method: Literal["random"]
    test_fraction: float = Field(0.2, gt=0, lt=1)


class ScaffoldSplit(Strict):
    """Whole Bemis-Murcko scaffold groups to the test part, so test chemotypes are unseen in training."""

    method: Literal["scaffold"]
    test_fraction: float = Field(0.2, gt=0, lt=1)


Split = Annotated[ColumnSplit | RandomSplit | ScaffoldSplit, Field(discriminator="method")]


class DataConfig(Strict):
    path: str = Field(min_length=1)
    smiles_column: str = "smiles"
    target_column: str
    split: Split = ColumnSplit()
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = Field(0, ge=0, description="Seeds the random or scaffold test split and the validation carve.")
    on_invalid: Literal["error", "drop"] = "error"


class TrainConfig(Strict):
    experiment: str = Field("ai-drug", min_length=1)
    seed: int = Field(0, ge=0, description="Seeds the model's own randomness.")
    data: DataConfig
    family: str
    params: BaseModel

    def canonical(self) -> dict[str, Any]:
        """The validated config with every default filled in, as plain JSON types."""
        body = self.model_dump(mode="json", exclude={"params", "family"})
        body["model"] = {"family": self.family, **self.params.model_dump(mode="json")}
        return body

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    def key_json(self) -> str:
        """The canonical JSON without the location keys: what the config hash covers."""
        body = self.canonical()
        for *parents, leaf in LOCATION_KEYS:
            node = body
            for name in parents:
                node = node[name]
            node.pop(leaf, None)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


# YAML 1.2's float forms that PyYAML, following YAML 1.1, reads as strings: `1e-3` and `1E3` (no dot, or an
# unsigned exponent) and `.5e-3`. YAML 1.1's own forms (`1.0e-3`, `.5`, `1_000.5`, `.inf`) still match.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)
    |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that reads every YAML number spelling as a number and refuses a key written twice instead of
    silently keeping the last one."""

    yaml_implicit_resolvers: ClassVar[dict[str, list]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = utf8_text(path.read_bytes(), path)
    except OSError as err:
        raise BadInput(f"{path}: cannot read config ({err.strerror})") from err
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise BadInput(f"{path}: invalid YAML{where}: {problem}") from err
    if document is None:
        raise BadInput(f"{path}: the file is empty; expected a mapping of keys at the top level")
    if not isinstance(document, dict):
        raise BadInput(f"{path}: expected a mapping of keys at the top level")
    return document


def _describe(err: ValidationError, prefix: str = "") -> str:
    problems = []
    for item in err.errors():
        key = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        problems.append(f"{key or '(top level)'}: {item['msg']}")
    return "; ".join(problems)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate one config; every refusal names the file and the key."""
    path = Path(path)
    document = _read_yaml(path)
    model = document.get("model")
    if not isinstance(model, dict):
        raise BadInput(f"{path}: model: expected a mapping with a 'family' key")
    model = dict(model)
    family = model.pop("family", None)
    if family not in family_names():
        known = ", ".join(family_names())
        raise BadInput(f"{path}: model.family: unknown family {family!r} (known: {known})")
    try:
        params = load_family(family).Params.model_validate(model)
    except ValidationError as err:
        raise BadInput(f"{path}: {_describe(err, 'model')}") from err
    rest = {key: value for key, value in document.items() if key != "model"}
    try:
        return TrainConfig.model_validate({**rest, "family": family, "params": params})
    except ValidationError as err:
        raise BadInput(f"{path}: {_describe(err)}") from err
