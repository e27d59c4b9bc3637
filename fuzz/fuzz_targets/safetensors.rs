//! A safetensors checkpoint file: the header parser and every tensor read, as the loader reads
//! them (positioned reads into buffers of the declared size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phi3::load::{Checkpoint, WeightSource};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("model.safetensors"), data).expect("writing the input");
    let Ok(mut checkpoint) = Checkpoint::open(dir.path()) else {
        return;
    };
    let names: Vec<String> = checkpoint.tensor_names().map(str::to_string).collect();
    for name in names {
        let shape = checkpoint.shape(&name).unwrap_or_default();
        let _ = checkpoint.read(&name, &shape);
        let _ = checkpoint.read(&name, &[1, 2, 3]); // a shape it does not have
    }
});
