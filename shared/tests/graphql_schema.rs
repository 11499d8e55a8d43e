//! `schema.graphql`, the file the frontend's code generators read, is the code's schema.

use flex_handoff::handlers::graphql::schema::sdl;
use flex_handoff_testkit::workspace_root;

#[test]
fn schema_graphql_is_the_codes_schema() {
    let path = workspace_root().join("schema.graphql");
    let code = sdl();
    // `make schema` rewrites the file from the code.
    if std::env::var_os("FLEX_HANDOFF_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &code).expect("schema.graphql is writable");
    }
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        file == code,
        "schema.graphql differs from the code's schema: run `make schema` and commit it"
    );
    for part in [
        "type Query",
        "me: Me!",
        "chat(channelSid: ID!): Chat",
        "chats(first: Int = 20, after: String): ChatConnection!",
        "endChat(channelSid: ID!): Chat!",
        "scalar DateTime",
    ] {
        assert!(code.contains(part), "the schema has {part}:\n{code}");
    }
}
