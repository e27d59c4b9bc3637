//! Prints a Phi-3 model as a tree, like PyTorch's `print(model)`, with its parameter count.
//!
//! `--config FILE` needs no weights at all (Phi-3-mini's tree and 3,821,079,552 parameters come
//! from its config.json alone); `--model DIR` loads the checkpoint and prints the loaded module.
//!
//! ```text
//! cargo run --release --example print_model -- --config tests/fixtures/configs/phi-3-mini-4k-instruct.config.json
//! cargo run --release --example print_model -- --model tests/fixtures/gqa
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use phi3::device::{Cpu, cpu};
use phi3::prelude::*;
use phi3::{Phi3Config, model_tree};

#[derive(Parser)]
#[command(about = "Print a Phi-3 model tree and its parameter count")]
struct Args {
    /// A config.json: print without allocating any weights.
    #[arg(long, conflicts_with = "model", required_unless_present = "model")]
    config: Option<PathBuf>,
    /// A checkpoint directory: load it, then print the loaded model.
    #[arg(long)]
    model: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), phi3::Phi3Error> {
    if let Some(path) = args.config {
        println!("{}", model_tree(&Phi3Config::from_file(path)?));
    } else if let Some(dir) = args.model {
        let model = Pretrained::open(dir)?.load::<Cpu>(&LoadOptions::new(cpu()))?;
        println!("{model}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
