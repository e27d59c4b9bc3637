//! `config.json`: parsing and validation; a config that validates must build (lazily), print
//! and count its parameters without a panic or an allocation its sizes did not pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phi3::device::{Cpu, cpu};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = phi3::Phi3Config::from_json(text) else {
        return;
    };
    let _ = config.rope();
    if let Ok(model) = phi3::models::phi3::build::<Cpu>(&config, &cpu()) {
        let _ = model.to_string();
        let _ = model.parameter_count();
    }
});
