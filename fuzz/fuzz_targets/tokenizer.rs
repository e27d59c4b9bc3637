//! `tokenizer_config.json` applied to a real tokenizer (Llama-2's vocabulary + Phi-3's added
//! tokens), then its chat template rendered (code from the checkpoint: fuel-limited) and a text
//! encoded, decoded and streamed. Input: config JSON, 0xFF, text.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phi3::tokenizer::{ChatMessage, Tokenizer};

fn base() -> &'static Tokenizer {
    static BASE: OnceLock<Tokenizer> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tokenizer");
        Tokenizer::from_file(dir.join("tokenizer.json")).expect("the fixture tokenizer")
    })
}

fuzz_target!(|data: &[u8]| {
    let (config, text) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(config), Ok(text)) = (std::str::from_utf8(config), std::str::from_utf8(text)) else {
        return;
    };
    let Ok(tokenizer) = base().clone().with_config_json(config, Path::new("fuzz")) else {
        return;
    };
    let messages = [ChatMessage::system("be brief"), ChatMessage::user(text)];
    let _ = tokenizer.apply_chat_template(&messages, true);
    if let Ok(ids) = tokenizer.encode(text, true) {
        let _ = tokenizer.decode(&ids, false);
        let mut stream = tokenizer.stream(false);
        for &id in &ids {
            let _ = stream.push(id);
        }
    }
});
