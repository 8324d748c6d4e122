use super::*;
use crate::shard::{Shard, write_histograms};

fn histogram(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 100_000_000, 3).unwrap();
    for &(us, n) in values {
        h.record_n(us, n).unwrap();
    }
    h
}

/// A scratch directory, removed when the test drops it.
fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A bench shard at `dir` whose webhook latencies are `values` (µs, count).
fn bench_shard(dir: &Path, plan: &str, shard: Shard, values: &[(u64, u64)]) {
    std::fs::create_dir_all(dir).unwrap();
    let h = histogram(values);
    write_histograms(dir, "webhook", &h, &h).unwrap();
    let n = h.len();
    let json = serde_json::json!({
        "target": "http://127.0.0.1:1", "connections": 4, "measure_seconds": 1.0,
        "fraction_of_saturation": null, "run": {},
        "endpoints": [{"endpoint": "webhook", "saturation_per_s": null, "offered_per_s": n,
            "achieved_per_s": n as f64, "succeeded": n, "errors": 1,
            "errors_by_status": {"503": 1}, "latency_ms": {}}],
    });
    put(dir, "bench.json", json.to_string()).unwrap();
    Manifest::bench(plan, shard).write(dir).unwrap();
}

#[test]
fn histograms_are_added_not_averaged() {
    let tmp = tmp();
    let d = tmp.path();
    let (a, b) = (d.join("a"), d.join("b"));
    // 1,000 fast requests on one shard, 10 slow ones on the other: the p99 of all 1,010 is
    // fast (averaging the shards' p99s would give about 50 ms).
    bench_shard(&a, "p", Shard::new(0, 2).unwrap(), &[(1_000, 1_000)]);
    bench_shard(&b, "p", Shard::new(1, 2).unwrap(), &[(100_000, 10)]);
    let j = bench::merge(&[a, b], &d.join("out")).unwrap();
    let e = &j["endpoints"][0];
    assert_eq!(e["succeeded"], 1_010);
    assert_eq!(e["errors"], 2);
    assert_eq!(e["errors_by_status"]["503"], 2);
    let p99 = e["latency_ms"]["p99"].as_f64().unwrap();
    assert!((p99 - 1.0).abs() < 0.01, "p99 {p99}");
    let max = e["latency_ms"]["max"].as_f64().unwrap();
    assert!((max - 100.0).abs() < 0.1, "max {max}");
    let merged = crate::shard::read_histogram(&d.join("out/webhook.hdr")).unwrap();
    assert_eq!(merged.len(), 1_010);
    assert_eq!(Manifest::read(&d.join("out")).unwrap().shards, [0, 1]);
    assert_eq!(
        bench::metrics(&j)["webhook"]["p99_ms"],
        e["latency_ms"]["p99"]
    );
}

#[test]
fn merging_refuses_what_is_not_one_whole_run() {
    let tmp = tmp();
    let d = tmp.path();
    let shard = |i| Shard::new(i, 2).unwrap();
    let err = |dirs: &[PathBuf]| bench::merge(dirs, &d.join("out")).unwrap_err().to_string();
    assert!(err(&[]).contains("nothing to merge"), "{}", err(&[]));
    bench_shard(&d.join("a0"), "plan a", shard(0), &[(10, 1)]);
    bench_shard(&d.join("a1"), "plan a", shard(1), &[(10, 1)]);
    bench_shard(&d.join("b1"), "plan b", shard(1), &[(10, 1)]);
    let e = err(&[d.join("a0"), d.join("b1")]);
    assert!(e.contains("different bench runs"), "{e}");
    let e = err(&[d.join("a0")]);
    assert!(e.contains("missing shard(s) 1/2"), "{e}");
    let e = err(&[d.join("a0"), d.join("a0")]);
    assert!(e.contains("shard 0/2 is in both"), "{e}");
    let e = err(&[d.join("nowhere")]);
    assert!(e.contains("has no shard.json"), "{e}");
    // Another mo2fa version, another trace version.
    let mut m = Manifest::read(&d.join("a1")).unwrap();
    m.mo2fa = "0.0.0-other".into();
    m.write(&d.join("a1")).unwrap();
    let e = err(&[d.join("a0"), d.join("a1")]);
    assert!(e.contains("mo2fa 0.0.0-other"), "{e}");
    let mut m = Manifest::read(&d.join("a0")).unwrap();
    m.trace_version = 99;
    m.write(&d.join("a1")).unwrap();
    let e = err(&[d.join("a0"), d.join("a1")]);
    assert!(e.contains("mismatched trace versions"), "{e}");
    // A live merge of bench shards.
    let e = live::merge(&[d.join("a0")], &d.join("out"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a live replay"), "{e}");
}
