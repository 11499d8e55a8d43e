//! What one GraphQL request may make us do, counted before anything runs.
//!
//! async-graphql's complexity counts fields, and aliases let one small request select the same
//! resolver hundreds of times: 16 KiB of `a1: activeChat …` is hundreds of DynamoDB reads, and
//! of `e1: endChat(…)` hundreds of Twilio calls. So the operation that will run is priced here by
//! what its resolvers reach, fragments and aliases included, and refused whole when it exceeds
//! [`MAX_STORE_READS`], [`MAX_TWILIO_CALLS`] or [`MAX_MUTATION_FIELDS`]. `@skip`/`@include` are
//! not evaluated: a field counts whether or not it would run.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};

/// DynamoDB reads one request may cause: a page of history, the active chat and a few chats.
pub const MAX_STORE_READS: u32 = 10;
/// Twilio calls one request may cause: ending one interactions chat takes two.
pub const MAX_TWILIO_CALLS: u32 = 2;
/// Mutation fields per request: one chat ended per request, so each end is its own decision.
pub const MAX_MUTATION_FIELDS: u32 = 1;
/// Selections visited while pricing, fragments expanded: far above any real query, and a bound
/// on the work a request of nested fragment spreads can make us do.
pub const MAX_SELECTIONS: usize = 500;
/// Directives on one field or fragment (the schema has `@skip` and `@include` only).
pub const MAX_DIRECTIVES: usize = 4;

/// What an operation's resolvers reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub store_reads: u32,
    pub twilio_calls: u32,
    pub mutation_fields: u32,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.store_reads = self.store_reads.saturating_add(other.store_reads);
        self.twilio_calls = self.twilio_calls.saturating_add(other.twilio_calls);
        self.mutation_fields = self.mutation_fields.saturating_add(other.mutation_fields);
    }

    /// Why this cost is refused, if it is.
    fn excess(&self) -> Option<String> {
        if self.mutation_fields > MAX_MUTATION_FIELDS {
            return Some(format!(
                "a request may hold at most {MAX_MUTATION_FIELDS} mutation field, not {}",
                self.mutation_fields
            ));
        }
        if self.store_reads > MAX_STORE_READS {
            return Some(format!(
                "the query would read the chat store {} times; at most {MAX_STORE_READS} per request",
                self.store_reads
            ));
        }
        if self.twilio_calls > MAX_TWILIO_CALLS {
            return Some(format!(
                "the operation would call Twilio up to {} times; at most {MAX_TWILIO_CALLS} per request",
                self.twilio_calls
            ));
        }
        None
    }
}

/// The object types whose fields reach a service; every other type's fields are free.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Query,
    Mutation,
    Me,
    /// A chat read whole (`chat`, `rateChat`): its `messages` call Twilio.
    Chat,
}

/// A field's price, and the type whose fields its selection picks (if any are priced).
fn price(parent: Parent, field: &str) -> (Cost, Option<Parent>) {
    let reads = |store_reads| Cost {
        store_reads,
        ..Cost::default()
    };
    match (parent, field) {
        (Parent::Query, "me") => (Cost::default(), Some(Parent::Me)),
        // The schedule and the statistics item, the refresh's lock and store writes, and the
        // two TaskRouter reads of a refresh.
        (Parent::Query, "availability") => (
            Cost {
                store_reads: 4,
                twilio_calls: 2,
                mutation_fields: 0,
            },
            None,
        ),
        // One GetItem each; a page of history is one Query.
        (Parent::Query, "chat") => (reads(1), Some(Parent::Chat)),
        (Parent::Me, "activeChat" | "chats") => (reads(1), None),
        // One page of messages is one Twilio read.
        (Parent::Chat, "messages") => (
            Cost {
                twilio_calls: 1,
                ..Cost::default()
            },
            None,
        ),
        // The record, and again when a concurrent rating won; one conditional write; the
        // chat's attributes read and updated in Twilio.
        (Parent::Mutation, "rateChat") => (
            Cost {
                store_reads: 2,
                twilio_calls: 2,
                mutation_fields: 1,
            },
            Some(Parent::Chat),
        ),
        // The record, the Twilio calls its mode takes to end it (interactions: two), and the
        // record again when the webhook closed it first.
        (Parent::Mutation, "endChat") => (
            Cost {
                store_reads: 2,
                twilio_calls: 2,
                mutation_fields: 1,
            },
            None,
        ),
        _ => (Cost::default(), None),
    }
}

