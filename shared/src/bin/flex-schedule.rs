//! `flex-schedule`: changes a queue's opening hours in the channels table (README, "Opening
//! hours"). Wiring only; the command lives in `flex_handoff::availability::cli`.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let ran = flex_handoff::availability::cli::run(
        &args,
        dynamodb,
        std::env::var("CHANNELS_TABLE").ok(),
        |path| {
            if path == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            }
        },
        flex_handoff::unix_now(),
    )
    .await;
    match ran {
        Ok(said) => println!("{said}"),
        Err(error) => {
            eprintln!("flex-schedule: {error}");
            std::process::exit(error.exit_code());
        }
    }
}
