//! `mo2fa sweep`, `sweep merge`, `diff` and expectations (`run --expect`, `[expect]`), through
//! the real binary; and the deploy/ examples run as a dry run on this machine.

use crate::common::fails;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two hours, the SMS flow only, a pumping burst in the second hour: runs in milliseconds.
const TINY: &str = r#"
description = "tiny"
seed = 11
duration = "2h"
interval = "30m"
flows = ["sms"]
[legit]
rate_per_s = 0.2
p_send = 0.95
send_delay_median = "10s"
countries.US = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" }
[emitter]
latency_median = "400ms"
[defences.sms]
per_number = 3
per_ip = 10
conversion = { min_sent = 20, threshold = 0.2, block_for = "6h" }
[[attacker]]
kind = "sms_pumping"
start = "1h"
end = "2h"
shape = "sustained"
rate_per_s = 0.3
targets = { MA = 1.0 }
numbers = "sequential"
ip_pool = 20
"#;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mo2fa")
}

fn mo2fa(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn workdir(name: &str) -> PathBuf {
    let dir = crate::common::scratch(&format!("decide-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("s.toml"), TINY).unwrap();
    dir
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

const FILES: [&str; 4] = ["sweep.csv", "report.html", "runs.jsonl", "sweep.json"];

fn same_files(a: &Path, b: &Path) {
    for f in FILES {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

const GRID: [&str; 6] = [
    "--set",
    "defences.sms.per_ip=2,20",
    "--set",
    "defences.sms.preset=~,authgear",
    "--seeds",
    "3",
];

#[test]
fn a_sweep_has_a_row_per_setting_and_its_shards_merge_byte_identically() {
    let dir = workdir("shards");
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", "s.toml"];
        args.extend(GRID);
        args.extend(extra);
        mo2fa(&dir, &args)
    };
    ok(&sweep(&["--out", "whole", "--jobs", "2"]));
    let csv = std::fs::read_to_string(dir.join("whole/sweep.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(lines.count(), 4, "one row per setting");
    for col in [
        "defences.sms.per_ip",
        "defences.sms.preset",
        "pareto_optimal",
        "legit.users.mean",
        "legit.users.ci95_low",
        "cost_model_usd.sms_flow.pumped_sms.ci95_high",
    ] {
        assert!(header.contains(&col), "{col} not in the header");
    }
    let html = std::fs::read_to_string(dir.join("whole/report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Pareto-optimal"));
    assert!(!html.contains("<script"), "self-contained, no scripts");

    for i in 0..3 {
        ok(&sweep(&[
            "--shard",
            &format!("{i}/3"),
            "--out",
            &format!("shard-{i}"),
            "--jobs",
            "1",
        ]));
    }
    ok(&mo2fa(
        &dir,
        &[
            "sweep", "merge", "shard-2", "shard-0", "shard-1", "--out", "merged",
        ],
    ));
    same_files(&dir.join("whole"), &dir.join("merged"));

    fails(
        &mo2fa(
            &dir,
            &["sweep", "merge", "shard-0", "shard-1", "--out", "m2"],
        ),
        1,
        "runs are missing",
    );
    fails(
        &mo2fa(
            &dir,
            &[
                "sweep", "merge", "shard-0", "shard-0", "shard-1", "shard-2", "--out", "m3",
            ],
        ),
        1,
        "given twice",
    );
    let mut other = vec!["sweep", "s.toml"];
    other.extend(&GRID[..5]);
    other.extend(["4", "--shard", "1/3", "--out", "other"]);
    ok(&mo2fa(&dir, &other));
    fails(
        &mo2fa(
            &dir,
            &[
                "sweep", "merge", "shard-0", "other", "shard-2", "--out", "m4",
            ],
        ),
        1,
        "different sweeps",
    );
    fails(
        &mo2fa(&dir, &["sweep", "merge", ".", "--out", "m5"]),
        1,
        "no sweep.json",
    );
}

#[test]
fn bad_sweep_input_is_a_clear_error() {
    let dir = workdir("errors");
    let run = |set: &[&str]| {
        let mut args = vec!["sweep", "s.toml", "--seeds", "1", "--out", "x"];
        args.extend(set);
        mo2fa(&dir, &args)
    };
    fails(
        &run(&["--set", "defences.sms.per_iq=1,2"]),
        1,
        "closest key the scenario parser accepts is `defences.sms.per_ip`",
    );
    fails(
        &run(&["--set", "defences.sms.per_ip="]),
        1,
        "the grid would be empty",
    );
    fails(&run(&["--set", "defences.sms.per_ip=9..1:1"]), 1, "A <= B");
    fails(
        &run(&["--shard", "3/3"]),
        2,
        "shard index 3 is out of range",
    );
    fails(&run(&["--set", "seed=1,2"]), 1, "--seeds");
    fails(
        &run(&["--set", "defences.sms.preset=nope"]),
        1,
        "defences.sms.preset",
    );
    fails(&run(&["--expect", "legit.userz > 1"]), 1, "`legit.users`");
    assert!(!dir.join("x").exists(), "nothing runs on bad input");
    for (cmd, example) in [
        (&["sweep", "--help"][..], "mo2fa sweep merge out/shard-0"),
        (
            &["sweep", "merge", "--help"][..],
            "mo2fa sweep merge out/shard-*",
        ),
        (&["diff", "--help"][..], "mo2fa diff reports/a reports/b"),
        (&["run", "--help"][..], "--expect"),
        (
            &["import", "--help"][..],
            "mo2fa import attempts-*.json --format twilio-verify-attempts",
        ),
        (&["fit", "--help"][..], "mo2fa fit attempts-*.json"),
        (&["--help"][..], "3 a check you asked for failed"),
        (&["audit", "--help"][..], "Nothing else exits 3"),
    ] {
        assert!(ok(&mo2fa(&dir, cmd)).contains(example), "{cmd:?}");
    }
}

#[test]
fn expectations_exit_3_naming_the_failure_and_the_measured_value() {
    let dir = workdir("expect");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/defence-gate.toml");
    let example = example.to_str().unwrap();
    let out = ok(&mo2fa(&dir, &["run", example, "--out", "gate"]));
    assert_eq!(out.matches("expectation met").count(), 4, "{out}");
    let o = mo2fa(
        &dir,
        &[
            "run",
            example,
            "--out",
            "gate",
            "--expect",
            "cost_model_usd.sms_flow.pumped_sms < $10",
        ],
    );
    fails(
        &o,
        3,
        "cost_model_usd.sms_flow.pumped_sms < $10 (measured cost_model_usd.sms_flow.pumped_sms = ",
    );
    fails(
        &mo2fa(
            &dir,
            &[
                "run",
                "s.toml",
                "--out",
                "r",
                "--expect",
                "defences.sms_flow.legit_blockd < 1",
            ],
        ),
        1,
        "closest name in docs/metrics.md is `defences.sms_flow.legit_blocked`",
    );
    fails(
        &mo2fa(
            &dir,
            &[
                "run",
                "s.toml",
                "--out",
                "r",
                "--expect",
                "legit.users < 5h",
            ],
        ),
        1,
        "a count",
    );
    // A scenario's [expect] table, taken out before the simulator reads the file.
    std::fs::write(
        dir.join("e.toml"),
        format!("{TINY}\n[expect]\nnone_blocked = \"defences.sms_flow.blocked == 0\"\n"),
    )
    .unwrap();
    fails(
        &mo2fa(&dir, &["run", "e.toml", "--out", "e"]),
        3,
        "none_blocked: defences.sms_flow.blocked == 0 (measured defences.sms_flow.blocked = ",
    );
    ok(&mo2fa(&dir, &["run", "e.toml", "--check"]));
    // In a sweep: every setting, or any with `any:`.
    let sweep = |e: &str| {
        mo2fa(
            &dir,
            &[
                "sweep",
                "s.toml",
                "--set",
                "defences.sms.per_ip=1,1000",
                "--seeds",
                "1",
                "--out",
                "sw",
                "--expect",
                e,
            ],
        )
    };
    ok(&sweep("any: defences.sms_flow.blocked_by_rule.per_ip > 0"));
    fails(
        &sweep("defences.sms_flow.blocked_by_rule.per_ip > 0"),
        3,
        "1 of 2 settings met it",
    );
}

/// Exit status 3 means "a check you asked for failed" (a failed expectation or audit case;
/// docs/expect.md): one function of the binary picks it (`expect_cli::exit_code`), and no other
/// code leaves the process with a status of its own, so nothing else can exit 3.
#[test]
fn only_a_failed_check_exits_3() {
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    files.sort();
    let mut exits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            if ["process::exit(", "ExitCode::from(", "exit_code("]
                .iter()
                .any(|p| code.contains(p))
            {
                let rel = f.strip_prefix(root).unwrap().display().to_string();
                exits.push(format!("{rel}: {}", line.trim()));
            }
        }
    }
    assert_eq!(
        exits,
        [
            "src/expect_cli.rs: pub fn exit_code(e: &anyhow::Error) -> std::process::ExitCode {",
            "src/expect_cli.rs: std::process::ExitCode::from(CHECK_FAILED)",
            "src/main.rs: expect_cli::exit_code(&e)",
        ],
        "a new way out of the process: keep status 3 for failed checks only"
    );
}

#[test]
fn diff_lists_the_largest_changes_first() {
    let dir = workdir("diff");
    ok(&mo2fa(&dir, &["run", "s.toml", "--out", "a"]));
    std::fs::write(
        dir.join("b.toml"),
        TINY.replace("per_ip = 10", "per_ip = 1000"),
    )
    .unwrap();
    ok(&mo2fa(&dir, &["run", "b.toml", "--out", "b"]));
    let out = ok(&mo2fa(&dir, &["diff", "a", "b", "--out", "d"]));
    assert!(out.contains("metrics changed"), "{out}");
    let csv = std::fs::read_to_string(dir.join("d/diff.csv")).unwrap();
    let rel: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .take_while(|c| !c[1].is_empty() && !c[2].is_empty() && c[1] != c[2])
        .map(|c| c[4].parse::<f64>().unwrap().abs())
        .collect();
    assert!(rel.len() > 3, "{csv}");
    assert!(
        rel.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {rel:?}"
    );
    assert!(
        csv.contains("defences.sms_flow.blocked_by_rule.per_ip,"),
        "{csv}"
    );
    assert!(
        std::fs::read_to_string(dir.join("d/report.html"))
            .unwrap()
            .contains("What changed")
    );
    ok(&mo2fa(
        &dir,
        &["sweep", "s.toml", "--seeds", "1", "--out", "sw"],
    ));
    fails(&mo2fa(&dir, &["diff", "a", "sw"]), 1, "like with like");
    // Two sweeps: each setting's means, matched by label.
    ok(&mo2fa(
        &dir,
        &["sweep", "b.toml", "--seeds", "1", "--out", "sw2"],
    ));
    let out = ok(&mo2fa(&dir, &["diff", "sw", "sw2"]));
    assert!(
        out.contains("as written: defences.sms_flow.blocked"),
        "{out}"
    );
}

#[test]
fn ctrl_c_keeps_the_finished_runs() {
    use std::io::BufRead;
    let dir = workdir("ctrlc");
    let mut child = Command::new(bin())
        .current_dir(&dir)
        .args([
            "sweep",
            "s.toml",
            "--set",
            "defences.sms.per_ip=1..400:1",
            "--seeds",
            "5",
            "--out",
            "cut",
            "--jobs",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first line comes once the handler is installed.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("2000 runs"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let o = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(o.status.code(), Some(1), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cut/sweep.json")).unwrap())
            .unwrap();
    let runs = m["runs"].as_u64().unwrap();
    assert_eq!(m["interrupted"], true);
    assert!(runs > 0 && runs < 2000, "{runs}");
    let jsonl = std::fs::read_to_string(dir.join("cut/runs.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count() as u64, runs);
    fails(
        &mo2fa(&dir, &["sweep", "merge", "cut", "--out", "m"]),
        1,
        "runs are missing",
    );
}

/// `python3 -c` with PyYAML, or `None` when either is missing (an error under CI=true).
pub(crate) fn python_yaml(script: &str, arg: &Path) -> Option<String> {
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(arg)
        .output();
    match o {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).unwrap()),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "python3 with PyYAML is needed to check deploy/k8s: {other:?}"
            );
            eprintln!("skipping: python3 with PyYAML not available");
            None
        }
    }
}

#[test]
fn the_kubernetes_job_and_the_slurm_array_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("deploy/k8s/sweep-job.yaml");
    let script = "import json, sys, yaml\n\
docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
assert [d['kind'] for d in docs] == ['Job', 'Job'], docs\n\
sweep, merge = docs\n\
assert sweep['spec']['completionMode'] == 'Indexed'\n\
c = sweep['spec']['template']['spec']['containers'][0]\n\
m = merge['spec']['template']['spec']['containers'][0]\n\
print(json.dumps([sweep['spec']['completions'], c['command'], m['command'], c['workingDir']]))";
    let Some(parsed) = python_yaml(script, &manifest) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    let n = v[0].as_u64().unwrap();
    let cmd = |i: usize| -> Vec<String> {
        v[i].as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let (pod, merge) = (cmd(1), cmd(2));
    assert_eq!(&pod[..2], ["sh", "-c"]);
    assert!(
        pod[2].contains(&format!("--shard \"$JOB_COMPLETION_INDEX/{n}\"")),
        "{pod:?}"
    );

    // Each pod's command, in a directory standing for the volume, with mo2fa on the PATH.
    let dir = workdir("k8s");
    std::fs::write(dir.join("scenario.toml"), TINY).unwrap();
    let bin_dir = Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |args: &[String], env: &[(&str, String)]| {
        let mut c = Command::new(&args[0]);
        c.args(&args[1..]).current_dir(&dir).env("PATH", &path);
        for (k, val) in env {
            c.env(k, val);
        }
        ok(&c.output().unwrap())
    };
    for i in 0..n {
        sh(&pod, &[("JOB_COMPLETION_INDEX", i.to_string())]);
    }
    sh(&merge, &[]);
    // The same sweep unsharded: the pod's command without its --shard, into out/whole.
    let whole = pod[2]
        .replace(&format!("--shard \"$JOB_COMPLETION_INDEX/{n}\""), "")
        .replace(
            "--out \"out/shard-$JOB_COMPLETION_INDEX\"",
            "--out out/whole",
        );
    assert!(!whole.contains("JOB_COMPLETION_INDEX"), "{whole}");
    sh(&["sh".into(), "-c".into(), whole], &[]);
    same_files(&dir.join("out/whole"), &dir.join("out/merged"));

    // The Slurm array, each task run by bash with its SLURM_ARRAY_TASK_ID, then the merge.
    let sbatch = std::fs::read_to_string(root.join("deploy/slurm/sweep.sbatch")).unwrap();
    let tasks: u64 = sbatch
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array=0-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap()
        + 1;
    assert!(sbatch.contains(&format!("SHARDS={tasks}")));
    let slurm = workdir("slurm");
    std::fs::write(slurm.join("scenario.toml"), TINY).unwrap();
    for i in 0..tasks {
        let o = Command::new("bash")
            .arg(root.join("deploy/slurm/sweep.sbatch"))
            .current_dir(&slurm)
            .env("PATH", &path)
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .output()
            .unwrap();
        ok(&o);
    }
    let o = Command::new("bash")
        .arg(root.join("deploy/slurm/merge.sbatch"))
        .current_dir(&slurm)
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(&o);
    same_files(&dir.join("out/whole"), &slurm.join("out/merged"));
}
