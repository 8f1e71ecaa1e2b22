"""What makes a model bundle safe to load, wherever its bytes are kept.

Three checks, in this order, before any byte of a model is turned into an object:

1. the manifest carries an HMAC-SHA256 signature made with the platform's signing key
   (``MODEL_SIGNING_KEY`` or ``MODEL_SIGNING_KEY_FILE``; with neither, a key file created once
   per user at ``~/.config/mindpulse/model-signing.key``). Whoever can rewrite a bundle's files
   *and* its manifest still cannot sign the result without the key;
2. every file matches the sha256 the signed manifest lists, and the manifest names its own
   version;
3. a skops file holds only the exact types in :data:`ALLOWED_SKOPS_TYPES`, the estimators,
   transformers and containers training produces, checked both by skops' own audit and by a
   walk over every node of the file's schema. Nothing else is ever trusted, so a node that
   calls a function (``numpy.testing._private.utils.runstring``, ``eval``...) is refused.

An artifact store reads the manifest, its signature and the files, and calls
:func:`verify_bundle` then :func:`load_skops` on those bytes; the checks depend on nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from mp_core.errors import CorruptArtifact
from mp_core.settings import ConfigError, Settings

SIGNATURE_FILE: Final = "manifest.sig"
SIGNATURE_SCHEME: Final = "hmac-sha256"
MIN_KEY_CHARS: Final = 32

#: Every type a skops file written by training may hold, by its exact qualified name.
#: ``test_training_produces_only_allowed_types`` trains every candidate and fails on anything
#: missing here; adding a name means trusting that its constructor runs nothing harmful.
ALLOWED_SKOPS_TYPES: Final = frozenset(
    {
        # JSON-like containers and scalars
        "builtins.bool",
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.NoneType",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        # numpy arrays, scalar types and the random generator some estimators keep
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.uint64",
        # the preprocessing pipeline (mp_core.ml.pipeline)
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.decomposition._pca.PCA",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        # the candidates (mp_core.ml.training.CANDIDATES) and their parts
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfBinomialLoss",
    }
)
#: The skops node kinds those types are stored as; a function or method node never is.
ALLOWED_SKOPS_LOADERS: Final = frozenset(
    {
        "CachedNode",
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomGeneratorNode",
        "SliceNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)


def default_key_path() -> Path:
    """Where the signing key lives when none is configured: the user's config folder, outside
    every data, artifacts and reports folder."""
    return Path.home() / ".config" / "mindpulse" / "model-signing.key"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key that signs manifests at training and checks them at every load.

    ``secret`` comes from the environment; without one the key is read from ``path``, which
    :meth:`sign` creates (mode 0600) the first time a bundle is saved.
    """

    secret: bytes | None = None
    path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningKey:
        if settings.model_signing_key is None:
            return cls(path=default_key_path())
        if len(settings.model_signing_key) < MIN_KEY_CHARS:
            raise ConfigError(
                "environment variable MODEL_SIGNING_KEY: at least "
                f"{MIN_KEY_CHARS} characters (make one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
            )
        return cls(secret=settings.model_signing_key.encode())

    @classmethod
    def from_env(cls) -> SigningKey:
        return cls.from_settings(Settings.from_env())

    def sign(self, manifest: bytes) -> str:
        """The signature of the exact manifest bytes, as written to :data:`SIGNATURE_FILE`."""
        digest = hmac.new(self._secret(create=True), manifest, hashlib.sha256).hexdigest()
        return f"{SIGNATURE_SCHEME}:{digest}\n"

    def check(self, manifest: bytes, signature: bytes | None, where: str) -> None:
        """Raise :class:`CorruptArtifact` unless ``signature`` signs ``manifest``."""
        if signature is None:
            raise CorruptArtifact(f"{where}: the manifest is not signed ({SIGNATURE_FILE} missing)")
        scheme, _, supplied = signature.decode("ascii", "replace").strip().partition(":")
        expected = hmac.new(self._secret(create=False, where=where), manifest, hashlib.sha256)
        if scheme != SIGNATURE_SCHEME or not hmac.compare_digest(
            supplied.encode("ascii", "replace"), expected.hexdigest().encode()
        ):
            raise CorruptArtifact(
                f"{where}: the manifest signature does not match (rewritten, or signed with "
                "another MODEL_SIGNING_KEY)"
            )

    def derive(self, label: bytes) -> bytes:
        """A key of its own for ``label`` (HMAC of the label), so one secret serves several
        purposes and a mac made for one is never valid for another."""
        return hmac.new(self._secret(create=True), label, hashlib.sha256).digest()

    def _secret(self, *, create: bool, where: str = "") -> bytes:
        if self.secret is not None:
            return self.secret
        path = self.path or default_key_path()
        try:
            return _read_key(path)
        except FileNotFoundError:
            if not create:
                raise CorruptArtifact(
                    f"{where}: cannot check the manifest signature: no signing key "
                    f"({path.name} not found; set MODEL_SIGNING_KEY_FILE to the key that "
                    "signed the bundles)"
                ) from None
        return _create_key(path)


