use super::*;

/// The committed test tokenizer. The directory is read when the test runs, not when it is built:
/// a test binary reused from another checkout (one shared target directory) must not read that
/// checkout's fixtures.
fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("../../tests/fixtures/tokenizer")
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_dir(fixtures()).unwrap()
}

const TEXTS: [&str; 8] = [
    "The capital of France is Paris.",
    "Hello,   world!\nNew line\tand tab.",
    "北京是中国的首都。",
    "日本語のテキストと English mixed",
    "Emoji: 🦀🚀 and 👩‍👩‍👧 family",
    "饕餮盛宴 — rare CJK",
    "  leading spaces",
    "ümlaut café naïve",
];

#[test]
fn encodes_the_walkthrough_prompt() {
    let t = tokenizer();
    assert_eq!(
        t.encode("The capital of France is", false).unwrap(),
        vec![450, 7483, 310, 3444, 338]
    );
    assert_eq!(t.encode("Paris.", false).unwrap(), vec![3681, 29889]);
    assert_eq!(t.decode(&[3681], false).unwrap(), "Paris");
}

#[test]
fn phi3_special_tokens() {
    let t = tokenizer();
    assert_eq!(t.vocab_size(), 32011);
    for (token, id) in [
        ("<|endoftext|>", 32000),
        ("<|assistant|>", 32001),
        ("<|system|>", 32006),
        ("<|end|>", 32007),
        ("<|user|>", 32010),
    ] {
        assert_eq!(t.token_id(token), Some(id), "{token}");
    }
    let ids = t.encode("<|user|>\nHi<|end|>\n", false).unwrap();
    assert_eq!(ids[0], 32010);
    assert!(ids.contains(&32007));
    assert_eq!(t.decode(&ids, true).unwrap().trim(), "Hi");
}

#[test]
fn decode_inverts_encode() {
    let t = tokenizer();
    for text in TEXTS {
        let ids = t.encode(text, false).unwrap();
        assert_eq!(t.decode(&ids, false).unwrap(), text, "{ids:?}");
    }
}

#[test]
fn streaming_equals_full_decode_and_never_splits_characters() {
    let t = tokenizer();
    for text in TEXTS {
        let ids = t.encode(text, false).unwrap();
        let mut stream = t.stream(false);
        let mut out = String::new();
        for &id in &ids {
            if let Some(chunk) = stream.push(id).unwrap() {
                assert!(!chunk.contains('\u{FFFD}'), "broken character in {chunk:?}");
                out.push_str(&chunk);
            }
        }
        if let Some(rest) = stream.finish().unwrap() {
            out.push_str(&rest);
        }
        assert_eq!(out, t.decode(&ids, false).unwrap(), "{text}");
    }
}

#[test]
fn rare_characters_use_byte_fallback_and_stream_whole() {
    let t = tokenizer();
    // Characters outside the vocabulary arrive as one byte token each (<0xF0> = id 243 ...).
    let ids = t.encode("饕餮 🦀", false).unwrap();
    assert!(
        ids.iter().any(|&id| (3..259).contains(&id)),
        "expected byte-fallback tokens: {ids:?}"
    );
    let mut stream = t.stream(false);
    let chunks: Vec<String> = ids
        .iter()
        .filter_map(|&id| stream.push(id).unwrap())
        .collect();
    assert!(
        chunks.len() < ids.len(),
        "bytes of one character must be held back"
    );
}

#[test]
fn chat_template_renders_phi3_format() {
    let t = tokenizer();
    let messages = [
        ChatMessage::system("You are helpful."),
        ChatMessage::user("What is the capital of France?"),
        ChatMessage::assistant("Paris."),
        ChatMessage::user("And of Italy?"),
    ];
    let expected = "<|system|>\nYou are helpful.<|end|>\n<|user|>\nWhat is the capital of France?<|end|>\n\
<|assistant|>\nParis.<|end|>\n<|user|>\nAnd of Italy?<|end|>\n<|assistant|>\n";
    assert_eq!(t.apply_chat_template(&messages, true).unwrap(), expected);
    // The built-in default renders the same.
    let builtin = Tokenizer::from_file(fixtures().join("tokenizer.json")).unwrap();
    assert_eq!(
        builtin.apply_chat_template(&messages, true).unwrap(),
        expected
    );
    assert!(
        !t.apply_chat_template(&messages[..1], false)
            .unwrap()
            .ends_with("<|assistant|>\n")
    );
}

#[test]
fn broken_template_and_missing_file_are_typed_errors() {
    let t = tokenizer().with_chat_template("{% for m in messages %}");
    assert!(matches!(
        t.apply_chat_template(&[], true),
        Err(TokenizerError::Template(_))
    ));
    let t = tokenizer().with_chat_template("{{ raise_exception('no system role') }}");
    let err = t.apply_chat_template(&[], true).unwrap_err();
    assert!(err.to_string().contains("no system role"), "{err}");
    assert!(matches!(
        Tokenizer::from_file("/nonexistent/tokenizer.json"),
        Err(TokenizerError::Load { .. })
    ));
}

