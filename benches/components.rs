//! The pieces behind the HTTP endpoints, without the network: code generation, signature
//! verification, and the whole webhook handler (body read, signature, JSON, dedupe, match).
//!
//! Run: `cargo bench --bench components`.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::Request;
use mo2fa_core::clock::ManualClock;
use mo2fa_core::code::CodeSpec;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::{Config, StartRequest, Verifier};
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret, SignatureHeaders};
use mo2fa_server::http::{App, HttpConfig};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

const T0: u64 = 1_700_000_000_000;

/// Polls a future that needs no I/O to completion on the spot.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A `message.received` body in `shape` (Blooio's documented v2 is what production receives).
fn event(shape: PayloadShape, message_id: u64, code: &str) -> String {
    let body = shape.body(&Inbound {
        message_id: &format!("m_{message_id}"),
        sender: "+15550100001",
        text: code,
        protocol: "imessage",
        received_at_ms: 1_700_000_000_000,
    });
    String::from_utf8(body).unwrap_or_default()
}

fn components(c: &mut Criterion) {
    let mut g = c.benchmark_group("components");
    let spec = CodeSpec::default();
    g.bench_function("code_generation_csprng", |b| {
        let mut rng = rand::rng();
        b.iter(|| black_box(spec.random(&mut rng)))
    });

    let secret = Secret::new(Scheme::Blooio, "bench-secret").expect("secret");
    let body = event(PayloadShape::V2, 1, "ABC234");
    let header = secret.sign_blooio(T0 as i64 / 1000, body.as_bytes());
    g.bench_function("signature_verify_blooio", |b| {
        let h = SignatureHeaders {
            blooio_signature: Some(&header),
            ..Default::default()
        };
        b.iter(|| {
            secret.verify(
                black_box(&h),
                black_box(body.as_bytes()),
                T0 as i64 / 1000,
                300,
            )
        })
    });

    // The whole handler with 100k challenges pending; every timed delivery verifies one.
    let clock = Arc::new(ManualClock::new(T0));
    let verifier = Verifier::in_memory(
        Config::default(),
        MemoryStoreConfig {
            max_pending: 2_000_000,
            ..MemoryStoreConfig::default()
        },
    )
    .expect("config");
    let app = App::new(
        verifier,
        clock.clone(),
        HttpConfig::new("verify@example.com", secret.clone()),
    );
    let mut rng = rand::rng();
    for _ in 0..100_000 {
        app.verifier
            .start(&StartRequest::default(), T0, &mut rng)
            .expect("room");
    }
    let mut next_id = 0u64;
    // The documented v2 body (with its attachments, timestamps and device id) and the older,
    // shorter `sender` body side by side: what the real shape costs the handler.
    for (name, shape) in [
        ("webhook_handler_no_network", PayloadShape::V2),
        (
            "webhook_handler_no_network_legacy_body",
            PayloadShape::Legacy,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let requests: Vec<Request<Full<Bytes>>> = (0..iters)
                    .map(|_| {
                        let s = app
                            .verifier
                            .start(&StartRequest::default(), T0, &mut rng)
                            .expect("room");
                        let code = spec.format(s.code);
                        next_id += 1;
                        let body = event(shape, next_id, code.as_str());
                        let sig = secret.sign_blooio(T0 as i64 / 1000, body.as_bytes());
                        Request::post("/webhook/blooio")
                            .header("content-type", "application/json")
                            .header("x-blooio-signature", sig)
                            .body(Full::new(Bytes::from(body)))
                            .expect("request")
                    })
                    .collect();
                let start = std::time::Instant::now();
                let mut ok = 0u64;
                for req in requests {
                    let resp = ready(app.handle(req));
                    ok += u64::from(resp.status() == 200);
                }
                let elapsed = start.elapsed();
                assert_eq!(ok, iters, "every delivery must be accepted");
                elapsed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, components);
criterion_main!(benches);
