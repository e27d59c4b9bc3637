//! An OpenAI-compatible HTTP server on one shared model: `/v1/chat/completions` (streaming and
//! not), `/v1/completions` and `/v1/models`, so the tools and clients that speak OpenAI's API
//! (its Python and JavaScript clients, LangChain, editors) use a local Phi-3 by changing their
//! base URL. Requests run concurrently, each on its own thread, against the one model.
//!
//! ```text
//! cargo run --release --example serve -- --model PATH [--host 127.0.0.1] [--port 8000]
//! python3 -c 'from openai import OpenAI; c = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")
//! print(c.chat.completions.create(model=c.models.list().data[0].id,
//!       messages=[{"role": "user", "content": "The capital of France?"}]).choices[0].message.content)'
//! ```
//!
//! It listens on the loopback address unless `--host` says otherwise. The chat template and stop
//! tokens are the checkpoint's; sampling defaults are its `generation_config.json`'s, and a
//! request's `temperature` (0: greedy), `top_p`, `seed`, `max_tokens` and `stop` override them.
//! No continuous batching: N requests at once share the machine (docs/scaling.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use phi3::burn::tensor::backend::Backend;
use phi3::prelude::*;
use phi3::tokenizer::ChatMessage;
use phi3::{StopReason, TextGeneration};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[path = "common/mod.rs"]
mod common;

#[derive(Parser)]
#[command(
    about = "An OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models)"
)]
struct Args {
    /// A `.gguf` file or a checkpoint directory with a tokenizer.
    #[arg(long)]
    model: PathBuf,
    /// The address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The model id `/v1/models` lists (default: the file or directory name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    backend: common::BackendArgs,
    /// How the weights are held: f32, f16, bf16, q8_0, q4_0, q4_1 or stored.
    #[arg(long, default_value = "stored")]
    dtype: String,
}

/// What every handler shares: the pipeline and the name it answers to.
struct Server<B: Backend> {
    pipe: TextGenerationPipeline<B>,
    name: String,
    next_id: AtomicU64,
}

/// An OpenAI-style error: `{"error": {"message", "type", "param", "code"}}` with its status.
struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
}

impl ApiError {
    fn bad(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param,
        }
    }
}

impl From<Phi3Error> for ApiError {
    /// The caller's mistakes (too long a prompt, bad settings) are 400s; the rest 500s.
    fn from(e: Phi3Error) -> Self {
        let status = match e {
            Phi3Error::PromptTooLong { .. }
            | Phi3Error::InvalidOption { .. }
            | Phi3Error::Sampling(_)
            | Phi3Error::Tokenizer(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            message: e.to_string(),
            param: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status.is_client_error() {
            true => "invalid_request_error",
            false => "server_error",
        };
        let body = json!({"error": {
            "message": self.message, "type": kind, "param": self.param, "code": null,
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

/// The fields of both endpoints' requests this server reads (others are accepted and ignored,
/// as OpenAI's own optional fields are).
#[derive(Deserialize)]
struct Request {
    model: String,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    prompt: Option<Prompt>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    #[serde(default)]
    stream: bool,
    stop: Option<Stop>,
    n: Option<usize>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// What a request asks for, checked.
struct Job {
    input: Input,
    config: GenerationConfig,
    stream: bool,
}

enum Input {
    Chat(Vec<ChatMessage>),
    Text(String),
}

impl<B: Backend> Server<B> {
    /// Parses and checks a request body against this endpoint (`chat`: messages, else prompt).
    fn job(&self, body: &[u8], chat: bool) -> Result<Job, ApiError> {
        let r: Request = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad(None, format!("the body is not a valid request: {e}")))?;
        if r.model != self.name {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!(
                    "model {:?} does not exist; this server has {:?}",
                    r.model, self.name
                ),
                param: Some("model"),
            });
        }
        if r.n.is_some_and(|n| n != 1) {
            return Err(ApiError::bad(Some("n"), "only n = 1 is supported"));
        }
        let input = match chat {
            true => {
                let messages = r
                    .messages
                    .ok_or_else(|| ApiError::bad(Some("messages"), "`messages` is required"))?;
                if messages.is_empty() {
                    return Err(ApiError::bad(Some("messages"), "`messages` is empty"));
                }
                if let Some(m) = messages
                    .iter()
                    .find(|m| !["system", "user", "assistant"].contains(&m.role.as_str()))
                {
                    return Err(ApiError::bad(
                        Some("messages"),
                        format!("role {:?}: expected system, user or assistant", m.role),
                    ));
                }
                let messages = messages
                    .into_iter()
                    .map(|m| ChatMessage::new(m.role, m.content));
                Input::Chat(messages.collect())
            }
            false => match r.prompt {
                Some(Prompt::One(p)) => Input::Text(p),
                Some(Prompt::Many(mut p)) if p.len() == 1 => Input::Text(p.remove(0)),
                Some(Prompt::Many(_)) => {
                    return Err(ApiError::bad(Some("prompt"), "only one prompt per request"));
                }
                None => return Err(ApiError::bad(Some("prompt"), "`prompt` is required")),
            },
        };
        // The checkpoint's defaults, then what the request says.
        let mut config = self.pipe.generation_config();
        config.return_full_text = false;
        // OpenAI's completions default to 16 tokens; chat to the checkpoint's length.
        config.max_new_tokens = match (r.max_completion_tokens.or(r.max_tokens), chat) {
            (Some(0), _) => return Err(ApiError::bad(Some("max_tokens"), "must be at least 1")),
            (Some(n), _) => n,
            (None, false) => 16,
            (None, true) => config.max_new_tokens,
        };
        if let Some(t) = r.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(ApiError::bad(
                    Some("temperature"),
                    format!("{t} is not in [0, 2]"),
                ));
            }
            config.sampling.do_sample = t > 0.0;
            if t > 0.0 {
                config.sampling.temperature = t;
            }
        }
        if let Some(p) = r.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(ApiError::bad(
                    Some("top_p"),
                    format!("{p} is not in (0, 1]"),
                ));
            }
            config.sampling.top_p = (p < 1.0).then_some(p);
        }
        if let Some(seed) = r.seed {
            config.sampling.seed = seed;
        }
        config.stop_strings = match r.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(s)) => s,
        };
        if config.stop_strings.iter().any(String::is_empty) || config.stop_strings.len() > 4 {
            return Err(ApiError::bad(
                Some("stop"),
                "up to 4 non-empty stop strings",
            ));
        }
        Ok(Job {
            input,
            config,
            stream: r.stream,
        })
    }

    /// Runs a job on this thread, handing each piece of text to `on_text`.
    fn run(
        &self,
        job: &Job,
        on_text: &mut dyn FnMut(&str) -> phi3::Result<()>,
    ) -> phi3::Result<TextGeneration> {
        match &job.input {
            Input::Chat(messages) => self.pipe.chat(messages, &job.config, on_text),
            Input::Text(prompt) => self.pipe.generate_stream(prompt, &job.config, on_text),
        }
    }
}

