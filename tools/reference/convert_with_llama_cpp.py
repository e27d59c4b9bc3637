"""Converts oracle fixtures to GGUF with llama.cpp's own converter (`convert_hf_to_gguf.py` and its
`conversion` package, from the llama-cpp-python 0.3.36 source distribution, vendor/llama.cpp), into
tests/fixtures/gguf/converted/.

The converter's model classes (`Phi3MiniModel`, `LlamaModel`) run untouched — hyperparameters,
tensor names and layouts, LongRoPE's factor tensors, the type conversion — except their
vocabulary step: it wants the checkpoint's SentencePiece `tokenizer.model`, which our machines
cannot download. `set_vocab` is replaced by one that writes the first `vocab_size` pieces of the
test tokenizer (the Llama-2 vocabulary; tests/fixtures/tokenizer/tokenizer.json) with
SentencePiece's token types, as the converter's own `_set_vocab_sentencepiece` would lay them out.

Usage: convert_with_llama_cpp.py LLAMA_CPP_DIR   (venv: tools/reference/requirements.txt)
LLAMA_CPP_DIR is the sdist's vendor/llama.cpp: `tar xzf llama_cpp_python-0.3.36.tar.gz` of the
file PyPI serves (`pip download llama-cpp-python==0.3.36 --no-binary :all: --no-deps` fetches
and unpacks it before trying to build it).
"""

import json
import logging
import sys
from pathlib import Path

import torch

llama_cpp = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(llama_cpp))
sys.path.insert(1, str(llama_cpp / "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's own gguf-py, as convert_hf_to_gguf.py uses)
from conversion.llama import LlamaModel  # noqa: E402
from conversion.phi import Phi3MiniModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
OUT = FIXTURES / "gguf" / "converted"
PIECES = json.loads((FIXTURES / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
BY_ID = {i: p for p, i in PIECES.items()}


def write_test_vocab(model):
    n = model.hparams["vocab_size"]
    tokens, scores, types = [], [], []
    for i in range(n):
        piece = BY_ID[i]
        tokens.append(piece.encode("utf-8"))
        scores.append(0.0 if i < 259 else -float(i))
        if i == 0:
            types.append(gguf.TokenType.UNKNOWN)
        elif i in (1, 2):
            types.append(gguf.TokenType.CONTROL)
        elif piece.startswith("<0x") and len(piece) == 6:
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    model.gguf_writer.add_tokenizer_model("llama")
    model.gguf_writer.add_tokenizer_pre("default")
    model.gguf_writer.add_token_list(tokens)
    model.gguf_writer.add_token_scores(scores)
    model.gguf_writer.add_token_types(types)
    gguf.SpecialVocab(model.dir_model, n_vocab=n).add_to_gguf(model.gguf_writer)


class Phi3(Phi3MiniModel):
    model_arch = Phi3MiniModel.model_arch

    def set_vocab(self):
        write_test_vocab(self)


class Llama(LlamaModel):
    model_arch = LlamaModel.model_arch

    def set_vocab(self):
        write_test_vocab(self)


# fixture → (converter class, output type). F32 where the oracle's weights are f32, BF16 where
# they are bf16: the converted values are then the oracle's exactly.
JOBS = {
    "gqa": (Phi3, gguf.LlamaFileType.ALL_F32),
    "longrope": (Phi3, gguf.LlamaFileType.ALL_F32),
    "llama": (Llama, gguf.LlamaFileType.ALL_F32),
    "family/phi-3-mini-4k-instruct": (Phi3, gguf.LlamaFileType.MOSTLY_BF16),
    "family/phi-3.5-mini-instruct": (Phi3, gguf.LlamaFileType.MOSTLY_BF16),
    "family/phi-4-mini-instruct": (Phi3, gguf.LlamaFileType.MOSTLY_BF16),
    # The converter's own Q8_0 (gguf-py's reference quantizer): checked against phi3 quantizing
    # the same f32 weights at load.
    "gqa@q8_0": (Phi3, gguf.LlamaFileType.MOSTLY_Q8_0),
}


def main():
    logging.basicConfig(level=logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    for job, (cls, ftype) in JOBS.items():
        fixture = job.split("@")[0]
        out = OUT / (job.replace("family/", "").replace("@", ".") + ".gguf")
        with torch.inference_mode():
            model = cls(FIXTURES / fixture, ftype, out, eager=True)
            model.write()
        print(f"{fixture} -> {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
