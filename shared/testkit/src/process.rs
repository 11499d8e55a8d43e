//! Local servers as child processes on free loopback ports.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("an ephemeral port")
}

/// Starts the server `command(port)` builds on a free loopback port and waits until it listens.
/// Its output is discarded; a failure to start names the tool and how to get it.
pub(crate) fn spawn_server(
    what: &str,
    within: Duration,
    command: impl FnOnce(u16) -> Command,
) -> (Child, String) {
    let port = free_port();
    let child = command(port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start ({e}): run the tests with `make test`"));
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}