/// The Llama-2 vocabulary as a GGUF file of `tokenizer.ggml.model = llama` carries it: tokens by
/// id, SentencePiece scores (merge order: later pieces score lower), token types.
fn gguf_llama_vocab() -> GgufVocab {
    let path = fixtures().join("tokenizer.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vocab = json["model"]["vocab"].as_object().unwrap();
    let mut tokens = vec![String::new(); vocab.len()];
    for (token, id) in vocab {
        tokens[id.as_u64().unwrap() as usize] = token.clone();
    }
    for added in json["added_tokens"].as_array().unwrap() {
        let id = added["id"].as_u64().unwrap() as usize;
        if id >= tokens.len() {
            tokens.resize(id + 1, String::new());
        }
        tokens[id] = added["content"].as_str().unwrap().to_string();
    }
    let token_types = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| match id {
            0 => 2,
            1 | 2 => 3,
            _ if id >= 32000 => 3,
            _ if t.starts_with("<0x") && t.len() == 6 => 6,
            _ => 1,
        })
        .collect();
    let scores = (0..tokens.len()).map(|id| -(id as f32)).collect();
    GgufVocab {
        model: "llama".into(),
        architecture: "phi3".into(),
        tokens,
        scores,
        token_types,
        bos: Some(1),
        eos: Some(32000),
        ..Default::default()
    }
}

#[test]
fn sentencepiece_tokenizer_from_gguf_metadata_matches_tokenizer_json() {
    let from_json = tokenizer();
    let from_gguf = Tokenizer::from_gguf(gguf_llama_vocab()).unwrap();
    assert_eq!(
        from_gguf.encode("The capital of France is", false).unwrap(),
        vec![450, 7483, 310, 3444, 338]
    );
    for text in TEXTS
        .iter()
        .chain(&["<|user|>\nHi there<|end|>\n<|assistant|>\n"])
    {
        let ids = from_json.encode(text, false).unwrap();
        assert_eq!(from_gguf.encode(text, false).unwrap(), ids, "{text}");
        assert_eq!(
            from_gguf.decode(&ids, false).unwrap(),
            from_json.decode(&ids, false).unwrap()
        );
    }
    assert_eq!(from_gguf.token_id("<|end|>"), Some(32007));
}

#[test]
fn gguf_vocab_errors_are_typed() {
    let mut vocab = gguf_llama_vocab();
    vocab.scores.pop();
    assert!(matches!(
        Tokenizer::from_gguf(vocab),
        Err(TokenizerError::Load { .. })
    ));
    let vocab = GgufVocab {
        model: "rwkv".into(),
        ..gguf_llama_vocab()
    };
    let err = Tokenizer::from_gguf(vocab).err().unwrap();
    assert!(err.to_string().contains("rwkv"), "{err}");
}

#[test]
fn added_tokens_json_adds_missing_special_tokens() {
    // The bare Llama-2 vocabulary plus an added_tokens.json naming two of Phi-3's tokens.
    let root = fixtures();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tokenizer.json")).unwrap())
            .unwrap();
    json["added_tokens"]
        .as_array_mut()
        .unwrap()
        .retain(|t| t["id"].as_u64().unwrap() < 32000);
    let dir = std::env::temp_dir().join(format!("phi3-added-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), json.to_string()).unwrap();
    std::fs::write(
        dir.join("added_tokens.json"),
        r#"{"<|endoftext|>": 32000, "<|assistant|>": 32001}"#,
    )
    .unwrap();
    let t = Tokenizer::from_dir(&dir).unwrap();
    assert_eq!(t.token_id("<|assistant|>"), Some(32001));
    assert_eq!(t.encode("<|endoftext|>", false).unwrap(), vec![32000]);
    // An id that does not follow the vocabulary is an error, not a silent renumbering.
    std::fs::write(dir.join("added_tokens.json"), r#"{"<|user|>": 32010}"#).unwrap();
    assert!(matches!(
        Tokenizer::from_dir(&dir),
        Err(TokenizerError::Load { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_template_that_would_run_forever_runs_out_of_fuel() {
    // A chat template is code from the checkpoint: an endless loop or runaway recursion is a
    // typed error, not a hung process.
    let messages = [ChatMessage::user("hi")];
    for template in [
        "{% for i in range(1000000000) %}x{% endfor %}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    ] {
        let t = tokenizer().with_chat_template(template);
        match t.apply_chat_template(&messages, true) {
            Err(TokenizerError::Template(_)) => {}
            other => panic!("{template}: {other:?}"),
        }
    }
    // Phi-3's own template on a long conversation stays well inside the budget.
    let long: Vec<ChatMessage> = (0..2000)
        .map(|i| ChatMessage::user(i.to_string()))
        .collect();
    assert!(tokenizer().apply_chat_template(&long, true).is_ok());
}