/// Holds back text that may be the start of a stop string, and cuts the text where one
/// appears: OpenAI's answers never contain the stop string, streamed or not.
struct StopFilter {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

impl StopFilter {
    fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.to_vec(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// The text that is safe to send after `chunk`.
    fn push(&mut self, chunk: &str) -> String {
        if self.stopped {
            return String::new();
        }
        self.pending.push_str(chunk);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            self.stopped = true;
            self.pending.truncate(at);
            return std::mem::take(&mut self.pending);
        }
        // The longest tail of `pending` that begins some stop string waits for more text.
        let keep = self
            .stops
            .iter()
            .flat_map(|s| {
                (1..s.len())
                    .filter(|&n| s.is_char_boundary(n))
                    .map(move |n| &s[..n])
            })
            .filter(|prefix| self.pending.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let send = self.pending.len() - keep;
        let rest = self.pending.split_off(send);
        std::mem::replace(&mut self.pending, rest)
    }

    /// What is left when generation ends.
    fn finish(&mut self) -> String {
        match self.stopped {
            true => String::new(),
            false => std::mem::take(&mut self.pending),
        }
    }
}

fn finish_reason(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::MaxNewTokens => "length",
        StopReason::EosToken(_) | StopReason::StopString(_) => "stop",
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn usage(out: &TextGeneration) -> Value {
    json!({
        "prompt_tokens": out.prompt_ids.len(),
        "completion_tokens": out.new_ids.len(),
        "total_tokens": out.prompt_ids.len() + out.new_ids.len(),
    })
}

async fn models<B: Backend>(State(server): State<Arc<Server<B>>>) -> Response {
    let model = json!({"id": server.name, "object": "model", "created": 0, "owned_by": "phi3"});
    axum::Json(json!({"object": "list", "data": [model]})).into_response()
}

async fn chat<B: Backend>(State(server): State<Arc<Server<B>>>, body: Bytes) -> Response {
    respond(server, body, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completions<B: Backend>(State(server): State<Arc<Server<B>>>, body: Bytes) -> Response {
    respond(server, body, false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// One request of either endpoint: checked here, generated on a blocking thread.
async fn respond<B: Backend>(
    server: Arc<Server<B>>,
    body: Bytes,
    chat: bool,
) -> Result<Response, ApiError> {
    let job = server.job(&body, chat)?;
    let n = server.next_id.fetch_add(1, Ordering::Relaxed);
    let (id, object) = match chat {
        true => (format!("chatcmpl-{n}"), "chat.completion"),
        false => (format!("cmpl-{n}"), "text_completion"),
    };
    let created = now();
    let model = server.name.clone();
    if !job.stream {
        let out = tokio::task::spawn_blocking(move || {
            server.run(&job, &mut |_| Ok(())).map(|out| (out, job))
        })
        .await
        .map_err(|e| {
            ApiError::from(Phi3Error::InvalidOption {
                option: "request",
                message: e.to_string(),
            })
        })?;
        let (out, job) = out?;
        let mut filter = StopFilter::new(&job.config.stop_strings);
        let text = filter.push(&out.text) + &filter.finish();
        let choice = match chat {
            true => json!({"index": 0, "message": {"role": "assistant", "content": text},
                           "finish_reason": finish_reason(&out.stop_reason), "logprobs": null}),
            false => json!({"index": 0, "text": text,
                            "finish_reason": finish_reason(&out.stop_reason), "logprobs": null}),
        };
        let body = json!({"id": id, "object": object, "created": created, "model": model,
                          "choices": [choice], "usage": usage(&out)});
        return Ok(axum::Json(body).into_response());
    }
    // Streaming: server-sent events, one per piece of text, then the finish reason and [DONE].
    let (tx, rx) = mpsc::channel::<Event>(64);
    let chunk = move |delta: Value, finish: Option<&str>| {
        let choice = match chat {
            true => json!({"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}),
            false => json!({"index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")),
                            "finish_reason": finish, "logprobs": null}),
        };
        let object = match chat {
            true => "chat.completion.chunk",
            false => "text_completion",
        };
        Event::default().data(
            json!({"id": id, "object": object, "created": created, "model": model,
                                     "choices": [choice]})
            .to_string(),
        )
    };
    tokio::task::spawn_blocking(move || {
        let mut filter = StopFilter::new(&job.config.stop_strings);
        // A closed channel (the client went away) stops generation at the next token.
        let send = |event: Event| {
            tx.blocking_send(event)
                .map_err(|_| Phi3Error::InvalidOption {
                    option: "stream",
                    message: "the client disconnected".into(),
                })
        };
        if chat {
            send(chunk(json!({"role": "assistant", "content": ""}), None))?;
        }
        let result = server.run(&job, &mut |text| {
            let text = filter.push(text);
            match text.is_empty() {
                true => Ok(()),
                false => send(chunk(json!({"content": text}), None)),
            }
        });
        let event = match result {
            Ok(out) => {
                let rest = filter.finish();
                if !rest.is_empty() {
                    send(chunk(json!({"content": rest}), None))?;
                }
                chunk(json!({}), Some(finish_reason(&out.stop_reason)))
            }
            // The status is sent already: the error goes in the stream, as OpenAI does.
            Err(e) => Event::default().data(
                json!({"error": {"message": e.to_string(), "type": "server_error"}}).to_string(),
            ),
        };
        send(event)?;
        send(Event::default().data("[DONE]"))
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        Some((Ok::<_, Infallible>(event), rx))
    });
    Ok(Sse::new(stream).into_response())
}

/// A JSON 404 for paths the API does not have.
async fn unknown() -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message:
            "no such endpoint: /v1/chat/completions, /v1/completions and /v1/models are served"
                .into(),
        param: None,
    }
    .into_response()
}

fn run<B: Backend>(args: Args, device: B::Device) -> Result<(), Phi3Error> {
    common::set_compute::<B>(&device, &args.backend.compute)?;
    let options = common::with_load_bar(LoadOptions::<B>::new(device).storage(args.dtype.parse()?));
    let pipe = TextGenerationPipeline::<B>::load(&args.model, &options)?;
    let name = args.name.clone().unwrap_or_else(|| {
        let stem = args.model.file_stem().or(args.model.file_name());
        stem.map_or("phi3".into(), |s| s.to_string_lossy().into_owned())
    });
    let server = Arc::new(Server {
        pipe,
        name,
        next_id: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/v1/models", get(models::<B>))
        .route("/v1/chat/completions", post(chat::<B>))
        .route("/v1/completions", post(completions::<B>))
        .fallback(unknown)
        .with_state(server.clone());
    let io = |e: std::io::Error| Phi3Error::InvalidOption {
        option: "host",
        message: e.to_string(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    runtime.block_on(async move {
        let addr: SocketAddr = tokio::net::lookup_host((args.host.as_str(), args.port))
            .await
            .map_err(io)?
            .next()
            .ok_or_else(|| io(std::io::Error::other("the host resolves to no address")))?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
        let bound = listener.local_addr().map_err(io)?;
        // One line for scripts to wait for (and to learn the port when --port 0).
        println!("serving {} on http://{bound}/v1", server.name);
        axum::serve(listener, app).await.map_err(io)
    })
}

fn dispatch(args: Args) -> Result<(), Phi3Error> {
    let device: common::Device = args.backend.device.parse()?;
    on_device!(device, run(args))
}

fn main() -> ExitCode {
    common::exit(dispatch(Args::parse()))
}
