//! Load shards through the real binary: a live replay in two shards merged, against the same
//! replay unsharded; `bench http` shards against one `mo2fa serve` on port 0, merged; the
//! refusals; `--expect` on the load reports; and deploy/'s load examples run as a dry run.

use crate::common::{self, fails};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SECRET: &str = "load-shards-secret";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn mo2fa(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .current_dir(dir)
        .args(args)
        .env("MO2FA_WEBHOOK_SECRET", SECRET)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn workdir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("shards-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The "Total count" an `.hgrm` table ends with.
fn total_count(hgrm: &Path) -> u64 {
    let text = std::fs::read_to_string(hgrm).unwrap();
    text.rsplit("Total count    =")
        .next()
        .and_then(|t| t.trim().trim_end_matches(']').trim().parse().ok())
        .unwrap_or_else(|| panic!("no total count in {}", hgrm.display()))
}

/// Per live endpoint: requests sent.
fn requests(live: &Value) -> BTreeMap<String, u64> {
    live["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = |k: &str| e[k].as_u64().unwrap();
            (
                e["endpoint"].as_str().unwrap().to_string(),
                n("ok") + n("non_2xx") + n("errors"),
            )
        })
        .collect()
}

/// Per (endpoint, virtual answer): steps, as the trace has them.
fn virtual_answers(live: &Value) -> BTreeMap<(String, String), u64> {
    let mut m = BTreeMap::new();
    for o in live["outcomes"].as_array().unwrap() {
        let key = (
            o["endpoint"].as_str().unwrap().to_string(),
            o["virtual"].as_str().unwrap().to_string(),
        );
        *m.entry(key).or_default() += o["count"].as_u64().unwrap();
    }
    m
}

/// Merged percentiles lie between the shards' (added histograms do; the slack is one
/// HdrHistogram bucket at 3 significant digits), and the merged histogram holds every
/// shard's samples (an average of histograms would hold about half).
fn between_the_shards(
    merged: &Path,
    shards: &[&Path],
    endpoints: &[Value],
    latency: fn(&Value, &str) -> f64,
) {
    for e in endpoints {
        let name = e["endpoint"].as_str().unwrap();
        let hgrm = |d: &Path| d.join(format!("{name}.hgrm"));
        if !hgrm(merged).exists() {
            continue;
        }
        let counts: Vec<u64> = shards
            .iter()
            .map(|d| {
                if hgrm(d).exists() {
                    total_count(&hgrm(d))
                } else {
                    0
                }
            })
            .collect();
        assert_eq!(
            total_count(&hgrm(merged)),
            counts.iter().sum::<u64>(),
            "{name}"
        );
        if counts.contains(&0) {
            continue;
        }
        for key in ["p50", "p99", "p999", "max"] {
            let m = latency(e, key);
            let s: Vec<f64> = shards
                .iter()
                .map(|d| latency(&shard_endpoint(d, name), key))
                .collect();
            let (lo, hi) = (s[0].min(s[1]), s[0].max(s[1]));
            assert!(
                m >= lo * 0.998 - 0.002 && m <= hi * 1.002 + 0.002,
                "{name} {key}: merged {m} ms outside the shards' {s:?}"
            );
        }
    }
}

/// `name`'s row in the live.json or bench.json of `dir`.
fn shard_endpoint(dir: &Path, name: &str) -> Value {
    let file = if dir.join("live.json").exists() {
        "live.json"
    } else {
        "bench.json"
    };
    json(&dir.join(file))["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == name)
        .cloned()
        .unwrap()
}

fn live_latency(e: &Value, key: &str) -> f64 {
    e[format!("{key}_ms")].as_f64().unwrap()
}

fn bench_latency(e: &Value, key: &str) -> f64 {
    let key = if key == "p999" { "p99_9" } else { key };
    e["latency_ms"][key].as_f64().unwrap()
}

#[test]
fn two_live_shards_merge_to_the_unsharded_replay() {
    let dir = workdir("live");
    let scenario = root().join("scenarios/quickstart.toml");
    // Returns what the replay said it would send, on stderr.
    let replay = |out: &str, shard: Option<&str>| {
        let mut args = vec!["run", scenario.to_str().unwrap(), "--duration", "10m"];
        args.extend(["--live", "--speed", "200", "--out", out]);
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = mo2fa(&dir, &args);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let line = err.lines().find(|l| l.starts_with("live replay: "));
        line.unwrap_or_else(|| panic!("no live replay line: {err}"))
            .to_string()
    };
    let said = [
        replay("whole", None),
        replay("s0", Some("0/2")),
        replay("s1", Some("1/2")),
    ];
    let out = ok(&mo2fa(
        &dir,
        &[
            "live",
            "merge",
            "s0",
            "s1",
            "--out",
            "merged",
            "--expect",
            "verified.live == verified.virtual",
        ],
    ));
    assert!(out.contains("expectation met"), "{out}");
    let (whole, merged) = (
        json(&dir.join("whole/live/live.json")),
        json(&dir.join("merged/live.json")),
    );
    let shards = [dir.join("s0/live"), dir.join("s1/live")];
    let parts: Vec<Value> = shards.iter().map(|d| json(&d.join("live.json"))).collect();
    // Every step is replayed once, by one shard; both shards got a part.
    assert_eq!(merged["steps"], whole["steps"]);
    assert_eq!(merged["released"], whole["released"]);
    assert!(parts.iter().all(|p| p["steps"].as_u64().unwrap() > 0));
    // Each run says the requests it sends: the whole trace's, or its shard's of them.
    let total = &whole["steps"];
    assert!(
        said[0].starts_with(&format!("live replay: {total} requests over")),
        "{}",
        said[0]
    );
    for (i, part) in parts.iter().enumerate() {
        let expect = format!(
            "live replay: shard {i}/2: {} of the trace's {total} requests over",
            part["steps"]
        );
        assert!(
            said[i + 1].starts_with(&expect),
            "{} is not {expect}",
            said[i + 1]
        );
    }
    assert_eq!(requests(&merged), requests(&whole));
    assert_eq!(virtual_answers(&merged), virtual_answers(&whole));
    assert_eq!(merged["verified"], whole["verified"]);
    assert_eq!(merged["answers"], whole["answers"]);
    let endpoints = merged["endpoints"].as_array().unwrap().clone();
    between_the_shards(
        &dir.join("merged"),
        &[&shards[0], &shards[1]],
        &endpoints,
        live_latency,
    );
    // Expectations on the merge: exit 3 naming the failure; a typo names the closest name.
    let o = mo2fa(
        &dir,
        &[
            "live",
            "merge",
            "s0",
            "s1",
            "--out",
            "m2",
            "--expect",
            "webhook.p99_ms < 0.000001",
        ],
    );
    fails(&o, 3, "webhook.p99_ms");
    let o = mo2fa(
        &dir,
        &[
            "live",
            "merge",
            "s0",
            "s1",
            "--out",
            "m2",
            "--expect",
            "webhok.p99_ms < 2",
        ],
    );
    fails(&o, 1, "`webhook.p99_ms`");
    // The refusals: a missing shard, a shard twice, an empty list, another trace.
    fails(
        &mo2fa(&dir, &["live", "merge", "s0", "--out", "m3"]),
        1,
        "missing shard(s) 1/2",
    );
    fails(
        &mo2fa(&dir, &["live", "merge", "s0", "s0", "s1", "--out", "m3"]),
        1,
        "is in both",
    );
    fails(
        &mo2fa(&dir, &["live", "merge", "--out", "m3"]),
        1,
        "nothing to merge",
    );
    let other = mo2fa(
        &dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--duration",
            "5m",
            "--live",
            "--speed",
            "200",
            "--shard",
            "1/2",
            "--out",
            "other",
            "--force",
        ],
    );
    ok(&other);
    fails(
        &mo2fa(&dir, &["live", "merge", "s0", "other", "--out", "m3"]),
        1,
        "different traces",
    );
    fails(
        &mo2fa(
            &dir,
            &[
                "run",
                scenario.to_str().unwrap(),
                "--live",
                "--speed",
                "200",
                "--shard",
                "2/2",
            ],
        ),
        2,
        "out of range",
    );
}

fn bench(
    dir: &Path,
    addr: &str,
    rate: &str,
    shard: Option<&str>,
    out: &str,
    expect: &[&str],
) -> Output {
    let url = format!("http://{addr}");
    let mut args = vec![
        "bench",
        "http",
        "--target",
        &url,
        "--endpoint",
        "start",
        "--endpoint",
        "webhook",
    ];
    args.extend([
        "--rate",
        rate,
        "--duration",
        "1",
        "--connections",
        "4",
        "--out",
        out,
    ]);
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    for e in expect {
        args.extend(["--expect", e]);
    }
    mo2fa(dir, &args)
}

#[test]
fn bench_shards_against_one_server_merge_into_the_whole_rate() {
    let dir = workdir("bench");
    let server = common::Serve::start(SECRET, &[]);
    for i in 0..2 {
        ok(&bench(
            &dir,
            &server.addr,
            "300",
            Some(&format!("{i}/2")),
            &format!("b{i}"),
            &[],
        ));
        let b = json(&dir.join(format!("b{i}/bench.json")));
        assert_eq!(b["endpoints"][0]["offered_per_s"], 150, "{b}");
    }
    let out = ok(&mo2fa(
        &dir,
        &[
            "bench",
            "merge",
            "b0",
            "b1",
            "--out",
            "merged",
            "--expect",
            "webhook.succeeded >= 1",
        ],
    ));
    assert!(out.contains("expectation met"), "{out}");
    let merged = json(&dir.join("merged/bench.json"));
    let parts: Vec<Value> = (0..2)
        .map(|i| json(&dir.join(format!("b{i}/bench.json"))))
        .collect();
    for (k, e) in merged["endpoints"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["offered_per_s"], 300);
        let sum: u64 = parts
            .iter()
            .map(|p| p["endpoints"][k]["succeeded"].as_u64().unwrap())
            .sum();
        assert_eq!(e["succeeded"].as_u64().unwrap(), sum);
    }
    let endpoints = merged["endpoints"].as_array().unwrap().clone();
    between_the_shards(
        &dir.join("merged"),
        &[&dir.join("b0"), &dir.join("b1")],
        &endpoints,
        bench_latency,
    );
    assert!(dir.join("merged/latency.html").exists());
    // One unsharded run at the whole rate sends as many requests as the two shards together.
    ok(&bench(&dir, &server.addr, "300", None, "unsharded", &[]));
    let whole = json(&dir.join("unsharded/bench.json"));
    let sent = |b: &Value| -> BTreeMap<String, u64> {
        b["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let n = e["succeeded"].as_u64().unwrap() + e["errors"].as_u64().unwrap();
                (e["endpoint"].as_str().unwrap().to_string(), n)
            })
            .collect()
    };
    assert_eq!(
        sent(&merged),
        sent(&whole),
        "requests sent: merged vs unsharded"
    );
    for e in whole["endpoints"].as_array().unwrap() {
        assert_eq!(e["offered_per_s"], 300);
    }
    // Expectations: exit 3 on the merge and on an unsharded run; a run's name is refused.
    let o = mo2fa(
        &dir,
        &[
            "bench",
            "merge",
            "b0",
            "b1",
            "--out",
            "m2",
            "--expect",
            "webhook.p99_ms < 0.000001",
        ],
    );
    fails(&o, 3, "webhook.p99_ms");
    fails(
        &bench(
            &dir,
            &server.addr,
            "100",
            None,
            "whole",
            &["start.p99_ms < 1e-9ms"],
        ),
        3,
        "start.p99_ms",
    );
    fails(
        &bench(
            &dir,
            &server.addr,
            "100",
            None,
            "whole",
            &["legit.users > 1"],
        ),
        1,
        "Bench metrics",
    );
    // The refusals: another run's shard, a missing one, an index out of range, a live merge.
    ok(&bench(&dir, &server.addr, "200", Some("1/2"), "other", &[]));
    fails(
        &mo2fa(&dir, &["bench", "merge", "b0", "other", "--out", "m3"]),
        1,
        "different bench runs",
    );
    fails(
        &mo2fa(&dir, &["bench", "merge", "b1", "--out", "m3"]),
        1,
        "missing shard(s) 0/2",
    );
    fails(
        &bench(&dir, &server.addr, "300", Some("2/2"), "x", &[]),
        2,
        "out of range",
    );
    fails(
        &mo2fa(&dir, &["live", "merge", "b0", "b1", "--out", "m3"]),
        1,
        "not a live replay",
    );
}

