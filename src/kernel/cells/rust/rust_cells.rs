//! Rust cells, evaluated by the `evcxr` library on a thread of their own.
//!
//! Starting evcxr takes seconds, so it starts on the first Rust cell, never
//! before `kernel_info` is answered. evcxr runs user code in a child process
//! whose stdout and stderr arrive on channels: one pump thread
//! (`output_pump.rs`) forwards them to the running cell as they come, and is
//! flushed before a cell's reply so that no line is lost or given to the
//! next cell. (evcxr itself collects
//! `EVCXR_BEGIN_CONTENT mime ... EVCXR_END_CONTENT` blocks into the value.)

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::output_pump::OutputPump;
use super::rust_errors::compilation_error;
use super::stdin_reads::RawReads;
use crate::kernel::cells::output::{CellError, CellSink};
use crate::kernel::protocol::stdin::{InputError, InputSource};

/// What a successful Rust cell evaluated to: a mime bundle, empty for `()`.
pub type RustValue = Map<String, Value>;

/// The hover text evcxr gives when nothing is known at the cursor.
const NOTHING_FOUND: &str = "No documentation found";

/// What inspect found: plain text and, when evcxr has it, HTML.
pub struct RustHover {
    /// The `text/plain` form.
    pub text: String,
    /// The `text/html` form (may be empty).
    pub html: String,
}

/// Completions for Rust code: the matches and the replaced range (byte offsets).
pub struct RustCompletions {
    /// Candidate texts.
    pub matches: Vec<String>,
    /// Start of the text the candidates replace.
    pub start: usize,
    /// End of the text the candidates replace.
    pub end: usize,
}

enum Request {
    Eval {
        code: String,
        sink: CellSink,
        input: Box<InputSource>,
        reply: oneshot::Sender<Result<RustValue, CellError>>,
    },
    Complete {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Option<RustCompletions>>,
    },
    Inspect {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Option<RustHover>>,
    },
}

/// Handle to the evcxr thread; cheap to clone.
#[derive(Clone)]
pub struct RustCells {
    requests: Arc<Mutex<Option<Sender<Request>>>>,
    child: Arc<Mutex<Option<Arc<Mutex<Child>>>>>,
}

impl Default for RustCells {
    fn default() -> Self {
        Self::new()
    }
}

impl RustCells {
    /// A handle; evcxr itself starts on first use.
    pub fn new() -> Self {
        Self {
            requests: Arc::default(),
            child: Arc::default(),
        }
    }

    /// Whether evcxr has been started.
    pub fn started(&self) -> bool {
        self.requests.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// Evaluate `code`, streaming its output into `sink`; reads of standard
    /// input are answered from `input`.
    pub async fn eval(
        &self,
        code: &str,
        sink: CellSink,
        input: InputSource,
    ) -> Result<RustValue, CellError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Eval {
            code: code.into(),
            sink,
            input: Box::new(input),
            reply,
        })?;
        answer
            .await
            .unwrap_or_else(|_| Err(CellError::new("EvcxrError", "the Rust evaluator stopped")))
    }

    /// Completions at `cursor` (a byte offset), if evcxr is running.
    pub async fn complete(&self, code: &str, cursor: usize) -> Option<RustCompletions> {
        if !self.started() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        self.send(Request::Complete {
            code: code.into(),
            cursor,
            reply,
        })
        .ok()?;
        answer.await.ok().flatten()
    }

    /// Type and documentation of what is under `cursor`, if evcxr is running.
    pub async fn inspect(&self, code: &str, cursor: usize) -> Option<RustHover> {
        if !self.started() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        self.send(Request::Inspect {
            code: code.into(),
            cursor,
            reply,
        })
        .ok()?;
        answer.await.ok().flatten()
    }

    /// Stop the code now running, by killing evcxr's child process
    /// (evcxr restarts it on the next cell; variables are lost).
    pub fn interrupt(&self) {
        if let Some(child) = self.child.lock().ok().and_then(|c| c.clone())
            && let Ok(mut child) = child.lock()
        {
            let _ = child.kill();
        }
    }

    fn send(&self, request: Request) -> Result<(), CellError> {
        let mut requests = self
            .requests
            .lock()
            .map_err(|_| CellError::new("EvcxrError", "the Rust evaluator is unavailable"))?;
        let sender = requests.get_or_insert_with(|| start(self.child.clone()));
        sender.send(request).map_err(|_| {
            CellError::new(
                "EvcxrError",
                "the Rust evaluator stopped; restart the kernel",
            )
        })
    }
}

