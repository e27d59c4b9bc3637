//! The PyTorch-style tree and the parameter count.

mod common;

use common::{fixture, load};
use phi3::burn::module::Module;
use phi3::device::{Cpu, cpu};
use phi3::{Phi3Config, model_tree, parameter_count};

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn phi3_mini_tree_matches_pytorch_print_from_config_alone() {
    let config =
        Phi3Config::from_file(fixture("configs/phi-3-mini-4k-instruct.config.json")).unwrap();
    let reference =
        std::fs::read_to_string(fixture("configs/phi-3-mini-4k-instruct.print.txt")).unwrap();
    let tree = model_tree(&config);
    let (body, count) = tree.rsplit_once('\n').unwrap();
    assert_eq!(squash(body), squash(&reference));
    assert_eq!(count, "Total parameters: 3,821,079,552");
    assert_eq!(parameter_count(&config), 3_821_079_552);
    // The composition itself, built lazily: counted from shapes, 15 GB never allocated.
    let model = phi3::models::phi3::build::<Cpu>(&config, &cpu()).unwrap();
    assert_eq!(model.parameter_count(), 3_821_079_552);
    assert_eq!(format!("{model}"), tree);
}

/// Every published Phi-3-family config (tests/fixtures/configs, copied from ../shared/reference by
/// tools/reference/make_family_prints.py, which also wrote transformers' print and count): the
/// config parses with its quirks (`su`, a window wider than the context, Phi-4-mini's extra keys
/// and integer-first factor list), and the tree and parameter count equal transformers'.
#[test]
fn family_trees_and_counts_match_transformers_from_config_alone() {
    for name in [
        "phi-3-mini-4k-instruct",
        "phi-3-mini-128k-instruct",
        "phi-3-medium-4k-instruct",
        "phi-3-medium-128k-instruct",
        "phi-3.5-mini-instruct",
        "phi-4-mini-instruct",
    ] {
        let config = Phi3Config::from_file(fixture(&format!("configs/{name}.config.json")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference =
            std::fs::read_to_string(fixture(&format!("configs/{name}.print.txt"))).unwrap();
        let params: usize = std::fs::read_to_string(fixture(&format!("configs/{name}.params")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let tree = model_tree(&config);
        let (body, count) = tree.rsplit_once('\n').unwrap();
        assert_eq!(squash(body), squash(&reference), "{name}");
        assert_eq!(parameter_count(&config), params, "{name}");
        assert_eq!(
            count,
            format!(
                "Total parameters: {}",
                phi3::core::display::thousands(params)
            ),
            "{name}"
        );
        // The composition, built lazily: nothing allocated.
        let model = phi3::models::phi3::build::<Cpu>(&config, &cpu()).unwrap();
        assert_eq!(model.parameter_count(), params, "{name}");
        assert_eq!(format!("{model}"), tree, "{name}");
    }
}

#[test]
fn loaded_model_prints_its_tree_and_counts_match_burn() {
    for name in ["mha", "gqa", "longrope"] {
        let model = load(name);
        assert_eq!(format!("{model}"), model_tree(&model.config));
        // Burn's own count (the RoPE tables are not parameters) equals the config's count.
        assert_eq!(model.num_params(), model.parameter_count(), "{name}");
        assert_eq!(
            model.parameter_count(),
            parameter_count(&model.config),
            "{name}"
        );
    }
    // Tied: PyTorch counts the shared matrix once; Burn visits it from both modules.
    let tied = load("partial_rotary_tied");
    let c = &tied.config;
    assert_eq!(tied.parameter_count(), parameter_count(c));
    assert_eq!(
        tied.num_params(),
        tied.parameter_count() + c.vocab_size * c.hidden_size
    );
}
