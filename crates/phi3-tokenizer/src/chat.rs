//! Chat templates: the Jinja `chat_template` of `tokenizer_config.json`, rendered by minijinja.

use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use crate::TokenizerError;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Phi-3's chat format: `<|role|>\n{content}<|end|>\n` per turn, and `<|assistant|>\n` to ask
/// for the answer. Used when a tokenizer has no `chat_template` of its own.
pub const PHI3_CHAT_TEMPLATE: &str = "{% for message in messages %}\
{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/// Instructions a chat template may run for one rendering.
pub const TEMPLATE_FUEL: u64 = 5_000_000;

pub(crate) fn render(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: Option<&str>,
    eos_token: Option<&str>,
) -> Result<String, TokenizerError> {
    let mut env = Environment::new();
    // A template is code from the checkpoint: it runs on a budget of instructions (Phi-3's own
    // spends about 10 per message) and may not nest without end.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(64);
    // Hugging Face templates call raise_exception(...) to reject conversations.
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_template("chat", template)
        .map_err(|e| TokenizerError::Template(e.to_string()))?;
    let tmpl = env
        .get_template("chat")
        .map_err(|e| TokenizerError::Template(e.to_string()))?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token.unwrap_or(""),
        eos_token => eos_token.unwrap_or(""),
    })
    .map_err(|e| TokenizerError::Template(e.to_string()))
}
