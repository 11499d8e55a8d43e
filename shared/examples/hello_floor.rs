//! The floor for cold-start benchmarks: a `lambda_http` hello world built with the workspace's
//! release profile, doing nothing the real functions do.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::new(Body::Text("hello".into())))
    }))
    .await
}
