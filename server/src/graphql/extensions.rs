//! What sits around every operation's execution: the alias limit (async-graphql has depth and
//! complexity limits but none for aliases) and telemetry (operation counts and latency). They
//! are plain functions called where the transports execute a request, not schema extensions:
//! with any extension installed, async-graphql sends every field of every answer through the
//! extension chain (a registry lookup and boxed futures per field), which a list of fifteen
//! bookings pays for about two hundred times.
use std::time::Instant;

use async_graphql::{
    Request, Response, ServerError,
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
    },
};

use crate::metrics::Metrics;

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Every alias in the document: operations and fragment definitions.
pub fn aliases_in(document: &ExecutableDocument) -> usize {
    let operations: usize = match &document.operations {
        DocumentOperations::Single(op) => count_aliases(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => ops
            .values()
            .map(|op| count_aliases(&op.node.selection_set.node))
            .sum(),
    };
    let fragments: usize = document
        .fragments
        .values()
        .map(|f| count_aliases(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// The alias limit, checked on the document parsed once: the request keeps it, so the schema
/// does not parse it again. A request that does not parse is left to the schema, which answers
/// it as usual. Returns the refusal to send instead of executing.
pub fn refuse_aliases(request: &mut Request, max: usize) -> Option<Response> {
    let document = request.parsed_query().ok()?;
    (aliases_in(document) > max).then(|| {
        Response::from_errors(vec![ServerError::new(
            format!("Query uses too many aliases (limit {max})"),
            None,
        )])
    })
}

/// The operation's name for the metrics: the one asked for, or the only one the document
/// names.
pub fn operation_name(request: &mut Request) -> Option<String> {
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    match &request.parsed_query().ok()?.operations {
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            ops.keys().next().map(|name| name.to_string())
        }
        _ => None,
    }
}

/// Whether the request runs a subscription (a stream, not counted as one operation).
pub fn is_subscription(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let operation = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    };
    operation.is_some_and(|op| op.node.ty == OperationType::Subscription)
}

/// Counts one executed operation by name and outcome, with its latency since `started`.
pub fn observe(
    metrics: &Metrics,
    operation_name: Option<&str>,
    response: &Response,
    started: Instant,
) {
    let label = metrics.operation_label(operation_name);
    let outcome = if response.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    metrics
        .graphql_operations
        .with_label_values(&[label.as_str(), outcome])
        .inc();
    metrics
        .graphql_duration
        .with_label_values(&[label.as_str()])
        .observe(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_aliases_in_operations_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: me { id } b: me { x: id } ...F } fragment F on Query { c: serverTime }",
        )
        .unwrap();
        assert_eq!(aliases_in(&doc), 4);
    }
}