#[test]
fn the_load_examples_for_kubernetes_and_slurm_run_as_written() {
    let manifest = root().join("deploy/k8s/load-job.yaml");
    let script = "import json, sys, yaml\n\
docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
assert [d['kind'] for d in docs] == ['Job'] * 4, docs\n\
def job(d):\n\
\x20   c = d['spec']['template']['spec']['containers'][0]\n\
\x20   env = {e['name']: e.get('value') for e in c.get('env', [])}\n\
\x20   return [d['metadata']['name'], d['spec'].get('completionMode'), d['spec'].get('completions'), c['command'], env]\n\
out = [job(d) for d in docs]\n\
print(json.dumps(out))";
    let Some(parsed) = crate::decide::python_yaml(script, &manifest) else {
        return;
    };
    let jobs: Vec<Value> = serde_json::from_str(&parsed).unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "mo2fa-live",
            "mo2fa-live-merge",
            "mo2fa-bench",
            "mo2fa-bench-merge"
        ]
    );
    let server = common::Serve::start(SECRET, &[]);
    let dir = workdir("k8s");
    std::fs::copy(
        root().join("scenarios/quickstart.toml"),
        dir.join("scenario.toml"),
    )
    .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mo2fa")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let target = format!("http://{}", server.addr);
    let sh = |cwd: &Path, cmd: &[String], env: &[(&str, String)]| {
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..])
            .current_dir(cwd)
            .env("PATH", &path)
            .env("MO2FA_WEBHOOK_SECRET", SECRET);
        for (k, v) in env {
            c.env(k, v);
        }
        ok(&c.output().unwrap())
    };
    for job in &jobs {
        let cmd: Vec<String> = job[3]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        // The Service's address stands for the server on this machine.
        let env = [("TARGET", target.clone())];
        if job[1] == "Indexed" {
            let n = job[2].as_u64().unwrap();
            assert!(
                cmd[2].contains(&format!("--shard \"$JOB_COMPLETION_INDEX/{n}\"")),
                "{cmd:?}"
            );
            for i in 0..n {
                sh(
                    &dir,
                    &cmd,
                    &[env[0].clone(), ("JOB_COMPLETION_INDEX", i.to_string())],
                );
            }
        } else {
            let out = sh(&dir, &cmd, &env);
            assert!(out.contains("expectation met"), "{out}");
        }
    }
    assert!(dir.join("out/live-merged/live.json").exists());
    assert!(dir.join("out/bench-merged/bench.json").exists());

    let sbatch = std::fs::read_to_string(root().join("deploy/slurm/load.sbatch")).unwrap();
    let tasks: u64 = sbatch
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array=0-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap()
        + 1;
    assert!(sbatch.contains(&format!("SHARDS={tasks}")));
    let slurm = workdir("slurm-load");
    std::fs::copy(
        root().join("scenarios/quickstart.toml"),
        slurm.join("scenario.toml"),
    )
    .unwrap();
    let bash = |file: &str, env: &[(&str, String)]| {
        let cmd = ["bash".to_string(), root().join(file).display().to_string()];
        sh(&slurm, &cmd, env)
    };
    for i in 0..tasks {
        bash(
            "deploy/slurm/load.sbatch",
            &[
                ("TARGET", target.clone()),
                ("SLURM_ARRAY_TASK_ID", i.to_string()),
            ],
        );
    }
    let out = bash("deploy/slurm/load-merge.sbatch", &[]);
    assert_eq!(out.matches("expectation met").count(), 2, "{out}");
}

#[test]
fn the_merges_have_help_with_an_example() {
    let dir = workdir("help");
    for (cmd, example) in [
        (
            &["live", "merge", "--help"][..],
            "mo2fa live merge out/shard-0 out/shard-1",
        ),
        (
            &["bench", "merge", "--help"][..],
            "mo2fa bench merge out/shard-0 out/shard-1",
        ),
        (&["bench", "http", "--help"][..], "--shard <I/N>"),
        (&["run", "--help"][..], "--shard <I/N>"),
    ] {
        assert!(ok(&mo2fa(&dir, cmd)).contains(example), "{cmd:?}");
    }
}
