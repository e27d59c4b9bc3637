//! The user-parts example, run: an attention, a position encoding, a mask, a norm, a feed-forward
//! block and a sampler written outside the library, composed into a decoder that generates.

#[path = "../examples/user_parts.rs"]
mod user_parts;

#[test]
fn user_parts_compose_into_a_decoder_that_generates() {
    let report = user_parts::run::<phi3::device::Cpu>(phi3::device::cpu()).unwrap();
    assert_eq!(report.cached.len(), 12);
    assert_eq!(
        report.cached, report.uncached,
        "cached decode equals the full forward"
    );
    // The user's sampler chose every token of both runs, under its own rule.
    assert_eq!(report.sampler_calls, 24);
    let sequence: Vec<u32> = report
        .prompt
        .iter()
        .chain(&report.cached)
        .copied()
        .collect();
    for (i, id) in sequence.iter().enumerate().skip(report.prompt.len()) {
        let recent = &sequence[i.saturating_sub(user_parts::NO_REPEAT_WINDOW)..i];
        assert!(
            !recent.contains(id),
            "token {id} at {i} repeats one of {recent:?}"
        );
    }
    // The user's parts are what the model is made of.
    for part in [
        "SingleHeadAttention",
        "SquaredReluMlp",
        "ScaleNorm",
        "NtkRope",
    ] {
        assert!(
            report.tree.contains(part),
            "{part} missing from\n{}",
            report.tree
        );
    }
}