/// Prices the operation `operation_name` selects (all of them, the dearest counting, when the
/// name does not decide), and refuses it when it is over a limit.
pub fn check(document: &ExecutableDocument, operation_name: Option<&str>) -> Result<Cost, String> {
    let operations: Vec<&OperationDefinition> = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => vec![&operation.node],
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .filter(|(candidate, _)| candidate.as_str() == name)
            .map(|(_, operation)| &operation.node)
            .collect(),
        (DocumentOperations::Multiple(operations), None) => operations
            .values()
            .map(|operation| &operation.node)
            .collect(),
    };
    let mut dearest = Cost::default();
    for operation in operations {
        let parent = match operation.ty {
            async_graphql::parser::types::OperationType::Query => Parent::Query,
            async_graphql::parser::types::OperationType::Mutation => Parent::Mutation,
            // The schema has none: async-graphql refuses it.
            async_graphql::parser::types::OperationType::Subscription => continue,
        };
        let mut pricing = Pricing {
            fragments: &document.fragments,
            visited: 0,
            spreading: Vec::new(),
        };
        let mut cost = Cost::default();
        pricing.walk(&operation.selection_set.node, parent, &mut cost)?;
        if let Some(excess) = cost.excess() {
            return Err(excess);
        }
        dearest = dearest.max_of(cost);
    }
    Ok(dearest)
}

impl Cost {
    fn max_of(self, other: Cost) -> Cost {
        Cost {
            store_reads: self.store_reads.max(other.store_reads),
            twilio_calls: self.twilio_calls.max(other.twilio_calls),
            mutation_fields: self.mutation_fields.max(other.mutation_fields),
        }
    }
}

type Fragments = HashMap<
    async_graphql::Name,
    async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
>;

struct Pricing<'a> {
    fragments: &'a Fragments,
    visited: usize,
    /// The fragments being expanded, outermost first: a spread of one of them is a cycle.
    spreading: Vec<&'a str>,
}