def _read_key(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if len(secret) < MIN_KEY_CHARS:
        raise CorruptArtifact(
            f"signing key file {path.name} holds fewer than {MIN_KEY_CHARS} chars"
        )
    return secret


def _create_key(path: Path) -> bytes:
    """Write a fresh random key with O_EXCL; whoever loses a race reads the winner's key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return secret


def verify_bundle(
    version: str,
    manifest: bytes,
    signature: bytes | None,
    files: Mapping[str, bytes | None],
    key: SigningKey,
    *,
    required: tuple[str, ...],
) -> dict[str, Any]:
    """The parsed manifest of ``version`` once its signature and every file's sha256 check out.

    ``files`` maps each name the manifest may list to that file's bytes (None: missing).
    """
    key.check(manifest, signature, version)
    try:
        data = json.loads(manifest)
    except ValueError as exc:
        raise CorruptArtifact(f"{version}: manifest.json is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise CorruptArtifact(f"{version}: manifest.json has no file list")
    if data.get("version") != version:
        raise CorruptArtifact(f"{version}: the manifest belongs to {data.get('version')!r}")
    for name in required:
        if name not in data["files"]:
            raise CorruptArtifact(f"{version}: manifest does not list {name}")
    for name, expected in data["files"].items():
        if name not in files:
            raise CorruptArtifact(f"{version}: manifest lists an unknown file {name!r}")
        content = files[name]
        if content is None:
            raise CorruptArtifact(f"{version}: {name} is missing")
        if hashlib.sha256(content).hexdigest() != expected:
            raise CorruptArtifact(f"{version}: {name} does not match its sha256")
    return data


def skops_types(data: bytes) -> set[str]:
    """Every type a skops file would build: skops' own audit plus each node of its schema."""
    import skops.io

    found = set(skops.io.get_untrusted_types(data=data))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    for node in _nodes(schema):
        loader = node.get("__loader__")
        if loader is not None and loader not in ALLOWED_SKOPS_LOADERS:
            found.add(f"a {loader}")  # a node kind training never writes
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str):
            found.add(f"{module}.{name}")
    return found


def load_skops(data: bytes, name: str, version: str) -> Any:
    """The object in a skops file whose every type is allowed; refused before anything is built."""
    import skops.io

    try:
        refused = sorted(skops_types(data) - ALLOWED_SKOPS_TYPES)
    except Exception as exc:  # a damaged archive raises many kinds (zip, json, skops)
        raise CorruptArtifact(f"{version}: {name} is unreadable: {exc}") from None
    if refused:
        raise CorruptArtifact(f"{version}: {name} holds types that are not allowed: {refused}")
    try:
        trusted = sorted(set(skops.io.get_untrusted_types(data=data)) & ALLOWED_SKOPS_TYPES)
        return skops.io.loads(data, trusted=trusted)
    except Exception as exc:
        raise CorruptArtifact(f"{version}: {name} is unreadable: {exc}") from None


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
