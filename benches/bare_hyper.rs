//! Baseline for the HTTP comparison: a bare hyper 1.x server that answers every request with
//! a constant body, on the same runtime settings as `mo2fa serve`. Whatever the verifier does
//! beyond this costs throughput; `benches/compare.sh` reports the ratio.
//!
//! Run: `cargo bench --bench bare_hyper -- 127.0.0.1:9000` (prints the bound address, serves
//! until killed).

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;

async fn constant(
    _req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut r = Response::new(Full::new(Bytes::from_static(b"{\"result\":\"ok\"}")));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

fn main() -> std::io::Result<()> {
    // `cargo bench` passes `--bench`; the address is the first other argument.
    let addr = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("bare hyper listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(constant))
                    .await;
            });
        }
    })
}
