//! A GGUF file: header, metadata, tensor infos; then what the loader derives from it (config,
//! tokenizer, generation defaults) and every tensor dequantized.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phi3::gguf::{GgufFile, config_from_gguf, generation_defaults, tokenizer_from_gguf};

fuzz_target!(|data: &[u8]| {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), data).expect("writing the input");
    let Ok(gguf) = GgufFile::open(file.path()) else {
        return;
    };
    let _ = config_from_gguf(&gguf);
    let _ = tokenizer_from_gguf(&gguf);
    let _ = generation_defaults(&gguf);
    let names: Vec<String> = gguf.tensors().map(|(n, _)| n.to_string()).collect();
    for name in names {
        let _ = gguf.tensor_f32(&name);
    }
});
