//! Loading by hub id, as `transformers`' `from_pretrained("microsoft/Phi-3-mini-4k-instruct")`
//! and candle's `hf-hub` do: the checkpoint's files are fetched into the Hugging Face cache
//! (`~/.cache/huggingface/hub`, or `$HF_HOME/hub`; the layout Python's `huggingface_hub` uses, so
//! both share one copy) and opened from there. Behind the `hub` cargo feature.
//!
//! ```no_run
//! use phi3::device::{Cpu, cpu};
//! use phi3::hub::HubOptions;
//! use phi3::prelude::*;
//!
//! let hub = HubOptions::new().revision("main");
//! let model: Phi3ForCausalLM<Cpu> = Pretrained::from_pretrained("microsoft/Phi-3-mini-4k-instruct", &hub)?
//!     .load(&LoadOptions::new(cpu()))?;
//! // Offline (or `HF_HUB_OFFLINE=1`): the cached copy, no network.
//! let cached = Pretrained::from_pretrained("microsoft/Phi-3-mini-4k-instruct", &hub.offline(true))?;
//! # Ok::<(), phi3::Phi3Error>(())
//! ```

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use crate::error::{Phi3Error, Result};

/// Where and how [`snapshot`] fetches a repository. `HF_ENDPOINT`, `HF_HOME` and
/// `HF_HUB_OFFLINE=1` are honoured as `huggingface_hub` honours them; the setters override them.
#[derive(Debug, Clone)]
pub struct HubOptions {
    revision: String,
    cache_dir: Option<PathBuf>,
    endpoint: Option<String>,
    token: Option<String>,
    offline: bool,
    file: Option<String>,
    progress: bool,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The files a checkpoint directory needs (weights are every top-level `*.safetensors`).
const CHECKPOINT_FILES: [&str; 7] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    crate::load::SHARD_INDEX,
];

impl HubOptions {
    /// Revision `main`, the environment's cache and endpoint, online unless `HF_HUB_OFFLINE=1`.
    pub fn new() -> Self {
        Self {
            revision: "main".into(),
            cache_dir: None,
            endpoint: None,
            token: None,
            offline: std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true"),
            file: None,
            progress: false,
        }
    }

    /// A branch, tag or commit hash.
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = revision.into();
        self
    }

    /// The cache directory (the one that holds `models--org--name`), instead of
    /// `$HF_HOME/hub` or `~/.cache/huggingface/hub`.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The hub's URL, instead of `$HF_ENDPOINT` or `https://huggingface.co`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// An access token for gated or private repositories (else the cache's stored token).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Whether to use only what the cache holds, with no network at all.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// One file of the repository to fetch and open — a `.gguf` file, whose repositories hold
    /// several quantizations — instead of the checkpoint directory's files.
    pub fn file(mut self, name: impl Into<String>) -> Self {
        self.file = Some(name.into());
        self
    }

    /// Whether to draw `hf-hub`'s download bar on stderr.
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    fn cache(&self) -> Cache {
        match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None => Cache::from_env(),
        }
    }

    fn repo(&self, repo_id: &str) -> Repo {
        Repo::with_revision(repo_id.into(), RepoType::Model, self.revision.clone())
    }
}

/// Fetches what a checkpoint of `repo_id` needs at the options' revision (only what the cache
/// lacks at that commit) and returns the local path [`crate::Pretrained::open`] takes: the
/// snapshot directory, or the one file [`HubOptions::file`] names.
pub fn snapshot(repo_id: &str, options: &HubOptions) -> Result<PathBuf> {
    let error = |file: Option<&str>, message: String| Phi3Error::Hub {
        repo: repo_id.into(),
        revision: options.revision.clone(),
        file: file.map(str::to_string),
        message,
    };
    let wanted = options.file.as_deref().unwrap_or("config.json");
    if options.offline {
        let cache = options.cache();
        return match cache.repo(options.repo(repo_id)).get(wanted) {
            Some(path) => Ok(located(&path, options)),
            None => Err(error(
                Some(wanted),
                format!(
                    "not in the cache at {} (offline: nothing is fetched)",
                    cache.path().display()
                ),
            )),
        };
    }
    let mut builder = ApiBuilder::from_env().with_progress(options.progress);
    if let Some(dir) = &options.cache_dir {
        builder = builder.with_cache_dir(dir.clone());
    }
    if let Some(url) = &options.endpoint {
        builder = builder.with_endpoint(url.clone());
    }
    if options.token.is_some() {
        builder = builder.with_token(options.token.clone());
    }
    let api = builder.build().map_err(|e| error(None, e.to_string()))?;
    let repo = api.repo(options.repo(repo_id));
    let info = repo.info().map_err(|e| error(None, e.to_string()))?;
    let files: Vec<&str> = match &options.file {
        Some(file) => vec![file.as_str()],
        None => {
            let names: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
            if !names.contains(&"config.json") {
                let ggufs: Vec<&str> = names
                    .iter()
                    .copied()
                    .filter(|n| n.ends_with(".gguf"))
                    .collect();
                return Err(error(
                    Some("config.json"),
                    match ggufs.is_empty() {
                        true => "the repository has no config.json".into(),
                        false => format!(
                            "the repository has no config.json; name one of its GGUF files with \
                             HubOptions::file: {ggufs:?}"
                        ),
                    },
                ));
            }
            names
                .into_iter()
                .filter(|n| {
                    CHECKPOINT_FILES.contains(n)
                        || (n.ends_with(".safetensors") && !n.contains('/'))
                })
                .collect()
        }
    };
    // What the cache holds at this commit is not fetched again.
    let snapshot_dir = options
        .cache()
        .path()
        .join(options.repo(repo_id).folder_name())
        .join("snapshots")
        .join(&info.sha);
    let mut first = None;
    for file in files {
        let cached = snapshot_dir.join(file);
        let path = match cached.is_file() {
            true => cached,
            false => repo
                .download(file)
                .map_err(|e| error(Some(file), e.to_string()))?,
        };
        first.get_or_insert(path);
    }
    match first {
        Some(path) => Ok(located(&path, options)),
        None => Err(error(
            Some(wanted),
            "the repository does not list it".into(),
        )),
    }
}

/// The path to open: the file itself when one was named, else its snapshot directory.
fn located(path: &Path, options: &HubOptions) -> PathBuf {
    match (&options.file, path.parent()) {
        (None, Some(dir)) => dir.to_path_buf(),
        _ => path.to_path_buf(),
    }
}