/// Start the evcxr thread; its context is created there, off the async runtime.
fn start(child_slot: Arc<Mutex<Option<Arc<Mutex<Child>>>>>) -> Sender<Request> {
    let (tx, rx) = crossbeam_channel::unbounded::<Request>();
    thread::Builder::new()
        .name("evcxr".into())
        .spawn(move || serve(rx, child_slot))
        .expect("spawning the evcxr thread");
    tx
}

fn serve(requests: Receiver<Request>, child_slot: Arc<Mutex<Option<Arc<Mutex<Child>>>>>) {
    let (mut context, outputs) = match evcxr::CommandContext::new() {
        Ok(started) => started,
        Err(err) => {
            let error = CellError::new(
                "EvcxrError",
                &format!(
                    "could not start the Rust evaluator (evcxr): {err}\nIs a Rust toolchain (cargo, rustc) on PATH?"
                ),
            );
            for request in requests {
                match request {
                    Request::Eval { reply, .. } => {
                        let _ = reply.send(Err(error.clone()));
                    }
                    Request::Complete { reply, .. } => {
                        let _ = reply.send(None);
                    }
                    Request::Inspect { reply, .. } => {
                        let _ = reply.send(None);
                    }
                }
            }
            return;
        }
    };
    let pump = OutputPump::start(outputs.stdout, outputs.stderr);
    for request in requests {
        match request {
            Request::Eval {
                code,
                sink,
                input,
                reply,
            } => {
                let process = context.process_handle();
                if let Ok(mut slot) = child_slot.lock() {
                    *slot = Some(process.clone());
                }
                pump.attach(Some(sink));
                let raw_reads = RawReads::watch(process, (*input).clone());
                let refused = std::cell::Cell::new(None);
                // `evcxr_input::get_string` / `get_password` in the cell.
                let mut callbacks = evcxr::EvalCallbacks {
                    input_reader: &|request| {
                        input
                            .read_line(&request.prompt, request.is_password)
                            .unwrap_or_else(|err| {
                                refused.set(Some(err));
                                String::new()
                            })
                    },
                };
                let result = context.execute_with_callbacks(&code, &mut callbacks);
                let raw_refused = raw_reads.stop();
                // Asked again: evcxr starts a new child after one that died.
                let panicked = pump.flush(process_id(&context.process_handle()));
                pump.attach(None);
                if let Ok(mut slot) = child_slot.lock() {
                    *slot = None;
                }
                let result = match (refused.take().or(raw_refused), panicked) {
                    (Some(err), _) => Err(stdin_error(&err)),
                    // evcxr reports a panic only on stderr: the cell failed.
                    (None, Some(panic)) if result.is_ok() => Err(CellError::new("Panic", &panic)),
                    (None, _) => result.map(to_bundle).map_err(|e| to_cell_error(e, &code)),
                };
                let _ = reply.send(result);
            }
            Request::Complete {
                code,
                cursor,
                reply,
            } => {
                let completions =
                    context
                        .completions(&code, cursor)
                        .ok()
                        .map(|c| RustCompletions {
                            matches: c.completions.into_iter().map(|c| c.code).collect(),
                            start: c.start_offset,
                            end: c.end_offset,
                        });
                let _ = reply.send(completions);
            }
            Request::Inspect {
                code,
                cursor,
                reply,
            } => {
                let hover = context
                    .hover_at(&code, cursor)
                    .ok()
                    .map(|(text, html)| RustHover {
                        text: text.trim().to_string(),
                        html: html.trim().to_string(),
                    })
                    // evcxr's answer when rust-analyzer knows nothing.
                    .filter(|hover| !hover.text.is_empty() && hover.text != NOTHING_FOUND);
                let _ = reply.send(hover);
            }
        }
    }
}

fn to_bundle(outputs: evcxr::EvalOutputs) -> RustValue {
    outputs
        .content_by_mime_type
        .into_iter()
        .map(|(mime, content)| (mime, Value::String(content)))
        .collect()
}

fn stdin_error(error: &InputError) -> CellError {
    match error {
        InputError::NotAllowed => CellError::new("StdinNotAllowed", &error.to_string()),
        InputError::Interrupted => CellError::new("Interrupted", &error.to_string()),
        InputError::Closed => CellError::new("StdinClosed", &error.to_string()),
    }
}

fn to_cell_error(error: evcxr::Error, code: &str) -> CellError {
    match error {
        evcxr::Error::CompilationErrors(errors) => compilation_error(&errors, code),
        evcxr::Error::SubprocessTerminated(message) => CellError::new(
            "Interrupted",
            &format!(
                "{message}\nThe Rust evaluator was restarted: variables defined so far are lost."
            ),
        ),
        other => CellError::new("EvcxrError", &other.to_string()),
    }
}

/// The pid of evcxr's child process, while it runs.
fn process_id(process: &Mutex<Child>) -> Option<u32> {
    process.lock().ok().map(|child| child.id())
}
