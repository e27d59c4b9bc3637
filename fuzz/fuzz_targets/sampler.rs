//! Sampler settings and logits: a bad setting is a typed error at build, a bad row (NaN, +inf,
//! everything removed) one at sampling; a token is always inside the row.
#![no_main]

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use phi3::sampling::{Candidates, SamplerConfig};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut setting = || -> Option<f32> { Option::<f32>::arbitrary(&mut u).ok().flatten() };
    let (temperature, top_p, min_p, penalty) = (setting(), setting(), setting(), setting());
    let config = SamplerConfig {
        do_sample: bool::arbitrary(&mut u).unwrap_or(true),
        temperature: temperature.unwrap_or(1.0),
        top_k: Option::<u16>::arbitrary(&mut u)
            .ok()
            .flatten()
            .map(usize::from),
        top_p,
        min_p,
        repetition_penalty: penalty,
        seed: u64::arbitrary(&mut u).unwrap_or(0),
    };
    let logits: Vec<f32> = Vec::arbitrary(&mut u).unwrap_or_default();
    let history: Vec<u32> = Vec::arbitrary(&mut u).unwrap_or_default();
    let Ok(mut sampler) = config.build() else {
        return;
    };
    let _ = sampler.candidates() == Candidates::All;
    if let Ok(id) = sampler.sample(&logits, &history) {
        assert!((id as usize) < logits.len(), "{id} of {}", logits.len());
    }
});
