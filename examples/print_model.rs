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
use phi3::burn::tensor::backend::Backend;

#[path = "common/mod.rs"]
mod common;
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
    #[command(flatten)]
    backend: common::BackendArgs,
    /// How the loaded weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 or stored.
    #[arg(long, default_value = "stored")]
    dtype: String,
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), phi3::Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    if let Some(path) = args.config {
        println!("{}", model_tree(&Phi3Config::from_file(path)?));
    } else if let Some(dir) = args.model {
        let options = LoadOptions::<B>::new(device).storage(args.dtype.parse()?);
        let model = Pretrained::open(dir)?.load::<B>(&options)?;
        println!("{model}");
    }
    Ok(())
}

/// Runs on the backend `--device` names.
fn dispatch(args: Args) -> Result<(), phi3::Phi3Error> {
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    common::exit(dispatch(Args::parse()))
}