impl<'a> Pricing<'a> {
    fn walk(
        &mut self,
        selections: &'a SelectionSet,
        parent: Parent,
        cost: &mut Cost,
    ) -> Result<(), String> {
        for selection in &selections.items {
            self.visited += 1;
            if self.visited > MAX_SELECTIONS {
                return Err(format!(
                    "the query expands to more than {MAX_SELECTIONS} selections"
                ));
            }
            match &selection.node {
                Selection::Field(field) => {
                    let (field_cost, child) = price(parent, field.node.name.node.as_str());
                    cost.add(field_cost);
                    if let Some(child) = child {
                        self.walk(&field.node.selection_set.node, child, cost)?;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.walk(&fragment.node.selection_set.node, parent, cost)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.spreading.contains(&name) {
                        return Err(format!("the fragment {name} spreads itself"));
                    }
                    // An unknown fragment is refused by validation; it costs nothing here.
                    if let Some(fragment) = self.fragments.get(name) {
                        self.spreading.push(name);
                        self.walk(&fragment.node.selection_set.node, parent, cost)?;
                        self.spreading.pop();
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_of(query: &str) -> Result<Cost, String> {
        check(&async_graphql::parser::parse_query(query).unwrap(), None)
    }

    #[test]
    fn fields_cost_what_their_resolvers_reach() {
        assert_eq!(
            cost_of("{ me { identity activeChat { status } chats { edges { cursor } } } }"),
            Ok(Cost {
                store_reads: 2,
                ..Cost::default()
            })
        );
        assert_eq!(
            cost_of("mutation { endChat(channelSid: \"CH1\") { status } }"),
            Ok(Cost {
                store_reads: 2,
                twilio_calls: 2,
                mutation_fields: 1
            })
        );
    }

    #[test]
    fn a_transcript_page_is_one_twilio_read_on_a_chat_read_whole_and_free_where_refused() {
        let read = |store_reads, twilio_calls, mutation_fields| Cost {
            store_reads,
            twilio_calls,
            mutation_fields,
        };
        assert_eq!(
            cost_of(
                "{ chat(channelSid: \"CH1\") { rating { score } messages { nodes { body } } } }"
            ),
            Ok(read(1, 1, 0))
        );
        assert_eq!(
            cost_of("mutation { rateChat(channelSid: \"CH1\", score: 5) { rating { score } } }"),
            Ok(read(2, 2, 1))
        );
        // Its answer's transcript would be a third Twilio call: read it with chat(channelSid).
        let rate_and_read =
            "mutation { rateChat(channelSid: \"CH1\", score: 5) { messages { nodes { body } } } }";
        assert!(cost_of(rate_and_read).is_err());
        // Lists answer summaries: the field is refused there without a call.
        assert_eq!(
            cost_of("{ me { activeChat { messages { nodes { body } } } } }"),
            Ok(read(1, 0, 0))
        );
        let three = "{ chat(channelSid: \"CH1\") { a: messages { nodes { body } } b: messages { nodes { body } } c: messages { nodes { body } } } }";
        assert!(
            cost_of(three)
                .unwrap_err()
                .contains("call Twilio up to 3 times")
        );
    }

    #[test]
    fn availability_is_priced_as_a_refresh_so_a_request_holds_one() {
        assert_eq!(
            cost_of("{ availability { open agentsAvailable } me { identity } }"),
            Ok(Cost {
                store_reads: 4,
                twilio_calls: 2,
                mutation_fields: 0
            })
        );
        let twice = "{ a: availability { open } b: availability { open } }";
        assert!(
            cost_of(twice)
                .unwrap_err()
                .contains("call Twilio up to 4 times")
        );
    }

    #[test]
    fn aliases_and_fragments_count_every_time() {
        let ten: String = (0..10)
            .map(|i| format!("c{i}: chat(channelSid: \"x\") {{ status }} "))
            .collect();
        assert!(cost_of(&format!("{{ {ten} }}")).is_ok());
        let eleven = format!("{{ {ten} me {{ activeChat {{ status }} }} }}");
        assert!(cost_of(&eleven).unwrap_err().contains("11 times"));
        let spread = "query { ...F ...F } fragment F on Query { a: me { chats { pageInfo { hasNextPage } } } b: me { ...G ...G ...G } } fragment G on Me { activeChat { status } }";
        // Each F: 1 + 3 reads; twice.
        assert_eq!(cost_of(spread).unwrap().store_reads, 8);
        let two_ends = "mutation { a: endChat(channelSid: \"x\") { status } b: endChat(channelSid: \"y\") { status } }";
        assert!(
            cost_of(two_ends)
                .unwrap_err()
                .contains("at most 1 mutation field")
        );
    }

    #[test]
    fn cycles_and_explosions_are_refused_without_expanding_them() {
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(cost_of(cycle).unwrap_err().contains("spreads itself"));
        // Ten levels of fragments each spread twice: 2^10 copies if expanded.
        let mut query = String::from("{ ...F0 } ");
        for level in 0..10 {
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{} ...F{} }} ",
                level + 1,
                level + 1
            ));
        }
        query.push_str("fragment F10 on Query { me { identity } }");
        assert!(
            cost_of(&query)
                .unwrap_err()
                .contains("more than 500 selections")
        );
    }

    #[test]
    fn the_named_operation_is_the_one_priced() {
        let document = async_graphql::parser::parse_query(
            "query Cheap { me { identity } } query Dear { a: chat(channelSid: \"x\") { status } b: chat(channelSid: \"x\") { status } c: chat(channelSid: \"x\") { status } d: chat(channelSid: \"x\") { status } e: chat(channelSid: \"x\") { status } f: chat(channelSid: \"x\") { status } g: chat(channelSid: \"x\") { status } h: chat(channelSid: \"x\") { status } i: chat(channelSid: \"x\") { status } j: chat(channelSid: \"x\") { status } k: chat(channelSid: \"x\") { status } }",
        )
        .unwrap();
        assert_eq!(check(&document, Some("Cheap")), Ok(Cost::default()));
        assert!(check(&document, Some("Dear")).is_err());
        assert!(
            check(&document, None).is_err(),
            "unnamed: every operation counts"
        );
    }
}
