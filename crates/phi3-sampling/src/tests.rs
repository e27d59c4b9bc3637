use super::*;

fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

fn config(temperature: f32, top_k: Option<usize>, top_p: Option<f32>) -> SamplerConfig {
    SamplerConfig {
        do_sample: true,
        temperature,
        top_k,
        top_p,
        seed: 1234,
        ..Default::default()
    }
}

fn draws(config: &SamplerConfig, logits: &[f32], n: usize) -> Vec<u32> {
    let mut s = config.build().unwrap();
    (0..n).map(|_| s.sample(logits, &[]).unwrap()).collect()
}

/// Pearson's chi-square statistic of observed draws against expected probabilities (cells with
/// zero expectation must never be drawn).
fn chi_square(draws: &[u32], expected: &[f64]) -> f64 {
    let n = draws.len() as f64;
    let mut counts = vec![0usize; expected.len()];
    for &d in draws {
        counts[d as usize] += 1;
    }
    expected
        .iter()
        .zip(&counts)
        .map(|(&p, &c)| {
            if p == 0.0 {
                assert_eq!(c, 0, "drew a token with zero probability");
                0.0
            } else {
                (c as f64 - n * p).powi(2) / (n * p)
            }
        })
        .sum()
}

const BASE: [f64; 5] = [0.05, 0.1, 0.15, 0.3, 0.4];
/// Chi-square critical values at α = 0.001 by degrees of freedom (1..=4).
const CRITICAL: [f64; 5] = [0.0, 10.83, 13.82, 16.27, 18.47];

fn normalise(v: Vec<f64>) -> Vec<f64> {
    let s: f64 = v.iter().sum();
    v.into_iter().map(|x| x / s).collect()
}

#[test]
fn temperature_draws_match_the_tempered_distribution() {
    let logits = logits_of(&BASE);
    for t in [1.0f32, 0.5, 2.0] {
        let expected = normalise(BASE.iter().map(|p| p.powf(1.0 / t as f64)).collect());
        let stat = chi_square(&draws(&config(t, None, None), &logits, 20_000), &expected);
        assert!(stat < CRITICAL[4], "temperature {t}: chi-square {stat}");
    }
}

#[test]
fn top_k_draws_match_the_renormalised_top_k() {
    let logits = logits_of(&BASE);
    let expected = normalise(vec![0.0, 0.0, 0.0, 0.3, 0.4]);
    let stat = chi_square(
        &draws(&config(1.0, Some(2), None), &logits, 20_000),
        &expected,
    );
    assert!(stat < CRITICAL[1], "chi-square {stat}");
}

#[test]
fn top_p_draws_match_the_nucleus() {
    let logits = logits_of(&BASE);
    // 0.4 + 0.3 = 0.7 ≥ 0.6: the nucleus is the two most likely tokens.
    let expected = normalise(vec![0.0, 0.0, 0.0, 0.3, 0.4]);
    let stat = chi_square(
        &draws(&config(1.0, None, Some(0.6)), &logits, 20_000),
        &expected,
    );
    assert!(stat < CRITICAL[1], "chi-square {stat}");
}

#[test]
fn a_wrong_distribution_fails_the_chi_square_test() {
    // The test above can fail: uniform draws against BASE are rejected.
    let logits = vec![0.0f32; 5];
    let stat = chi_square(&draws(&config(1.0, None, None), &logits, 20_000), &BASE);
    assert!(stat > CRITICAL[4], "chi-square {stat}");
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    let logits = logits_of(&BASE);
    let kept = |p: f32| {
        let mut l = logits.clone();
        TopP(p).process(&mut l, &[]);
        (0..5).filter(|&i| l[i].is_finite()).collect::<Vec<_>>()
    };
    // Cumulative mass in descending order: 0.4, 0.7, 0.85, 0.95, 1.0.
    assert_eq!(kept(0.1), vec![4]);
    assert_eq!(kept(0.39), vec![4]);
    assert_eq!(kept(0.41), vec![3, 4]);
    assert_eq!(kept(0.69), vec![3, 4]);
    assert_eq!(kept(0.71), vec![2, 3, 4]);
    assert_eq!(kept(1.0), vec![0, 1, 2, 3, 4]);
}

