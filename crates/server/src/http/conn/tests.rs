//! Unit tests of `http::conn`.

use super::*;

#[test]
fn the_read_mark_is_set_by_the_first_bytes_after_a_write() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let (mut client, epoch) = (client, Instant::now());
        let mark = Arc::new(ReadMark::new(epoch));
        let mut io = Marked {
            io: server,
            mark: mark.clone(),
            guard: WriteGuard::new(Duration::from_secs(1), usize::MAX, Arc::default()),
        };
        let mut buf = [0u8; 8];
        client.write_all(b"GET").await.unwrap();
        io.read_exact(&mut buf[..3]).await.unwrap();
        let first = mark.began();
        client.write_all(b" /").await.unwrap();
        io.read_exact(&mut buf[..2]).await.unwrap();
        assert_eq!(
            mark.began(),
            first,
            "later bytes of one request keep its start"
        );
        io.write_all(b"HTTP/1.1 200").await.unwrap();
        assert_eq!(mark.began.load(Ordering::Relaxed), 0, "a response ends it");
        std::thread::sleep(Duration::from_millis(2));
        client.write_all(b"GET").await.unwrap();
        io.read_exact(&mut buf[..3]).await.unwrap();
        assert!(mark.began() > first, "the next request starts anew");
    });
}

/// A server app over a small memory store (for this file's tests).
fn small_app() -> App<mo2fa_core::verifier::Verifier, mo2fa_core::clock::SystemClock> {
    use mo2fa_core::store::MemoryStoreConfig;
    use mo2fa_core::verifier::{Config, Verifier};
    use mo2fa_core::webhook::{Scheme, Secret};
    let store = MemoryStoreConfig {
        shards: 8,
        max_pending: 10,
        retention_ms: 1000,
    };
    let v = Verifier::in_memory(Config::default(), store).unwrap();
    let secret = Secret::new(Scheme::Blooio, "k").unwrap();
    let cfg = crate::http::HttpConfig::new("h", secret);
    App::new(v, mo2fa_core::clock::SystemClock, cfg)
}

mod future_size {
    use super::*;

    /// Hyper moves each request's future into its connection's slot, so every byte of it is
    /// copied per request (and it was copied again at each level that held the request by
    /// value: 2,800 bytes in all before the request was borrowed instead). A loose bound, to
    /// catch a route that puts a large future back on the common path (box those, as `start`
    /// and the SMS routes are).
    #[test]
    fn a_request_future_stays_small() {
        let app = small_app();
        let body = Deadlined::new(
            http_body_util::Full::new(bytes::Bytes::new()),
            Instant::now(),
            Duration::from_secs(1),
        );
        let (parts, mut body) = Request::new(body).into_parts();
        let f = app.handle_timed(&parts, &mut body, Surface::All);
        let size = std::mem::size_of_val(&f);
        assert!(size <= 1200, "a request's future is {size} bytes");
    }
}

mod shutdown {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on a free port, stopped by the sender; the handle resolves when `serve` returns.
    async fn server() -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let app = Arc::new(small_app());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));
        (addr, stop, served)
    }

    /// Reads until the peer closes, failing after `secs`.
    async fn read_to_close(c: &mut TcpStream, secs: u64) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(secs), c.read_to_end(&mut out))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_when_the_shutdown_begins() {
        let (addr, stop, served) = server().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nhost: h\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
        stop.send(()).unwrap();
        // Without the wake, the idle connection would stay open until its header timeout
        // (10 s), and `serve` would wait for it.
        assert_eq!(read_to_close(&mut c, 3).await, "");
        tokio::time::timeout(Duration::from_secs(3), served)
            .await
            .expect("serve returns once the connection is closed")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_request_in_flight_when_the_shutdown_begins_is_answered_first() {
        let (addr, stop, served) = server().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(
            b"POST /webhook/blooio HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\n\
              content-length: 4\r\n\r\n{}",
        )
        .await
        .unwrap();
        // The request is dispatched and waits for the rest of its body.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !served.is_finished(),
            "serve waits for the request in flight"
        );
        c.write_all(b"  ").await.unwrap();
        let answer = read_to_close(&mut c, 3).await;
        // Unsigned, so refused; what matters is that it is answered, and the connection then
        // closed.
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        tokio::time::timeout(Duration::from_secs(3), served)
            .await
            .expect("serve returns after the answer")
            .unwrap()
            .unwrap();
    }
}
