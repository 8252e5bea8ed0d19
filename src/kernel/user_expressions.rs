//! `user_expressions` of an `execute_request`: each expression is evaluated
//! as Rust after the cell succeeded, and answered with its value (a mime
//! bundle) or with the error it raised, as the messaging spec asks.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::output::CellSink;
use super::rust_cells::RustCells;
use super::stdin::InputSource;

/// The `user_expressions` field of the reply: one result per name.
pub async fn evaluate(
    rust: &RustCells,
    expressions: &Option<HashMap<String, String>>,
    sink: &CellSink,
    input: InputSource,
) -> Value {
    let mut results = Map::new();
    let mut pairs: Vec<(&String, &String)> = expressions.iter().flatten().collect();
    pairs.sort();
    for (name, code) in pairs {
        let result = match rust.eval(code, sink.clone(), input.clone()).await {
            Ok(bundle) => json!({ "status": "ok", "data": bundle, "metadata": {} }),
            Err(error) => {
                let mut content = error.to_content();
                content["status"] = json!("error");
                content
            }
        };
        results.insert(name.clone(), result);
    }
    Value::Object(results)
}
