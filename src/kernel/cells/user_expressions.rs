//! `user_expressions` of an `execute_request`: each expression is evaluated
//! as Rust after the cell succeeded, and answered with its value (a mime
//! bundle) or with the error it raised, as the messaging spec asks.

use std::collections::HashMap;

use jupyter_protocol::{ExpressionResult, Media};
use serde_json::{Map, Value};

use super::output::{CellError, CellSink};
use super::rust::rust_cells::RustCells;
use crate::kernel::protocol::stdin::InputSource;

/// The `user_expressions` field of the reply: one result per name.
pub async fn evaluate(
    rust: &RustCells,
    expressions: &Option<HashMap<String, String>>,
    sink: &CellSink,
    input: InputSource,
) -> HashMap<String, ExpressionResult> {
    let mut results = HashMap::new();
    let mut pairs: Vec<(&String, &String)> = expressions.iter().flatten().collect();
    pairs.sort();
    for (name, code) in pairs {
        let result = match rust.eval(code, sink.clone(), input.clone()).await {
            Ok(bundle) => match serde_json::from_value::<Media>(Value::Object(bundle)) {
                Ok(data) => ExpressionResult::Ok {
                    data,
                    metadata: Map::new(),
                },
                Err(err) => failed(&CellError::new(
                    "BadMimeBundle",
                    &format!("the value of {name:?} is not a valid mime bundle: {err}"),
                )),
            },
            Err(error) => failed(&error),
        };
        results.insert(name.clone(), result);
    }
    results
}

fn failed(error: &CellError) -> ExpressionResult {
    let error = error.to_reply_error();
    ExpressionResult::Error {
        ename: error.ename,
        evalue: error.evalue,
        traceback: error.traceback,
    }
}