#[test]
fn min_p_drops_tokens_below_the_scaled_maximum() {
    let mut l = logits_of(&BASE);
    MinP(0.5).process(&mut l, &[]); // keep p ≥ 0.2
    let kept: Vec<usize> = (0..5).filter(|&i| l[i].is_finite()).collect();
    assert_eq!(kept, vec![3, 4]);
}

#[test]
fn repetition_penalty_follows_ctrl() {
    let mut l = vec![2.0f32, -2.0, 1.0];
    RepetitionPenalty(2.0).process(&mut l, &[0, 1, 1]);
    assert_eq!(l, vec![1.0, -4.0, 1.0]);
}

#[test]
fn seeded_runs_reproduce_and_seeds_differ() {
    let logits = logits_of(&BASE);
    let a = draws(&config(1.0, None, None), &logits, 200);
    let b = draws(&config(1.0, None, None), &logits, 200);
    let mut other = config(1.0, None, None);
    other.seed = 99;
    let c = draws(&other, &logits, 200);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn top_k_one_and_temperature_zero_are_greedy() {
    let logits = vec![0.3f32, 2.5, -1.0, 2.4, 0.0];
    let greedy = draws(&SamplerConfig::default(), &logits, 50);
    assert!(greedy.iter().all(|&t| t == 1));
    assert_eq!(draws(&config(1.3, Some(1), None), &logits, 50), greedy);
    assert_eq!(draws(&config(0.0, None, None), &logits, 50), greedy);
}

#[test]
fn greedy_takes_the_first_maximum_and_rejects_nan() {
    assert_eq!(argmax(&[0.1, 3.0, -1.0, 3.0]), Ok(1));
    assert_eq!(
        Greedy::default().sample(&[0.0, f32::NAN], &[]),
        Err(SamplingError::NaN { index: 1 })
    );
    assert_eq!(argmax(&[]), Err(SamplingError::Empty));
    let mut chain = config(1.0, None, None).build().unwrap();
    assert_eq!(
        chain.sample(&[f32::NAN], &[]),
        Err(SamplingError::NaN { index: 0 })
    );
}

#[test]
fn invalid_settings_are_typed_errors() {
    let bad = |c: SamplerConfig, name: &str| match c.build() {
        Err(SamplingError::InvalidSetting { parameter, .. }) => assert_eq!(parameter, name),
        _ => panic!("{name} accepted"),
    };
    bad(config(-0.5, None, None), "temperature");
    bad(config(f32::NAN, None, None), "temperature");
    bad(config(1.0, Some(0), None), "top_k");
    bad(config(1.0, None, Some(0.0)), "top_p");
    bad(config(1.0, None, Some(1.5)), "top_p");
    bad(
        SamplerConfig {
            min_p: Some(2.0),
            ..config(1.0, None, None)
        },
        "min_p",
    );
    bad(
        SamplerConfig {
            repetition_penalty: Some(0.0),
            ..config(1.0, None, None)
        },
        "repetition_penalty",
    );
}

#[test]
fn named_samplers_are_the_configured_chains() {
    let logits = [0.3f32, 2.0, -1.0, 1.1, 0.0];
    let configured = |top_k| SamplerConfig {
        do_sample: true,
        temperature: 0.7,
        top_k,
        seed: 9,
        ..Default::default()
    };
    let run = |sampler: &mut dyn Sampler| -> Vec<u32> {
        (0..50)
            .map(|_| sampler.sample(&logits, &[]).unwrap())
            .collect()
    };
    assert_eq!(
        run(&mut ProcessorChain::temperature(0.7, 9)),
        run(configured(None).build().unwrap().as_mut())
    );
    let top2 = run(&mut ProcessorChain::top_k(2, 0.7, 9));
    assert_eq!(top2, run(configured(Some(2)).build().unwrap().as_mut()));
    assert!(top2.iter().all(|&id| id == 1 || id == 3), "{top2:?}");
}

/// The `k` largest logits in id order, and their ids (what generation reads back under
/// `Candidates::Top(k)`).
fn top_candidates(logits: &[f32], k: usize) -> (Vec<f32>, Vec<u32>) {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(k);
    order.sort_unstable();
    (
        order.iter().map(|&i| logits[i]).collect(),
        order.iter().map(|&i| i as u32).collect(),
    )
}

#[test]
fn samplers_on_their_top_candidates_answer_as_on_the_whole_row() {
    let logits: Vec<f32> = (0..200)
        .map(|i| ((i * 37 % 101) as f32).sin() * 4.0)
        .collect();
    let configs = [
        SamplerConfig::default(),
        config(0.8, Some(5), None),
        config(1.3, Some(40), Some(0.9)),
        SamplerConfig {
            min_p: Some(0.05),
            ..config(1.0, Some(12), Some(0.95))
        },
    ];
    for c in &configs {
        for seed in 0..20 {
            let c = SamplerConfig { seed, ..c.clone() };
            let (mut whole, mut cut) = (c.build().unwrap(), c.build().unwrap());
            let Candidates::Top(k) = cut.candidates() else {
                panic!("{c:?} should read only its top candidates");
            };
            assert_eq!(k, c.top_k.unwrap_or(1));
            let (values, ids) = top_candidates(&logits, k);
            for _ in 0..5 {
                let expected = whole.sample(&logits, &[]).unwrap();
                let index = cut.sample(&values, &[]).unwrap();
                assert_eq!(ids[index as usize], expected, "{c:?}");
            }
        }
    }
}

#[test]
fn samplers_that_read_the_whole_row_say_so() {
    let penalty = SamplerConfig {
        repetition_penalty: Some(1.2),
        ..config(0.8, Some(5), None)
    };
    let greedy_penalty = SamplerConfig {
        repetition_penalty: Some(1.2),
        ..SamplerConfig::default()
    };
    for c in [
        config(0.8, None, None),
        config(0.8, None, Some(0.9)),
        penalty,
        greedy_penalty,
    ] {
        assert_eq!(c.build().unwrap().candidates(), Candidates::All, "{c:?}");
    }
    // A filter before the cut sees tokens the cut removes: the whole row.
    let chain = ProcessorChain::new(vec![Box::new(TopP(0.9)), Box::new(TopK(3))], 0);
    assert_eq!(chain.candidates(), Candidates::All);
}

#[test]
fn a_tiny_temperature_samples_the_most_likely_token_not_token_zero() {
    // 1e-30 once turned every probability into NaN (x / t = ±inf) and the draw fell to token 0.
    let logits = [0.5f32, -2.0, 3.0, 1.0];
    for t in [1e-30f32, f32::MIN_POSITIVE, 1e-6] {
        for seed in 0..5 {
            let mut s = SamplerConfig {
                seed,
                ..config(t, None, None)
            }
            .build()
            .unwrap();
            assert_eq!(s.sample(&logits, &[]).unwrap(), 2, "temperature {t:e}");
        }
    }
}

#[test]
fn infinite_logits_and_empty_distributions_are_errors() {
    let mut s = config(1.0, None, None).build().unwrap();
    assert_eq!(
        s.sample(&[0.0, f32::INFINITY, 1.0], &[]),
        Err(SamplingError::Infinite { index: 1 })
    );
    assert_eq!(
        argmax(&[0.0, f32::INFINITY]),
        Err(SamplingError::Infinite { index: 1 })
    );
    assert_eq!(
        s.sample(&[f32::NEG_INFINITY; 3], &[]),
        Err(SamplingError::NothingLeft)
    );
    // −∞ alone is a removed token, not an error.
    assert_eq!(argmax(&[f32::NEG_INFINITY, -1.0]), Ok(1));
}
